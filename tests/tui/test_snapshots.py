"""Snapshots of what a person sees: main screen, help, preview, dialogs, grouping, filter,
read-only. Rows are fixed (fed through ``apply_listing``, the path every refresh takes) and
time is frozen, so the pictures are deterministic. Update with ``--snapshot-update``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from atoll.tui import create_app
from atoll.tui.app import FleetApp
from atoll.tui.options import FleetOptions

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
    return create_app(FleetOptions(None, clock=lambda: NOW, operator="alice", cwd="/home/alice/src/shop",
                    agent_users=["alice-agent"], **kwargs))


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


# A real agent screen is as wide as the terminal it was started in: a 200-column one, its
# lines long enough to wrap anywhere narrower (the preview must cut them, not wrap them).
WIDE_SCREEN = "\n".join([
    "╭" + "─" * 198 + "╮",
    "│ ✻ Welcome to Claude Code!" + " " * 172 + "│",
    "│   /help for help, /status for your current setup" + " " * 149 + "│",
    "╰" + "─" * 198 + "╯",
    "",
    "> Fix the login redirect and run " + "the failing test " * 9 + "until it passes",
    "  Bash(pytest tests/test_login.py -x -q --maxfail=1 " + "-k redirect " * 10 + ")",
    "  ⎿  1 failed: test_redirect_after_login" + " " * 60 + "(12.3s)",
    "",
    " Do you want to proceed?",
    " ❯ 1. Yes",
    "   2. No, and tell Claude what to do differently (esc)",
]) + "\n"

SIZES = [(80, 24), (120, 40), (200, 50)]


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_fits_the_terminal(snap_compare: Snap, size: tuple[int, int]) -> None:
    """Every column that fits, in the documented collapse order; NAME, STATUS and the
    footer's ``? Help`` and ``q Quit`` always."""
    assert snap_compare(offline(), terminal_size=size, run_before=fed)


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_preview_of_a_wide_screen_fits(snap_compare: Snap, size: tuple[int, int]) -> None:
    """The preview cuts a 200-column agent screen at its edge, line for line."""
    def show(app: FleetApp) -> None:
        key = app.fleet.table.selected_key()
        assert key is not None
        app.fleet.apply_preview(key, WIDE_SCREEN)

    assert snap_compare(offline(), terminal_size=size,
                        run_before=then(lambda app: app.fleet.action_preview(), show))


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_grouped_by_person(snap_compare: Snap, size: tuple[int, int]) -> None:
    assert snap_compare(offline(), terminal_size=size, run_before=fed,
                        press=["g", "g", "g"])
