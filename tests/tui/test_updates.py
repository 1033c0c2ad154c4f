"""The refresh update path (``apply_listing``): only changed cells are rewritten, rows come
and go, order follows the sort and the cursor stays on its session."""

from __future__ import annotations

import msgspec
import pytest

from atoll.core.models import Listing
from atoll.tui import create_app
from atoll.tui.app import FleetApp
from atoll.tui.model import row_key
from atoll.tui.options import FleetOptions

from .fixtures import NOW, row, synthetic, with_status


def offline() -> FleetApp:
    return create_app(FleetOptions(None, clock=lambda: NOW, operator="alice", cwd="/home/alice",
                                   agent_users=[]))


@pytest.mark.asyncio
async def test_unchanged_refresh_rewrites_nothing_and_changes_touch_only_their_cells() -> None:
    app = offline()
    listing = synthetic(50)
    async with app.run_test(size=(160, 40)) as pilot:
        app.apply_listing(listing)
        await pilot.pause()
        table = app.fleet.table
        assert table.row_count == 50 and table.cell_updates == 0
        app.apply_listing(synthetic(50))
        assert table.cell_updates == 0
        order = table.order
        target = "agent-0007"  # status "exited" in the synthetic set
        key = next(k for k in order if k.endswith(target))
        table.select_key(key)
        await pilot.pause()
        app.apply_listing(with_status(listing, target, "waiting"))
        assert table.cell_updates == 2  # STATUS, and NAME flagged (it turned to waiting)
        assert app.fleet.flagged == {key}
        assert table.order[0:1] != order[0:1] or table.order != order
        assert table.selected_key() == key  # the cursor followed the session
        assert table.get_row(key)[6].plain == "waiting"
        app.apply_listing(synthetic(50, cpu_shift=1.0))  # every CPU cell changes
        assert table.cell_updates == 2 + 2 + 50  # status and flag back, and 50 CPU cells
        assert not app.fleet.flagged


@pytest.mark.asyncio
async def test_rows_are_added_and_removed_and_the_cursor_moves_to_a_neighbour() -> None:
    app = offline()
    a, b, c = row("a"), row("b"), row("c")
    async with app.run_test(size=(160, 40)) as pilot:
        app.apply_listing(Listing(hosts=[], sessions=[a, b, c]))
        await pilot.pause()
        table = app.fleet.table
        table.select_key(row_key(b))
        app.apply_listing(Listing(hosts=[], sessions=[a, c, row("d")]))
        assert [k.split("\x1f")[2] for k in table.order] == ["a", "c", "d"]
        assert table.selected_key() == row_key(c)
        app.apply_listing(Listing(hosts=[], sessions=[]))
        assert table.row_count == 0 and table.selected_key() is None
        assert app.fleet.selected_row() is None
        app.fleet.action_kill()
        assert "select a session first" in app.fleet.message


@pytest.mark.asyncio
async def test_same_name_under_two_agent_users_are_two_rows() -> None:
    app = offline()
    async with app.run_test(size=(160, 40)):
        app.apply_listing(Listing(hosts=[], sessions=[row("x", user="a-agent"),
                                                      row("x", user="b-agent")]))
        assert app.fleet.table.row_count == 2


@pytest.mark.asyncio
async def test_session_data_is_never_markup() -> None:
    app = offline()
    evil = msgspec.structs.replace(row("x"), project="/p/[bold red]boom", agent="[link=x]a")
    async with app.run_test(size=(160, 40)):
        app.apply_listing(Listing(hosts=[], sessions=[evil]))
        cells = app.fleet.table.get_row(row_key(evil))
        assert cells[2].plain == "[bold red]boom" and cells[3].plain == "[link=x]a"


@pytest.mark.asyncio
async def test_a_click_selects_the_row_under_the_mouse_and_keys_scroll_to_the_cursor() -> None:
    app = offline()
    async with app.run_test(size=(160, 20)) as pilot:
        app.apply_listing(synthetic(100))
        await pilot.pause()
        table = app.fleet.table
        await pilot.click("#table", offset=(10, 3))  # line 0 is the header
        assert table.cursor_row == 2 and table.selected_key() == table.order[2]
        await pilot.press("end")
        assert table.cursor_row == 99 and table.scroll_offset.y > 0
        await pilot.press("home")
        assert table.cursor_row == 0 and table.scroll_offset.y == 0
