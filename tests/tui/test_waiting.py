"""A session turning to waiting is flagged, rings the bell (unless turned off) and runs the
notify command with the session's fields appended; real sessions, real notify process."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from atoll.service import sessions
from atoll.service.context import Context
from atoll.tui.model import FLAG_STYLE
from atoll.tui.settings import TuiSettings

from .conftest import AppMaker, Starter, names, status_of, wait_for

ASK_LATER = "read -r x; printf 'Proceed? (y/n) '; exec sleep 600"
WRITE_ARGS = "import pathlib, sys; pathlib.Path(sys.argv[1]).write_text('\\n'.join(sys.argv[2:]))"


@pytest.mark.asyncio
async def test_turning_waiting_flags_rings_and_notifies(
    start: Starter, make_app: AppMaker, ctx: Context, tmp_path: Path, workdir: Path
) -> None:
    start("asker", ASK_LATER)
    start("other")
    out = tmp_path / "notified"
    settings = TuiSettings(refresh_seconds=600, bell=True,
                           notify_command=(sys.executable, "-c", WRITE_ARGS, str(out)))
    app = make_app(settings=settings)
    key = f"local\x1f{ctx.operator}\x1fasker"
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: len(names(app)) == 2, "rows")
        assert app.fleet.bells == 0 and not app.fleet.flagged
        sessions.type_text(ctx, "asker", "go", enter=True)
        await wait_for(pilot, lambda: "(y/n)" in sessions.peek(ctx, "asker"), "prompt")
        await pilot.press("R")
        await wait_for(pilot, lambda: status_of(app, "asker") == "waiting", "waiting")
        assert app.fleet.flagged == {key}
        assert app.fleet.bells == 1
        assert "waiting for you: asker" in app.fleet.message
        assert names(app)[0] == "asker"
        assert str(app.fleet.table.get_row(key)[1].style) == FLAG_STYLE
        await wait_for(pilot, out.exists, "notify command ran")
        assert out.read_text().split("\n") == [
            "local", "asker", ctx.operator, "custom", str(workdir), "", ctx.operator, "waiting"]
        await pilot.press("R")  # still waiting: no second bell
        await wait_for(pilot, lambda: not app.fleet.refresh_in_flight, "refresh")
        assert app.fleet.bells == 1
        app.fleet.table.select_key(f"local\x1f{ctx.operator}\x1fother")
        await pilot.pause()
        await pilot.press("up")  # the user moves onto it: seen
        await pilot.pause()
        assert app.fleet.table.selected_key() == key
        assert not app.fleet.flagged
        assert str(app.fleet.table.get_row(key)[1].style) != FLAG_STYLE


@pytest.mark.asyncio
async def test_bell_can_be_turned_off_and_first_listing_does_not_ring(
    start: Starter, make_app: AppMaker, ctx: Context
) -> None:
    start("already", "printf 'Proceed? (y/n) '; exec sleep 600")
    start("asker", ASK_LATER)
    app = make_app(settings=TuiSettings(refresh_seconds=600, bell=False))
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: status_of(app, "already") == "waiting", "waiting")
        assert app.fleet.bells == 0 and not app.fleet.flagged  # nothing *turned* yet
        sessions.type_text(ctx, "asker", "go", enter=True)
        await wait_for(pilot, lambda: "(y/n)" in sessions.peek(ctx, "asker"), "prompt")
        await pilot.press("R")
        await wait_for(pilot, lambda: status_of(app, "asker") == "waiting", "asker waiting")
        assert app.fleet.flagged == {f"local\x1f{ctx.operator}\x1fasker"}
        assert app.fleet.bells == 0


@pytest.mark.asyncio
async def test_failing_notify_command_is_a_status_line(
    start: Starter, make_app: AppMaker, ctx: Context
) -> None:
    start("asker", ASK_LATER)
    settings = TuiSettings(refresh_seconds=600,
                           notify_command=(sys.executable, "-c", "import sys; sys.exit('nope')"))
    app = make_app(settings=settings)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: names(app) == ["asker"], "row")
        sessions.type_text(ctx, "asker", "go", enter=True)
        await wait_for(pilot, lambda: "(y/n)" in sessions.peek(ctx, "asker"), "prompt")
        await pilot.press("R")
        await wait_for(pilot, lambda: "notify command" in app.fleet.message, "failure shown")
        assert "failed: nope" in app.fleet.message and app.is_running
