"""The fleet table: a DataTable that applies a new layout by changing only what differs.

:meth:`FleetTable.show` removes rows that went away, adds new ones, updates only the cells
whose text or style changed (``update_cell``), reorders when the order changed, and keeps
the cursor on the same session (or its neighbour when that session is gone).
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.cells import cell_len, set_cell_size
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from atoll.tui.model import COLUMN_KEYS, COLUMNS, Cell, Line


class CellText:
    """A one-line table cell: plain text, a style, left or right justified.

    Rendering it yields one or two Segments, where a Rich ``Text`` goes through wrapping,
    splitting and joining; a full repaint of a 500-row table after a re-sort or a regroup
    is mostly cell rendering, so this keeps keypresses cheap. Never markup: session data
    could contain ``[``."""

    __slots__ = ("justify", "plain", "style")

    def __init__(self, plain: str, style: str = "", justify: str = "left") -> None:
        self.plain = plain
        self.style = style
        self.justify = justify

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        text = self.plain
        size = cell_len(text)
        if size > width:
            text = set_cell_size(text, max(0, width - 1)) + ("…" if width else "")
            size = width
        style = console.get_style(self.style) if self.style else None
        if self.justify == "right" and size < width:
            yield Segment(" " * (width - size))
        yield Segment(text, style)
        yield Segment.line()

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        size = cell_len(self.plain)
        return Measurement(size, size)

    def __repr__(self) -> str:
        return f"CellText({self.plain!r}, {self.style!r}, {self.justify!r})"

    def line(self, width: int, pad: int, blank: Style, styled: Style) -> list[Segment]:
        """The one line DataTable would render for this cell in ``width`` columns with
        ``pad`` columns of cell padding each side: the text in style ``styled``, padding
        and justification in ``blank`` (the segments and styles Padding + Styled +
        render_lines give, built directly; tests/tui/test_table_render.py compares them)."""
        inner = width - 2 * pad
        text = self.plain
        size = cell_len(text)
        if size > inner:
            text = set_cell_size(text, max(0, inner - 1)) + ("…" if inner else "")
            size = inner
        out = [Segment(" " * pad, blank)] if pad else []
        if self.justify == "right" and size < inner:
            out.append(Segment(" " * (inner - size), blank))
            size = inner
        out.append(Segment(text, styled))
        if size < inner:
            out.append(Segment(" " * (inner - size), blank))
        if pad:
            out.append(Segment(" " * pad, blank))
        return out


def cell_text(cell: Cell, column: int) -> CellText:
    """The renderable for a cell of ``column``."""
    text, style = cell
    return CellText(text, style, "right" if COLUMNS[column].right else "left")


class FleetTable(DataTable[CellText]):
    """Session rows keyed (host, agent user, name); Enter attaches."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "screen.attach", "Attach", key_display="Enter"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        # before DataTable.__init__, which may clear caches (see _clear_caches)
        self._looks: dict[tuple[object, ...], tuple[Style, Style]] = {}
        self._metas: dict[tuple[int, int], Style] = {}
        self._paint_style: Style | None = None
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self._cells: dict[str, tuple[Cell, ...]] = {}
        self._order: list[str] = []
        self._first: dict[str, CellText] = {}
        self.cell_updates = 0
        """How many cells were rewritten (tests and the benchmark read it)."""

    def _render_cell(
        self, row_index: int, column_index: int, base_style: Style, width: int,
        cursor: bool = False, hover: bool = False,
    ) -> list[list[Segment]]:
        """DataTable's cell rendering, short-cut for our one-line :class:`CellText` cells.

        A re-sort or regroup repaints every visible cell, and DataTable renders each one
        through Padding, Styled and a Rich render pass (~0.2 ms a cell, 600+ cells on a
        200x60 terminal: most of a 90-140 ms keypress, bench/tui_bench.py). The result is
        one line of 3-5 segments, built here directly with the same styles and cached under
        DataTable's own cache key. Headers, labels and anything else take the stock path.
        """
        if row_index < 0 or column_index < 0 or width <= 2 * self.cell_padding:
            return super()._render_cell(row_index, column_index, base_style, width,
                                        cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        cell = self._data.get(row_key, {}).get(column_key) if row_key and column_key else None
        row = self.rows.get(row_key) if row_key else None
        if (row_key is None or column_key is None or not isinstance(cell, CellText)
                or row is None or row.height != 1):
            return super()._render_cell(row_index, column_index, base_style, width,
                                        cursor, hover)
        cache_key = (row_key, column_key, base_style, cursor, hover, self._show_hover_cursor,
                     self._update_count, self._pseudo_class_state)
        lines = self._cell_render_cache.get(cache_key)
        if lines is None:
            blank, styled = self._cell_styles(base_style, cursor, hover, cell.style,
                                              row_index, column_index)
            lines = [cell.line(width, self.cell_padding, blank, styled)]
            self._cell_render_cache[cache_key] = lines
        return lines

    def _cell_styles(self, base_style: Style, cursor: bool, hover: bool, cell_style: str,
                     row_index: int, column_index: int) -> tuple[Style, Style]:
        """(padding style, text style) of a cell: DataTable's ``base + meta + component``
        before and ``post`` after the cell's own style. The meta (row and column, which
        mouse clicks read) only adds keys, so it is added last: the other sums are shared
        by every cell with the same look and computed once."""
        fixed = row_index < self.fixed_rows or column_index < self.fixed_columns
        look = (base_style, cursor, hover, self._show_hover_cursor, cell_style,
                self._pseudo_class_state, fixed)
        pair = self._looks.get(look)
        if pair is None:
            component, post = self._get_styles_to_render_cell(
                False, False, fixed, hover, cursor,
                self.show_cursor, self._show_hover_cursor,
                self.cursor_foreground_priority == "css",
                self.cursor_background_priority == "css",
            )
            own = self.app.console.get_style(cell_style) if cell_style else None
            blank = base_style + component + post
            pair = (blank, base_style + component + own + post if own is not None else blank)
            self._looks[look] = pair
        where = (row_index, column_index)
        meta = self._metas.get(where)
        if meta is None:
            meta = self._metas[where] = Style.from_meta({"row": row_index,
                                                         "column": column_index})
        return pair[0] + meta, pair[1] + meta

    def _render_line_in_row(
        self, row_key: RowKey, line_no: int, base_style: Style, cursor_location: Coordinate,
        hover_location: Coordinate,
    ) -> tuple[list[list[Segment]], list[list[Segment]]]:
        """DataTable's row line, short-cut for this table's shape (row cursor, no row
        labels, no fixed columns): the stock method also works out header, label and
        background styles on every line whether used or not (a DOM walk each). Same cache
        key, same segments; other shapes take the stock path."""
        if (self.cursor_type != "row" or self.fixed_columns
                or (self._labelled_row_exists and self.show_row_labels)):
            return super()._render_line_in_row(row_key, line_no, base_style,
                                               cursor_location, hover_location)
        show_hover = self._show_hover_cursor
        cache_key = (row_key, line_no, base_style, cursor_location, hover_location,
                     self.cursor_type,
                     self.show_cursor, show_hover, self._update_count,
                     self._pseudo_class_state)
        cached = self._row_render_cache.get(cache_key)
        if cached is not None:
            return cached
        row_index = self._row_locations.get(row_key)
        if row_index is None:
            row_index = -1
        row_style = self._get_row_style(row_index, base_style)
        cursor = cursor_location.row == row_index
        hover = hover_location.row == row_index
        widths = [column.get_render_width(self) for column in self.ordered_columns]
        scrollable = [
            self._render_cell(row_index, i, row_style, width, cursor=cursor, hover=hover)[line_no]
            for i, width in enumerate(widths)
        ]
        remaining = max(0, self.size.width - sum(widths) - self._row_label_column_width)
        extend, _ = self._get_styles_to_render_cell(
            row_index == -1, False, False, hover, cursor, self.show_cursor, show_hover,
            False, False,
        )
        extend = row_style + extend + Style.from_meta(
            {"row": row_index, "column": 0, "out_of_bounds": True})
        scrollable.append([Segment(" " * remaining, extend)])
        pair: tuple[list[list[Segment]], list[list[Segment]]] = ([], scrollable)
        self._row_render_cache[cache_key] = pair
        return pair

    def render_lines(self, crop: Region) -> list[Strip]:
        self._paint_style = self.rich_style  # one DOM walk per paint, not one per line
        try:
            return super().render_lines(crop)
        finally:
            self._paint_style = None

    def render_line(self, y: int) -> Strip:
        """DataTable.render_line with the widget style taken once per paint."""
        if self._paint_style is None or self.fixed_rows:
            return super().render_line(y)
        width = self.size.width
        scroll_x, scroll_y = self.scroll_offset
        if y >= (self.get_row_height(self._header_row_key) if self.show_header else 0):
            y += scroll_y
        return self._render_line(y, scroll_x, scroll_x + width, self._paint_style)

    def _settle_dimensions(self) -> None:
        """Measure added rows now rather than when the app is next idle (DataTable's
        ``_on_idle``), so that moving the cursor scrolls at once: otherwise a regroup that
        keeps the selection far down the table paints the old scroll position, then
        scrolls and paints everything again (bench/tui_bench.py, ``g``)."""
        if self._require_update_dimensions:
            self._require_update_dimensions = False
            new_rows = self._new_rows.copy()
            self._new_rows.clear()
            self._update_dimensions(new_rows)

    def _clear_caches(self) -> None:
        super()._clear_caches()
        self._looks.clear()

    def notify_style_update(self) -> None:
        self._looks.clear()
        super().notify_style_update()

    def on_mount(self) -> None:
        for col in COLUMNS:
            self.add_column(Text(col.label, justify="right" if col.right else "left"),
                            key=col.key)

    @property
    def order(self) -> list[str]:
        """Row keys in display order (group headings included)."""
        return list(self._order)

    def selected_key(self) -> str | None:
        """Key of the row under the cursor, or None for an empty table."""
        if 0 <= self.cursor_row < len(self._order):
            return self._order[self.cursor_row]
        return None

    def select_key(self, key: str) -> bool:
        """Move the cursor to ``key``; False when it is not shown."""
        if key not in self._cells:
            return False
        self.move_cursor(row=self._order.index(key), animate=False)
        return True

    def show(self, lines: list[Line]) -> None:
        """Make the table show ``lines``, touching only rows and cells that changed."""
        keep = self.selected_key()
        old_row = self.cursor_row
        want = [line.key for line in lines]
        wanted = set(want)
        for key in [k for k in self._order if k not in wanted]:
            self.remove_row(key)
            del self._cells[key]
            del self._first[key]
        current = [k for k in self._order if k in wanted]
        for line in lines:
            old = self._cells.get(line.key)
            if old is None:
                texts = [cell_text(c, i) for i, c in enumerate(line.cells)]
                self.add_row(*texts, key=line.key)
                self._first[line.key] = texts[0]
                current.append(line.key)
            elif old != line.cells:
                for i, (was, now) in enumerate(zip(old, line.cells, strict=True)):
                    if was != now:
                        text = cell_text(now, i)
                        # Re-measuring a column is costly: only when the text got wider.
                        column = self.columns[ColumnKey(COLUMN_KEYS[i])]
                        wider = cell_len(now[0]) > column.content_width
                        self.update_cell(line.key, COLUMN_KEYS[i], text, update_width=wider)
                        self.cell_updates += 1
                        if i == 0:
                            self._first[line.key] = text
            self._cells[line.key] = line.cells
        if current != want:
            position = {id(self._first[k]): i for i, k in enumerate(want)}
            self.sort(COLUMN_KEYS[0], key=lambda cell: position[id(cell)])
        self._order = want
        if not want:
            return
        self._settle_dimensions()
        row = want.index(keep) if keep in wanted and keep is not None else min(old_row,
                                                                                 len(want) - 1)
        if row != self.cursor_row:
            self.move_cursor(row=row, animate=False)
