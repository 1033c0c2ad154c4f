"""Which columns the fleet table shows in a given width, and how wide each one is.

The order in which columns give way is a decision documented in docs/tui.md ("Narrow
terminals"): first the flexible text columns shrink to their minimum, then whole columns
are dropped, least useful first, and any room left goes back to the shrunk columns. NAME and
STATUS are never dropped: a row without them says nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from atoll.tui.model import COLUMN_KEYS

PAD = 1
"""Blank cells on each side of a cell's text."""

SHRINK: tuple[tuple[str, int], ...] = (("project", 10), ("user", 8), ("host", 6), ("name", 8))
"""Flexible columns and the text width each may shrink to, in the order they shrink."""

DROP: tuple[str, ...] = ("by", "agent", "host", "age", "user", "mem", "cpu", "idle",
                         "project")
"""Columns dropped when shrinking is not enough, first dropped first (docs/tui.md)."""

KEEP: frozenset[str] = frozenset(COLUMN_KEYS) - frozenset(DROP)
"""Columns never dropped (NAME and STATUS)."""


def fit(natural: Sequence[int], width: int) -> list[tuple[int, int]]:
    """The (column index, text width) pairs to show, in display order, for a table
    ``width`` cells wide whose columns want ``natural`` text widths (the widest cell or
    heading of each column, in :data:`~atoll.tui.model.COLUMNS` order).

    Each shown column takes its text width plus ``2 * PAD``. The result fits in ``width``
    whenever NAME and STATUS at their minimum do; below that it is NAME and STATUS, cut by
    the caller at the right edge."""
    if len(natural) != len(COLUMN_KEYS):
        raise ValueError(f"expected {len(COLUMN_KEYS)} column widths, got {len(natural)}")
    widths = list(natural)
    shown = set(range(len(widths)))
    index = {key: i for i, key in enumerate(COLUMN_KEYS)}

    def total() -> int:
        return sum(widths[i] + 2 * PAD for i in shown)

    for key, least in SHRINK:
        over = total() - width
        if over <= 0:
            break
        i = index[key]
        widths[i] = max(min(least, natural[i]), widths[i] - over)
    for key in DROP:
        if total() <= width:
            break
        shown.discard(index[key])
    for key, _least in reversed(SHRINK):
        spare = width - total()
        if spare <= 0:
            break
        i = index[key]
        if i in shown:
            widths[i] = min(natural[i], widths[i] + spare)
    return [(i, widths[i]) for i in sorted(shown)]
