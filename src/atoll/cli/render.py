"""Rendering listings for people: aligned text tables."""

from __future__ import annotations

import time

from atoll.core.display import aligned, project_label, status_label
from atoll.core.models import Listing, SessionRow
from atoll.core.timefmt import human_age, human_bytes, parse_rfc3339

COLUMNS = ("HOST", "NAME", "AGENT", "PROJECT", "USER", "BY", "STATUS", "IDLE", "CPU", "MEM", "AGE")
RIGHT = frozenset({"IDLE", "CPU", "MEM", "AGE"})


def row_cells(row: SessionRow, now: float) -> tuple[str, ...]:
    created = parse_rfc3339(row.created) if row.created else None
    return (
        row.host,
        row.name,
        row.agent,
        project_label(row),
        row.agent_user,
        row.launched_by or "-",
        status_label(row),
        human_age(row.idle_seconds) if row.idle_seconds is not None else "-",
        f"{row.cpu_percent:.0f}%" if row.cpu_percent is not None else "-",
        human_bytes(row.rss_bytes),
        human_age(now - created) if created else "-",
    )


def _clean(cell: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in cell)


def table(listing: Listing, now: float | None = None) -> str:
    """The aligned table of ``atoll ls``; control characters from peers shown as ``?``."""
    now = time.time() if now is None else now
    rows = [tuple(_clean(c) for c in row_cells(r, now)) for r in listing.sessions]
    lines = aligned(COLUMNS, rows, RIGHT)
    if not rows:
        lines.append("(no sessions; start one with: atoll new NAME --agent shell)")
    return "\n".join(lines)


def host_problems(listing: Listing) -> list[str]:
    out = []
    for h in listing.hosts:
        if not h.reachable:
            out.append(f"atoll: warning: host {h.host} unreachable: {h.error}")
        elif h.error:
            out.append(f"atoll: warning: host {h.host}: {h.error}")
        if h.stale:
            out.append(f"atoll: warning: host {h.host}: showing an answer {h.age_seconds:.0f}s old")
    return out
