"""FleetTable renders its one-line cells itself (a re-sort repaints every visible cell, and
DataTable's stock path costs ~0.2 ms a cell). These tests hold the short-cut to the stock
result: for every kind of cell (left, right, styled, truncated, cursor, hover), the same
characters in the same styles, including the row/column meta that mouse clicks read. They
fail if a Textual upgrade changes how DataTable renders cells."""

from __future__ import annotations

import asyncio

from rich.segment import Segment
from rich.style import Style
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from atoll.tui.model import COLUMNS
from atoll.tui.table import CellText, FleetTable


class _TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield FleetTable(id="t")


def _chars(lines: list[list[Segment]]) -> list[list[tuple[str, Style | None]]]:
    """Each line as (character, style) pairs: segment boundaries may differ, looks not."""
    return [[(ch, seg.style) for seg in line for ch in seg.text] for line in lines]


CELLS = [
    CellText("alpha", ""),
    CellText("waiting", "bold #ffaa00 on #302000"),
    CellText("12.5%", "", "right"),
    CellText("a-very-long-session-name-that-does-not-fit-in-its-column", "italic"),
    CellText("", ""),
    CellText("日本語の名前", "red"),
]


def test_short_cut_renders_exactly_what_datatable_renders() -> None:
    async def run() -> int:
        app = _TableApp()
        async with app.run_test(size=(120, 20)) as pilot:
            table = app.query_one(FleetTable)
            for i, cell in enumerate(CELLS):
                cells = [cell] + [CellText(f"c{i}-{j}", "") for j in range(1, len(COLUMNS))]
                table.add_row(*cells, key=f"row{i}")
            await pilot.pause()
            base = table.rich_style
            compared = 0
            for row in range(len(CELLS)):
                for column in (0, 1):
                    for width in (4, 9, 30):
                        for cursor, hover in ((False, False), (True, False), (False, True)):
                            table._cell_render_cache.clear()
                            ours = table._render_cell(row, column, base, width, cursor, hover)
                            table._cell_render_cache.clear()
                            stock = DataTable._render_cell(table, row, column, base, width,
                                                           cursor, hover)
                            assert _chars(ours) == _chars(stock), (row, column, width, cursor)
                            assert ours[0][0].style is not None
                            assert ours[0][0].style.meta == {"row": row, "column": column}
                            compared += 1
            return compared

    assert asyncio.run(run()) == len(CELLS) * 2 * 3 * 3


def test_header_and_non_celltext_cells_take_the_stock_path() -> None:
    async def run() -> None:
        app = _TableApp()
        async with app.run_test(size=(120, 20)) as pilot:
            table = app.query_one(FleetTable)
            table.add_row("plain [b]str[/b]", *[CellText("x") for _ in COLUMNS[1:]], key="r")
            await pilot.pause()
            base = table.rich_style
            for row, column in ((-1, 0), (0, 0)):
                table._cell_render_cache.clear()
                ours = table._render_cell(row, column, base, 12)
                table._cell_render_cache.clear()
                stock = DataTable._render_cell(table, row, column, base, 12)
                assert _chars(ours) == _chars(stock)

    asyncio.run(run())


def test_row_lines_and_screen_lines_match_datatable() -> None:
    """The row-line and screen-line short-cuts give DataTable's own lines, for the header,
    the cursor row, a hovered row and plain rows, also when scrolled."""

    def clear(table: FleetTable) -> None:
        table._row_render_cache.clear()
        table._line_cache.clear()
        table._cell_render_cache.clear()

    async def run() -> int:
        app = _TableApp()
        async with app.run_test(size=(100, 12)) as pilot:
            table = app.query_one(FleetTable)
            for i in range(30):
                cells = [CELLS[i % len(CELLS)]] + [CellText(f"{i}-{j}", "", "right" if j % 2
                                                            else "left")
                                                   for j in range(1, len(COLUMNS))]
                table.add_row(*cells, key=f"row{i}")
            await pilot.pause()
            table.move_cursor(row=3)
            table.hover_coordinate = table.cursor_coordinate._replace(row=5)
            table._show_hover_cursor = True  # as after a mouse move: hover is drawn
            compared = 0
            for scroll in (0, 7):
                table.scroll_to(y=scroll, animate=False, immediate=True)
                await pilot.pause()
                base = table.rich_style
                for key in [table._header_row_key, *[table._row_locations.get_key(i)
                                                     for i in range(0, 12)]]:
                    assert key is not None
                    clear(table)
                    ours = table._render_line_in_row(key, 0, base, table.cursor_coordinate,
                                                     table.hover_coordinate)
                    clear(table)
                    stock = DataTable._render_line_in_row(table, key, 0, base,
                                                          table.cursor_coordinate,
                                                          table.hover_coordinate)
                    assert ours[0] == stock[0]
                    assert [_chars([s]) for s in ours[1]] == [_chars([s]) for s in stock[1]]
                    compared += 1
                for y in range(table.size.height):
                    clear(table)
                    table._paint_style = table.rich_style
                    ours_strip = table.render_line(y)
                    table._paint_style = None
                    clear(table)
                    stock_strip = DataTable.render_line(table, y)
                    assert _chars([list(ours_strip)]) == _chars([list(stock_strip)])
                    compared += 1
            return compared

    assert asyncio.run(run()) > 40
