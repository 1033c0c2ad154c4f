"""Shared fixtures: throwaway tmux sockets and Linux users."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

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
    import shutil

    import platformdirs

    # the session specs of that socket's sessions (atoll.service.specs.store_dir)
    shutil.rmtree(platformdirs.user_state_path("atoll") / "sessions" / name, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def no_helpers_left_behind() -> Iterator[None]:
    """The CLI runs as root in most tests, each with its own throwaway tmux socket, so each
    leaves a resident listing helper of root's (atoll.cli.resident) that would idle for a
    minute, and its files. Stop them and remove the files at the end of the session."""
    yield
    subprocess.run(["pkill", "-u", "root", "-f", "atoll.cli.resident_server"],
                   capture_output=True)
    base = Path(f"/tmp/atoll-{os.getuid()}")
    for path in base.glob("ls-*"):
        path.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def users() -> Iterator[UserFactory]:
    """A user factory whose users and sudoers files are removed after the module."""
    factory = UserFactory()
    yield factory
    factory.cleanup()
