"""Snapshots of what a person sees: main screen, help, preview, dialogs, grouping, filter,
read-only. Rows are fixed (fed through ``apply_listing``, the path every refresh takes) and
time is frozen, so the pictures are deterministic. Update with ``--snapshot-update``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from textual.pilot import Pilot

from atoll.tui.app import FleetApp

from .fixtures import NOW, fleet_listing

Snap = Callable[..., bool]
SIZE = (150, 24)

SCREEN = """\
● I'll fix the login redirect. First, the failing test:

  Bash(pytest tests/test_login.py -x)
  ⎿  1 failed: test_redirect_after_login

 Do you want to proceed?
 ❯ 1. Yes
   2. No, and tell Claude what to do differently (esc)
"""


def offline(**kwargs: Any) -> FleetApp:
    return FleetApp(None, clock=lambda: NOW, operator="alice", cwd="/home/alice/src/shop",
                    agent_users=["alice-agent"], **kwargs)


async def fed(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, FleetApp)
    app.apply_listing(fleet_listing())
    await pilot.pause()


def then(*steps: Callable[[FleetApp], None]) -> Callable[[Pilot[None]], Awaitable[None]]:
    async def run(pilot: Pilot[None]) -> None:
        await fed(pilot)
        app = pilot.app
        assert isinstance(app, FleetApp)
        for step in steps:
            step(app)
            await pilot.pause()

    return run


def test_main_screen(snap_compare: Snap) -> None:
    assert snap_compare(offline(), terminal_size=SIZE, run_before=fed)


def test_help(snap_compare: Snap) -> None:
    assert snap_compare(offline(), terminal_size=SIZE, run_before=fed, press=["question_mark"])


def test_preview(snap_compare: Snap) -> None:
    def show(app: FleetApp) -> None:
        key = app.fleet.table.selected_key()
        assert key is not None
        app.fleet.apply_preview(key, SCREEN)

    assert snap_compare(offline(), terminal_size=SIZE,
                        run_before=then(lambda app: app.fleet.action_preview(), show))


def test_type_dialog(snap_compare: Snap) -> None:
    assert snap_compare(offline(), terminal_size=SIZE, run_before=fed,
                        press=["t", *"npm test", "tab"])


def test_kill_confirmation(snap_compare: Snap) -> None:
    assert snap_compare(offline(), terminal_size=SIZE, run_before=fed, press=["ctrl+d"])


def test_new_session_dialog(snap_compare: Snap) -> None:
    assert snap_compare(offline(), terminal_size=(150, 40), run_before=fed,
                        press=["n", *"fix-login-2", "tab"])


def test_grouped_by_host(snap_compare: Snap) -> None:
    assert snap_compare(offline(), terminal_size=SIZE, run_before=fed, press=["g"])


def test_filter(snap_compare: Snap) -> None:
    assert snap_compare(offline(), terminal_size=SIZE, run_before=fed,
                        press=["slash", *"shop"])


def test_read_only(snap_compare: Snap) -> None:
    assert snap_compare(offline(read_only=True), terminal_size=SIZE, run_before=fed)
