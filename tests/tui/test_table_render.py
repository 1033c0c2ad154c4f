"""FleetTable draws its rows as Strips it builds itself (a re-sort repaints every visible
row, and Rich's general Text rendering costs far more per cell). These tests hold what it
draws, character by character and style by style, to an independent reference: the same
cells rendered by Rich's own ``Text`` (ellipsis overflow, justification) inside ``Padding``
through ``Console.render_lines``, over the row's style. Covered: left and right cells,
styled, truncated, empty and wide-character cells, the cursor row, headings, the header,
and scrolled tables."""

from __future__ import annotations

import asyncio

from rich.console import Console
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.strip import Strip

from atoll.tui.columns import PAD
from atoll.tui.model import COLUMNS, Cell, Line
from atoll.tui.table import FleetTable


class _TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield FleetTable(id="t")


Chars = list[tuple[str, Style | None]]


def _chars(segments: list[Segment]) -> Chars:
    """(character, style) pairs: segment boundaries may differ, looks may not."""
    return [(ch, seg.style) for seg in segments for ch in seg.text]


def _reference_cell(console: Console, plain: str, style: str, right: bool, inner: int,
                    row_style: Style) -> list[Segment]:
    text = Text(no_wrap=True, overflow="ellipsis", justify="right" if right else "left")
    text.append(plain, style=console.get_style(style) if style else None)
    lines = console.render_lines(Padding(text, (0, PAD)),
                                 console.options.update_width(inner + 2 * PAD),
                                 style=row_style)
    assert len(lines) == 1
    return lines[0]


def _reference_row(console: Console, table: FleetTable, cells: list[Cell],
                   row_style: Style, width: int) -> Chars:
    segments: list[Segment] = []
    for i, inner in table.visible_columns:
        plain, style = cells[i]
        segments += _reference_cell(console, plain, style, COLUMNS[i].right, inner, row_style)
    return _chars(Segment.adjust_line_length(segments, width, row_style))


TRICKY: list[Cell] = [
    ("alpha", ""),
    ("waiting", "bold #ffaa00 on #302000"),
    ("a-very-long-session-name-that-does-not-fit-in-its-column-at-all", "italic"),
    ("", ""),
    ("日本語の名前が長い長い長い長い長い長い長い長い", "red"),
    ("12.5%", "underline"),
]


def _line(i: int) -> Line:
    first = TRICKY[i % len(TRICKY)]
    cells = [first] + [TRICKY[(i + j) % len(TRICKY)] if j % 3 == 0 else (f"{i}-{j}", "")
                       for j in range(1, len(COLUMNS))]
    return Line(f"row{i}", tuple(cells), row=object())  # type: ignore[arg-type]


def _compare(table: FleetTable, lines: list[Line], console: Console) -> int:
    """Every screen line of the table against the reference; returns lines compared."""
    table.render_lines(table.region.reset_offset)  # takes the styles once per paint
    strips: list[Strip] = [table.render_line(y) for y in range(table.size.height)]
    width = table.scrollable_content_region.width
    base = table.rich_style
    header = base + table.get_component_rich_style("fleet-table--header")
    cursor = table.get_component_rich_style("fleet-table--cursor")
    heading = table.get_component_rich_style("fleet-table--heading")
    top = round(table.scroll_offset.y)
    compared = 0
    for y, strip in enumerate(strips[: table.scrollable_content_region.height]):
        ours = _chars(list(strip))
        if y == 0:
            labels: list[Cell] = [(c.label, "") for c in COLUMNS]
            want = _reference_row(console, table, labels, header, width)
        elif top + y - 1 < len(lines):
            index = top + y - 1
            line = lines[index]
            row_style = base + cursor if index == table.cursor_row else base
            if line.row is None:
                title, note = line.cells[0], line.cells[1]
                text = Text(no_wrap=True, overflow="crop")
                text.append(" " * PAD)
                text.append(title[0], console.get_style(title[1]))
                if note[0]:
                    text.append("   ")
                    text.append(note[0], console.get_style(note[1]))
                text.append("   ")
                rendered = console.render_lines(text, console.options.update_width(width),
                                                style=row_style + heading)
                want = _chars(Segment.adjust_line_length(rendered[0], width, row_style))
            else:
                want = _reference_row(console, table, list(line.cells), row_style, width)
        else:
            want = [(" ", base)] * width
        assert strip.cell_length == width
        assert ours == want, (y, "".join(c for c, _ in ours), "".join(c for c, _ in want))
        compared += 1
    return compared


def test_rows_render_exactly_what_rich_renders_for_the_same_cells() -> None:
    async def run() -> int:
        compared = 0
        for size in ((200, 14), (100, 14), (60, 14)):  # wide, collapsed, very narrow
            app = _TableApp()
            async with app.run_test(size=size) as pilot:
                table = app.query_one(FleetTable)
                lines = [_line(i) for i in range(30)]
                heading = Line("\x1egroup\x1fx", (("▾ x · 3", "bold underline"),
                                                  ("1 waiting", "bold yellow"),
                                                  *[("", "")] * (len(COLUMNS) - 2)))
                lines.insert(4, heading)
                table.show(lines)
                table.focus()
                await pilot.pause()
                for cursor, scroll in ((3, 0), (4, 0), (20, 9)):
                    table.move_cursor(cursor)
                    table.scroll_to(y=scroll, animate=False, immediate=True)
                    await pilot.pause()
                    compared += _compare(table, lines, app.console)
                table.blur()  # the unfocused cursor has its own look
                await pilot.pause()
                compared += _compare(table, lines, app.console)
        return compared

    assert asyncio.run(run()) > 3 * 4 * 12


def test_changed_cells_are_drawn_again_and_unchanged_rows_are_not_rebuilt() -> None:
    async def run() -> None:
        app = _TableApp()
        async with app.run_test(size=(160, 12)) as pilot:
            table = app.query_one(FleetTable)
            lines = [_line(i) for i in range(5)]
            table.show(lines)
            await pilot.pause()
            changed = list(lines[2].cells)
            changed[6] = ("error", "bold white on red")
            lines[2] = Line(lines[2].key, tuple(changed), row=object())  # type: ignore[arg-type]
            table.show(lines)
            assert table.cell_updates == 1
            await pilot.pause()
            assert _compare(table, lines, app.console) == 12  # every line of the table

    asyncio.run(run())


class _CountingTable(FleetTable):
    drawn = 0

    def render_line(self, y: int) -> Strip:
        self.drawn += 1
        return super().render_line(y)


class _CountingApp(App[None]):
    def compose(self) -> ComposeResult:
        yield _CountingTable(id="t")


def test_an_unchanged_show_paints_nothing_and_a_change_paints_again() -> None:
    async def run() -> tuple[int, int]:
        app = _CountingApp()
        async with app.run_test(size=(160, 12)) as pilot:
            table = app.query_one(_CountingTable)
            table.show([_line(i) for i in range(20)])
            await pilot.pause()
            table.drawn = 0
            table.show([_line(i) for i in range(20)])  # equal lines, new objects
            await pilot.pause()
            unchanged = table.drawn
            lines = [_line(i) for i in range(20)]
            cells = list(lines[1].cells)
            cells[6] = ("exited", "bold red")
            lines[1] = Line(lines[1].key, tuple(cells), row=object())  # type: ignore[arg-type]
            table.show(lines)
            await pilot.pause()
            return unchanged, table.drawn

    unchanged, changed = asyncio.run(run())
    assert unchanged == 0 and changed > 0


def test_columns_follow_their_widest_cell_both_ways() -> None:
    def with_name(i: int, name: str) -> Line:
        cells = list(_line(i).cells)
        cells[1] = (name, "")
        return Line(f"row{i}", tuple(cells), row=object())  # type: ignore[arg-type]

    async def run() -> list[int]:
        app = _TableApp()
        async with app.run_test(size=(200, 12)) as pilot:
            table = app.query_one(FleetTable)
            widths = []
            for names in (["ab", "abcdef"], ["ab", "abcdefghijkl"], ["ab", "abc"],
                          ["abcdefgh"]):
                table.show([with_name(i, n) for i, n in enumerate(names)])
                await pilot.pause()
                widths.append(dict(table.visible_columns)[1])
            return widths

    assert asyncio.run(run()) == [6, 12, 4, 8]  # "NAME" is 4 wide
