"""Rendering listings for people: aligned text tables."""

from __future__ import annotations

import time

from atoll.core.display import name_label, project_label, status_label
from atoll.core.models import Listing, SessionRow
from atoll.core.timefmt import human_age, human_bytes, parse_rfc3339

# ANSI SGR colours of the STATUS cell on a terminal (ECMA-48 8.3.117), the fleet view's
# colours (tui/model.py STATUS_STYLE): needs-a-human loudest.
STATUS_SGR = {
    "waiting": "1;30;43",  # bold black on yellow
    "error": "1;37;41",  # bold white on red
    "running": "32",
    "idle": "36",
    "exited": "1;31",
    "lost": "1;35",
    "unknown": "3;35",
}
COLUMNS = ("HOST", "NAME", "AGENT", "PROJECT", "USER", "NET", "BY", "STATUS", "IDLE", "CPU",
           "MEM", "AGE")
RIGHT = frozenset({"IDLE", "CPU", "MEM", "AGE"})


def row_cells(row: SessionRow, now: float) -> tuple[str, ...]:
    created = parse_rfc3339(row.created) if row.created else None
    return (
        row.host,
        name_label(row),
        row.agent,
        project_label(row),
        f"{row.agent_user} (none)" if row.island == "none" else row.agent_user,
        row.net or "-",
        row.launched_by or "?",  # "?": not made by atoll (or its answer was unreadable)
        status_label(row),
        human_age(row.idle_seconds) if row.idle_seconds is not None else "-",
        f"{row.cpu_percent:.0f}%" if row.cpu_percent is not None else "-",
        human_bytes(row.rss_bytes),
        human_age(now - created) if created else "-",
    )


def _clean(cell: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in cell)


def table(listing: Listing, now: float | None = None, color: bool = False) -> str:
    """The aligned table of ``atoll ls``; control characters from peers shown as ``?``.
    With ``color``, the STATUS cell carries the SGR colour of its status (STATUS_SGR)."""
    now = time.time() if now is None else now
    rows = [tuple(_clean(c) for c in row_cells(r, now)) for r in listing.sessions]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(COLUMNS)]

    def fmt(cells: tuple[str, ...], status: str = "") -> str:
        parts = [
            c.rjust(w) if h in RIGHT else c.ljust(w)
            for c, w, h in zip(cells, widths, COLUMNS, strict=True)
        ]
        sgr = STATUS_SGR.get(status) if color else None
        if sgr:
            i = COLUMNS.index("STATUS")
            cell = cells[i]
            parts[i] = f"\x1b[{sgr}m{cell}\x1b[0m" + " " * (widths[i] - len(cell))
        return "  ".join(parts).rstrip()

    lines = [fmt(COLUMNS)] + [fmt(c, r.status) for c, r in
                              zip(rows, listing.sessions, strict=True)]
    if not rows:
        lines.append("(no sessions; start one as your agent user with: atoll new NAME "
                     "--agent codex --dir DIR)")
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


def row_reasons(listing: Listing) -> list[str]:
    """One warning line per ``unknown`` session that carries a reason (control characters
    shown as ``?``, like the table)."""
    lines = [_clean(f"atoll: warning: {r.host}: session {r.name} of {r.agent_user}: {r.reason}")
             for r in listing.sessions if r.status == "unknown" and r.reason]
    lines += [_clean(f"atoll: warning: {r.host}: session {r.name} of {r.agent_user}: "
                     f"{r.mismatch}") for r in listing.sessions if r.mismatch]
    lost = [r for r in listing.sessions if r.status == "lost"]
    if lost:
        lines.append(f"atoll: {len(lost)} lost session(s) (tmux server gone): `atoll resume "
                     "NAME` starts one again, `atoll resume --all` all, `atoll kill NAME` "
                     "forgets one")
    return lines
