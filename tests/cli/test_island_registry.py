"""A new island kind is its module plus one registry line (issue 12 point 2): with the toy
kind of tests/cli/scratchkind.py registered, ``new --island scratch`` makes its session,
the listing shows it, kill and peek resolve it, purge finds and destroys it. Real tmux."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from atoll.cli.main import new_cmd
from atoll.islands import registry
from atoll.service import listing, purge, sessions
from atoll.service.context import Context
from atoll.service.place import Target


@pytest.fixture
def scratch(monkeypatch: pytest.MonkeyPatch, tmux_socket: str) -> Iterator[Context]:
    # the one line a new kind adds to atoll/islands/registry.py
    line = registry.Kind("scratch", "a toy kind", "tests.cli.scratchkind")
    monkeypatch.setattr(registry, "KINDS", (*registry.KINDS, line))
    yield Context(socket=tmux_socket)
    subprocess.run(["tmux", "-L", f"{tmux_socket}-scratch", "kill-server"],
                   capture_output=True, check=False)


def test_a_registered_kind_is_created_listed_resolved_and_purged(
        scratch: Context, tmp_path: Path) -> None:
    ctx = scratch
    assert "scratch" in registry.names(creatable=True)
    req = sessions.NewSession(name="toy", command=["sh", "-c", "echo toy-ready; sleep 300"],
                              directory=str(tmp_path), island="scratch")
    sessions.new_session(ctx, req)
    (row,) = [r for r in listing.list_local(ctx).sessions if r.name == "toy"]
    assert (row.island, row.agent_user) == ("scratch", "scratch")
    assert row.session_id.startswith("$") and row.server_pid
    assert "toy-ready" in sessions.peek(ctx, Target("toy", None, "scratch"))
    chosen = purge.plan(ctx, Target("toy"), "scratch")
    assert chosen.where == "scratch session toy"
    assert purge.run(ctx, chosen, force=False) == []
    assert not [r for r in listing.list_local(ctx).sessions if r.name == "toy"]


def test_cli_island_choices_are_the_registry_s() -> None:
    island = next(p for p in new_cmd.params if p.name == "island")
    assert list(island.type.choices) == registry.names(creatable=True)  # type: ignore[attr-defined]
    assert registry.names() == ["none", "user", "bwrap", "docker", "podman"]
