"""Shared fixtures: throwaway tmux sockets and Linux users."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator

import pytest

from tests.support.users import UserFactory


@pytest.fixture
def tmux_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh tmux socket name for this test, exported as ATOLL_TMUX_SOCKET; the server
    (root's) is killed afterwards."""
    name = f"atoll-test-{secrets.token_hex(4)}"
    monkeypatch.setenv("ATOLL_TMUX_SOCKET", name)
    yield name
    subprocess.run(["tmux", "-L", name, "kill-server"], capture_output=True)


@pytest.fixture(scope="module")
def users() -> Iterator[UserFactory]:
    """A user factory whose users and sudoers files are removed after the module."""
    factory = UserFactory()
    yield factory
    factory.cleanup()
