"""The fleet table: a Line API widget (Textual's public ``ScrollView`` + ``render_line``)
that draws session rows as :class:`~textual.strip.Strip` s.

:meth:`FleetTable.show` takes the rows to show; only rows whose cells changed are drawn
again (their strips are cached per row), a re-sort only reorders keys, and the cursor stays
on the same session (or its neighbour when that session is gone). Columns are fitted to the
widget's width (:func:`atoll.tui.columns.fit`), so nothing falls off the right edge.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from atoll.tui.columns import PAD, fit
from atoll.tui.model import COLUMNS, Cell, Line


class CellText:
    """A one-line table cell: plain text, a Rich style string, left or right justified.
    Never markup: session data could contain ``[``."""

    __slots__ = ("justify", "plain", "style")

    def __init__(self, plain: str, style: str = "", justify: str = "left") -> None:
        self.plain = plain
        self.style = style
        self.justify = justify

    def __repr__(self) -> str:
        return f"CellText({self.plain!r}, {self.style!r}, {self.justify!r})"

    def segments(self, inner: int, blank: Style, styled: Style) -> list[Segment]:
        """The cell in ``inner + 2 * PAD`` cells: padding and justification in ``blank``,
        the text in ``styled``, cut with ``…`` when longer than ``inner`` (cell widths,
        so wide characters count twice; tests/tui/test_table_render.py holds this to what
        Rich's own Text and Padding rendering gives)."""
        text = self.plain
        size = cell_len(text)
        if size > inner:
            text = set_cell_size(text, max(0, inner - 1)) + ("…" if inner else "")
            size = inner
        gap = inner - size
        left = PAD + (gap if self.justify == "right" else 0)
        right = PAD + (0 if self.justify == "right" else gap)
        out = [Segment(" " * left, blank)] if left else []
        if text:
            out.append(Segment(text, styled))
        if right:
            out.append(Segment(" " * right, blank))
        return out


def cell_text(cell: Cell, column: int) -> CellText:
    """The cell object of ``cell`` in ``column`` (right justified where the column is)."""
    text, style = cell
    return CellText(text, style, "right" if COLUMNS[column].right else "left")


class FleetTable(ScrollView, can_focus=True):
    """Session rows keyed by :func:`atoll.tui.model.row_key` (group headings by
    :func:`~atoll.tui.model.group_key`), a fixed header line, a row cursor; Enter attaches."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "screen.attach", "Attach", key_display="Enter"),
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "fleet-table--header", "fleet-table--cursor", "fleet-table--heading",
    }

    DEFAULT_CSS = """
    FleetTable {
        background: $surface;
        color: $foreground;
        scrollbar-gutter: stable;
        overflow-x: hidden;
    }
    FleetTable > .fleet-table--header {
        text-style: bold;
        background: $panel;
        color: $foreground;
    }
    FleetTable > .fleet-table--cursor {
        background: $block-cursor-blurred-background;
        color: $block-cursor-blurred-foreground;
    }
    FleetTable:focus > .fleet-table--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
        text-style: $block-cursor-text-style;
    }
    FleetTable > .fleet-table--heading {
        text-style: bold;
    }
    """

    class Highlighted(Message):
        """The cursor moved onto another row (``key`` None: the table is empty)."""

        def __init__(self, key: str | None) -> None:
            super().__init__()
            self.key = key

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._order: list[str] = []
        self._cells: dict[str, tuple[Cell, ...]] = {}
        self._texts: dict[str, list[CellText]] = {}
        self._headings: set[str] = set()
        self._natural = [cell_len(c.label) for c in COLUMNS]
        self._columns: list[tuple[int, int]] = []
        self._strips: dict[tuple[str, bool], Strip] = {}
        self._looks: tuple[Style, Style, Style, Style] | None = None
        self._fitted_for = -1
        self._cursor_key: str | None = None
        self.cursor_row = 0
        self.cell_updates = 0
        """How many cells were rewritten (tests and the benchmark read it)."""

    # -- what is shown -------------------------------------------------------------------
    @property
    def order(self) -> list[str]:
        """Row keys in display order (group headings included)."""
        return list(self._order)

    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def visible_columns(self) -> list[tuple[int, int]]:
        """(index into :data:`~atoll.tui.model.COLUMNS`, text width) of the columns shown
        at the current width, in display order."""
        self._fit()
        return list(self._columns)

    @property
    def wanted_width(self) -> int:
        """Cells this table needs to show every column at full width, scrollbar included."""
        return (sum(n + 2 * PAD for n in self._natural)
                + self.styles.scrollbar_size_vertical)

    def get_row(self, key: str) -> list[CellText]:
        """The cells of row ``key``, every column (KeyError when it is not shown)."""
        return list(self._texts[key])

    def selected_key(self) -> str | None:
        """Key of the row under the cursor, or None for an empty table."""
        if 0 <= self.cursor_row < len(self._order):
            return self._order[self.cursor_row]
        return None

    def select_key(self, key: str) -> bool:
        """Move the cursor to ``key``; False when it is not shown."""
        if key not in self._cells:
            return False
        self.move_cursor(self._order.index(key))
        return True

    def show(self, lines: list[Line]) -> None:
        """Make the table show ``lines``; only rows whose cells changed are redrawn."""
        keep = self.selected_key()
        want = [line.key for line in lines]
        wanted = set(want)
        widths_stale = redraw = False
        for key in [k for k in self._cells if k not in wanted]:
            del self._cells[key], self._texts[key]
            self._headings.discard(key)
            self._drop_strips(key)
            widths_stale = True
        natural = self._natural
        for line in lines:
            old = self._cells.get(line.key)
            if old == line.cells:
                continue
            redraw = True
            self._cells[line.key] = line.cells
            self._drop_strips(line.key)
            if line.row is None:
                self._headings.add(line.key)
                self._texts[line.key] = [cell_text(c, i) for i, c in enumerate(line.cells)]
                continue
            if old is None or line.key in self._headings:
                self._texts[line.key] = [cell_text(c, i) for i, c in enumerate(line.cells)]
                self._headings.discard(line.key)
                widths_stale = True
                continue
            texts = self._texts[line.key]
            for i, (was, now) in enumerate(zip(old, line.cells, strict=True)):
                if was != now:
                    texts[i] = cell_text(now, i)
                    self.cell_updates += 1
                    # only a cell as wide as its column can make the column narrower
                    if cell_len(now[0]) > natural[i] or cell_len(was[0]) == natural[i]:
                        widths_stale = True
        if widths_stale:
            self._measure()
        moved = want != self._order
        self._order = want
        if moved or widths_stale:
            self.virtual_size = Size(self.size.width, len(want) + 1)
        row = (want.index(keep) if keep is not None and keep in wanted
               else min(self.cursor_row, max(0, len(want) - 1)))
        self.move_cursor(row)
        if redraw or moved or widths_stale:  # an unchanged refresh paints nothing
            self.refresh()

    def _measure(self) -> None:
        natural = [cell_len(c.label) for c in COLUMNS]
        for key, texts in self._texts.items():
            if key in self._headings:
                continue
            for i, text in enumerate(texts):
                size = cell_len(text.plain)
                if size > natural[i]:
                    natural[i] = size
        if natural != self._natural:
            self._natural = natural
            self._fitted_for = -1

    def _fit(self) -> None:
        width = self.scrollable_content_region.width
        if width != self._fitted_for:
            self._fitted_for = width
            self._columns = fit(self._natural, width)
            self._strips.clear()

    def _drop_strips(self, key: str) -> None:
        self._strips.pop((key, False), None)
        self._strips.pop((key, True), None)

    # -- cursor --------------------------------------------------------------------------
    def move_cursor(self, row: int) -> None:
        """Put the cursor on ``row`` (clamped), scroll it into view, and post
        :class:`Highlighted` when it is on another session than before."""
        row = max(0, min(row, len(self._order) - 1)) if self._order else 0
        was, self.cursor_row = self.cursor_row, row
        height = max(1, self.scrollable_content_region.height - 1)
        top = round(self.scroll_offset.y)
        if row < top:
            self.scroll_to(y=row, animate=False, immediate=True)
            self.refresh()
        elif row >= top + height:
            self.scroll_to(y=row - height + 1, animate=False, immediate=True)
            self.refresh()
        elif row != was:  # no scroll: only the two rows whose cursor look changed
            width = self.size.width
            self.refresh(Region(0, was - top + 1, width, 1), Region(0, row - top + 1, width, 1))
        key = self.selected_key()
        if key != self._cursor_key:
            self._cursor_key = key
            self.post_message(self.Highlighted(key))

    def action_cursor(self, step: int) -> None:
        self.move_cursor(self.cursor_row + step)

    def action_page(self, step: int) -> None:
        self.move_cursor(self.cursor_row + step * max(1, self.scrollable_content_region.height
                                                      - 1))

    def action_jump(self, row: int) -> None:
        self.move_cursor(row if row >= 0 else len(self._order) - 1)

    def on_click(self, event: events.Click) -> None:
        y = event.y
        if y >= 1:
            self.move_cursor(round(self.scroll_offset.y) + y - 1)

    def on_resize(self, _event: events.Resize) -> None:
        self.virtual_size = Size(self.size.width, len(self._order) + 1)
        self.move_cursor(self.cursor_row)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._looks = None
        self._strips.clear()

    def on_focus(self, _event: events.Focus) -> None:
        self.notify_style_update()

    def on_blur(self, _event: events.Blur) -> None:
        self.notify_style_update()

    # -- drawing -------------------------------------------------------------------------
    def _take_looks(self) -> tuple[Style, Style, Style, Style]:
        """The widget, header, cursor and heading styles, read once per paint (each is a
        walk up the DOM); cached strips are dropped when any of them changed."""
        self._fit()
        looks = (self.rich_style, self.get_component_rich_style("fleet-table--header"),
                 self.get_component_rich_style("fleet-table--cursor"),
                 self.get_component_rich_style("fleet-table--heading"))
        if looks != self._looks:
            self._looks = looks
            self._strips.clear()
        return looks

    def render_lines(self, crop: Region) -> list[Strip]:
        self._take_looks()
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base, header, cursor, heading = self._looks or self._take_looks()
        if y == 0:
            return self._header(width, base + header)
        index = round(self.scroll_offset.y) + y - 1
        if not 0 <= index < len(self._order):
            return Strip.blank(width, base)
        key = self._order[index]
        on_cursor = index == self.cursor_row
        strip = self._strips.get((key, on_cursor))
        if strip is None:
            row_style = base + cursor if on_cursor else base
            if key in self._headings:
                strip = self._heading(key, width, row_style + heading)
            else:
                strip = self._row(key, width, row_style)
            self._strips[(key, on_cursor)] = strip
        return strip

    def _finish(self, segments: list[Segment], width: int, style: Style) -> Strip:
        return Strip(segments).adjust_cell_length(width, style).crop(0, width)

    def _header(self, width: int, style: Style) -> Strip:
        segments: list[Segment] = []
        for i, inner in self._columns:
            col = COLUMNS[i]
            label = CellText(col.label, "", "right" if col.right else "left")
            segments += label.segments(inner, style, style)
        return self._finish(segments, width, style)

    def _row(self, key: str, width: int, row_style: Style) -> Strip:
        texts = self._texts[key]
        console = self.app.console
        segments: list[Segment] = []
        for i, inner in self._columns:
            text = texts[i]
            styled = row_style + console.get_style(text.style) if text.style else row_style
            segments += text.segments(inner, row_style, styled)
        return self._finish(segments, width, row_style)

    def _heading(self, key: str, width: int, row_style: Style) -> Strip:
        """A group heading spans the row: its title, then its note (e.g. ``2 waiting``)."""
        console = self.app.console
        segments: list[Segment] = [Segment(" " * PAD, row_style)]
        for text in self._texts[key][:2]:
            if text.plain:
                style = row_style + console.get_style(text.style) if text.style else row_style
                segments += [Segment(text.plain, style), Segment("   ", row_style)]
        return self._finish(segments, width, row_style)
