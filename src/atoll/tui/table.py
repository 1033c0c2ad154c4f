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
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

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
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self._cells: dict[str, tuple[Cell, ...]] = {}
        self._order: list[str] = []
        self._first: dict[str, CellText] = {}
        self.cell_updates = 0
        """How many cells were rewritten (tests and the benchmark read it)."""

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
        row = want.index(keep) if keep in wanted and keep is not None else min(old_row,
                                                                                 len(want) - 1)
        if row != self.cursor_row:
            self.move_cursor(row=row, animate=False)
