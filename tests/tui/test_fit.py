"""The fleet view fits the terminal: column fitting (pure), the footer's key line, the
"next waiting" key and the preview's line cutting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len
from textual.widgets import Static

from atoll.core.models import Listing
from atoll.tui import create_app
from atoll.tui.app import FleetApp
from atoll.tui.columns import DROP, KEEP, PAD, SHRINK, fit
from atoll.tui.keys import KEYS, footer_text
from atoll.tui.model import COLUMN_KEYS
from atoll.tui.options import FleetOptions

from .fixtures import NOW, fleet_listing, row

NAME, STATUS = COLUMN_KEYS.index("name"), COLUMN_KEYS.index("status")
MINS = dict(SHRINK)


def used(columns: list[tuple[int, int]]) -> int:
    return sum(w + 2 * PAD for _, w in columns)


@given(st.lists(st.integers(0, 60), min_size=len(COLUMN_KEYS), max_size=len(COLUMN_KEYS)),
       st.integers(0, 400))
def test_fit_keeps_name_and_status_and_fits_whenever_they_can(natural: list[int],
                                                              width: int) -> None:
    columns = fit(natural, width)
    shown = [i for i, _ in columns]
    assert shown == sorted(shown) and NAME in shown and STATUS in shown
    least = (min(MINS["name"], natural[NAME]) + natural[STATUS] + 4 * PAD)
    if width >= least:
        assert used(columns) <= width
    for i, w in columns:
        assert w <= natural[i]  # never wider than the widest cell
        key = COLUMN_KEYS[i]
        if key not in MINS:
            assert w == natural[i]  # only the flexible columns are cut
    if used([(i, w) for i, w in enumerate(natural)]) <= width:
        assert columns == list(enumerate(natural))  # room for all: nothing changes


def test_fit_drops_columns_in_the_documented_order() -> None:
    natural = [10] * len(COLUMN_KEYS)
    dropped_so_far: list[str] = []
    for width in range(used(list(enumerate(natural))), 0, -1):
        gone = [k for i, k in enumerate(COLUMN_KEYS) if i not in dict(fit(natural, width))]
        assert set(gone) == set(DROP[: len(gone)])  # a prefix of DROP
        assert set(dropped_so_far) <= set(gone)  # narrower never brings one back
        dropped_so_far = gone
    assert set(dropped_so_far) == set(DROP) and not set(dropped_so_far) & KEEP


@pytest.mark.parametrize("width", [40, 60, 80, 120, 200])
@pytest.mark.parametrize("read_only", [False, True])
def test_footer_fits_and_always_keeps_help_and_quit(width: int, read_only: bool) -> None:
    text = footer_text(width, read_only).plain
    assert cell_len(text) <= width
    assert "? Help" in text and "q Quit" in text
    if width >= 200:
        assert all(f"{k.display} {k.label}" in text for k in KEYS
                   if not (read_only and k.changes))
    if read_only:
        assert "Kill" not in text and "Attach" not in text


def offline() -> FleetApp:
    return create_app(FleetOptions(None, clock=lambda: NOW, operator="alice",
                                   cwd="/home/alice", agent_users=[]))


@pytest.mark.asyncio
async def test_w_jumps_to_the_next_session_that_needs_you_and_wraps() -> None:
    sessions = [row("a-run"), row("b-wait", "waiting"), row("c-idle", "idle"),
                row("d-err", "error"), row("e-new", "needs-review")]
    app = offline()
    async with app.run_test(size=(120, 30)) as pilot:
        app.apply_listing(Listing(hosts=[], sessions=sessions))
        await pilot.pause()
        app.fleet.sort_mode = "name"
        app.fleet.action_clear_filter()
        app.fleet.table.select_key(app.fleet.table.order[0])
        await pilot.pause()
        assert app.fleet.selected_row().name == "a-run"  # type: ignore[union-attr]
        seen = []
        for _ in range(3):
            await pilot.press("w")
            row_ = app.fleet.selected_row()
            assert row_ is not None
            seen.append(row_.name)
        assert seen == ["b-wait", "d-err", "b-wait"]  # an unknown status is not a problem
        assert app.fleet.message.startswith("waiting: b-wait")
        app.apply_listing(Listing(hosts=[], sessions=[row("a-run"), row("c-idle", "idle")]))
        await pilot.press("w")
        assert "nothing needs you" in app.fleet.message


@pytest.mark.asyncio
async def test_the_preview_cuts_long_lines_instead_of_wrapping_them() -> None:
    from .test_snapshots import WIDE_SCREEN

    app = offline()
    async with app.run_test(size=(80, 24)) as pilot:
        app.apply_listing(fleet_listing())
        await pilot.pause()
        app.fleet.action_preview()
        await pilot.pause()
        key = app.fleet.table.selected_key()
        assert key is not None
        app.fleet.apply_preview(key, WIDE_SCREEN)
        await pilot.pause()
        panel = app.fleet.query_one("#preview", Static)
        width = panel.content_region.width
        assert 0 < width < 80
        inset = panel.content_region.x - panel.region.x  # the border and padding
        drawn = [line.text[inset:].rstrip() for line in panel.render_lines(
            panel.region.reset_offset)]
        want = WIDE_SCREEN.split("\n")
        # title, then the screen line for line, each cut at the panel's width
        assert drawn[1: 1 + len(want) - 1] == [
            "".join(line)[:width].rstrip() for line in want[:-1]]
