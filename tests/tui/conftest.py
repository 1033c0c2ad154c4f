"""Fixtures for the fleet TUI tests: a throwaway tmux socket with real sessions made by the
service layer, and helpers to wait for the app without timing anything."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from atoll.exec.runner import Local
from atoll.service import sessions
from atoll.service.context import Context
from atoll.tmux.client import TmuxClient
from atoll.tui import create_app
from atoll.tui.app import FleetApp
from atoll.tui.backend import Backend
from atoll.tui.options import FleetOptions
from atoll.tui.settings import TuiSettings
from tests.support.terminal import WAIT

Starter = Callable[..., str]
AppMaker = Callable[..., FleetApp]

# WAIT (tests.support.terminal): the upper bound for waiting on real tmux and worker threads,
# a hang guard, not a speed test


def kill_server(socket: str) -> None:
    """Kill the tmux server on ``socket`` through TmuxClient (no error if none runs) and
    remove its socket file, which tmux leaves behind."""
    client = TmuxClient(Local(), socket)
    client.runner.run(client.argv(["kill-server"]), timeout=10)
    tmpdir = os.environ.get("TMUX_TMPDIR") or "/tmp"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(tmpdir, f"tmux-{os.getuid()}", socket))


@pytest.fixture
def tui_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``atoll-tui-test-<random>``, exported as ATOLL_TMUX_SOCKET; killed afterwards."""
    name = f"atoll-tui-test-{secrets.token_hex(4)}"
    monkeypatch.setenv("ATOLL_TMUX_SOCKET", name)
    monkeypatch.delenv("TMUX", raising=False)
    yield name
    kill_server(name)
    import shutil

    import platformdirs

    # the specs of that socket's sessions (atoll.service.specs.store_dir)
    shutil.rmtree(platformdirs.user_state_path("atoll") / "sessions" / name, ignore_errors=True)


@pytest.fixture
def ctx(tui_socket: str) -> Context:
    return Context(socket=tui_socket)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    d = tmp_path / "proj"
    d.mkdir()
    return d


@pytest.fixture
def start(ctx: Context, workdir: Path) -> Starter:
    """``start(name, script=None)``: a real session running ``bash --norc`` (or ``script``
    under ``bash -c``), created with the service layer."""

    def make(name: str, script: str | None = None) -> str:
        command = ["bash", "--norc", "-c", script] if script else ["bash", "--norc"]
        sessions.new_session(ctx, sessions.NewSession(name=name, command=command,
                                                      directory=str(workdir)))
        return name

    return make


class Recorder:
    """Stands in for the terminal hand-over: records the attach argv it would exec."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], bool]] = []

    def __call__(self, argv: list[str], *, unset_tmux: bool = False,
                 relay: object = None) -> int:
        self.calls.append((list(argv), unset_tmux))
        return 0


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def make_app(ctx: Context, workdir: Path, recorder: Recorder) -> AppMaker:
    """A FleetApp on the test socket. Background refresh every 600 s, so tests refresh
    explicitly (``R``) unless they pass other settings."""

    def make(**kwargs: object) -> FleetApp:
        opts: dict[str, object] = {
            "settings": TuiSettings(refresh_seconds=600),
            "foreground": recorder,
            "agent_users": [],
        }
        opts.update(kwargs)
        return create_app(FleetOptions(Backend(ctx, cwd=str(workdir)), **opts))  # type: ignore[arg-type]

    return make


async def wait_for(pilot: Pilot[None], check: Callable[[], object], what: str) -> None:
    """Let the app run until ``check()`` is true; fail with ``what`` after :data:`WAIT`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting for: {what} (status line: {_status(pilot)!r})")
        await pilot.pause(0.05)


def names(app: FleetApp) -> list[str]:
    """Session names in table order (group headings skipped)."""
    return [k.split("\x1f")[2] for k in app.fleet.table.order if not k.startswith("\x1e")]


def status_of(app: FleetApp, name: str) -> str | None:
    for row in app.fleet.rows.values():
        if row.name == name:
            return row.status
    return None


def screen_of(ctx: Context, name: str) -> str:
    return sessions.peek(ctx, name)


def _status(pilot: Pilot[None]) -> str:
    app = pilot.app
    return app.fleet.message if isinstance(app, FleetApp) else ""
