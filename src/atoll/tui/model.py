"""What the fleet view shows, computed without Textual: columns, cell text and style, row
keys, filtering, sorting, grouping, the summary header and waiting transitions.

Everything here is a pure function of a :class:`~atoll.core.models.Listing`, the view
options and ``now`` (seconds since the epoch), so the same code serves the live refresh,
the snapshot tests (fixed rows, frozen time) and the benchmark.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from atoll.core.display import name_label, project_label, status_label
from atoll.core.models import HostRow, Listing, SessionRow, Status
from atoll.core.timefmt import human_age, human_bytes, parse_rfc3339


@dataclass(frozen=True)
class Column:
    """One table column: its key, header label, right-aligned or not."""

    key: str
    label: str
    right: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("host", "HOST"),
    Column("name", "NAME"),
    Column("project", "PROJECT/WORKTREE"),
    Column("agent", "AGENT"),
    Column("user", "USER"),
    Column("by", "BY"),
    Column("status", "STATUS"),
    Column("idle", "IDLE", right=True),
    Column("cpu", "CPU", right=True),
    Column("mem", "MEM", right=True),
    Column("age", "AGE", right=True),
)
COLUMN_KEYS: tuple[str, ...] = tuple(c.key for c in COLUMNS)

# Waiting needs a human, so it sorts first and is drawn loudest; exited and unknown differ
# in colour and wording so a crash never looks like "we could not tell".
# Statuses are compared as plain strings: a status this version does not know (a newer
# peer's) sorts after the known ones and is drawn unstyled, never an error.
STATUS_ORDER: dict[str, int] = {"waiting": 0, "error": 1, "running": 2, "idle": 3,
                                "exited": 4, "lost": 5, "unknown": 6}
STATUS_STYLE: dict[str, str] = {
    "waiting": "bold black on yellow",
    "error": "bold white on red",
    "running": "green",
    "idle": "cyan",
    "exited": "bold red",
    "lost": "bold magenta",
    "unknown": "magenta italic",
}
FLAG_STYLE = "bold black on yellow"
GROUP_STYLE = "bold underline"

SORTS: tuple[str, ...] = ("status", "name", "host", "idle", "cpu", "mem", "age")
GROUPS: tuple[str, ...] = ("none", "host", "project", "person")
ATTENTION: frozenset[str] = frozenset({"waiting", "error"})
"""Statuses that need a human: the "next waiting" key jumps between them."""
MAX_CELL = 40

Cell = tuple[str, str]
"""Cell text and its Rich style ("" for the default)."""


def row_key(row: SessionRow) -> str:
    """The table key of a session: (host, agent user, name), joined by a unit separator."""
    return f"{row.host}\x1f{row.agent_user}\x1f{row.name}"


def group_key(value: str) -> str:
    """The table key of a group heading row."""
    return f"\x1egroup\x1f{value}"


def is_group_key(key: str) -> bool:
    return key.startswith("\x1egroup\x1f")


def clean(text: str, limit: int = MAX_CELL) -> str:
    """Printable text for a cell: control characters become ``?``, long text ends in ``…``.

    Names, paths and commands may come from remote hosts, so nothing is trusted here."""
    out = text if text.isprintable() else "".join(c if c.isprintable() else "?" for c in text)
    return out if len(out) <= limit else out[: limit - 1] + "…"


def age_seconds(row: SessionRow, now: float) -> float | None:
    created = parse_rfc3339(row.created) if row.created else None
    return None if created is None else now - created


def row_cells(row: SessionRow, now: float, flagged: bool = False) -> tuple[Cell, ...]:
    """The cells of one session, in :data:`COLUMNS` order."""
    return (
        (clean(row.host), ""),
        (clean(name_label(row)), FLAG_STYLE if flagged else "bold"),
        (clean(project_label(row)), ""),
        (clean(row.agent), ""),
        (clean(user_label(row)), ""),
        (clean(row.launched_by or "-"), ""),
        (status_label(row), STATUS_STYLE.get(row.status, "")),
        (human_age(row.idle_seconds) if row.idle_seconds is not None else "-", ""),
        (f"{row.cpu_percent:.0f}%" if row.cpu_percent is not None else "-", ""),
        (human_bytes(row.rss_bytes), ""),
        (human_age(age_seconds(row, now)), "dim"),
    )


#: What the USER cell adds for an island's network (``net`` in ``ls --json``): an
#: allow-list through the egress proxy, or no network at all; everything (``net``) and
#: an unknown setting add nothing.
NET_MARKS: dict[str, str] = {"allow": " [allow]", "none": " [no net]"}


def user_label(row: SessionRow) -> str:
    """The USER cell: the tmux server's user, with the island's network when it is not
    the host's (atoll ls shows the same as its NET column)."""
    return row.agent_user + NET_MARKS.get(row.net, "")


def group_value(row: SessionRow, group: str) -> str:
    if group == "host":
        return row.host
    if group == "project":
        return project_label(row)
    if group == "person":
        return person(row)
    return ""


def person(row: SessionRow) -> str:
    """The human a session belongs to: the operator who launched it, else (a session atoll
    did not start) its agent user."""
    return row.launched_by or row.agent_user


def group_cells(group: str, value: str, rows: list[SessionRow]) -> tuple[Cell, ...]:
    """A heading row, drawn across the whole row: ``▾ value · count`` (for a person, also
    the agent users the sessions run as), then how many need a human."""
    cells: list[Cell] = [("", "")] * len(COLUMNS)
    title = f"▾ {clean(value, MAX_CELL - 8)} · {len(rows)}"
    if group == "person":
        users = sorted({clean(r.agent_user) for r in rows})
        title += f" (as {', '.join(users)})"
    cells[0] = (title, GROUP_STYLE)
    counts = {s: sum(1 for r in rows if r.status == s) for s in sorted(ATTENTION)}
    note = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    if note:
        cells[1] = (note, "bold yellow")
    return tuple(cells)


def matches(row: SessionRow, text: str, now: float,
            cells: tuple[Cell, ...] | None = None) -> bool:
    """True when every word of ``text`` occurs (case-insensitively) in some column."""
    words = text.lower().split()
    if not words:
        return True
    hay = " ".join(c for c, _ in (cells or row_cells(row, now))).lower()
    hay += f" {row.project.lower()} {row.command.lower()}"
    return all(w in hay for w in words)


class CellCache:
    """Cells per session key, reused while the row stays equal and its flag the same (a
    keypress re-sorts or re-filters, and an unchanged refresh redraws, without re-formatting
    500 rows); AGE, which moves with ``now``, is recomputed every time."""

    def __init__(self) -> None:
        self._memo: dict[str, tuple[SessionRow, bool, tuple[Cell, ...], float | None]] = {}

    def cells(self, key: str, row: SessionRow, now: float, flagged: bool) -> tuple[Cell, ...]:
        hit = self._memo.get(key)
        # A refresh brings new row objects; an equal one (most, when little moved) keeps
        # its cells (msgspec compares the fields in C, far cheaper than formatting them).
        if hit is None or hit[1] != flagged or (hit[0] is not row and hit[0] != row):
            created = parse_rfc3339(row.created) if row.created else None
            hit = (row, flagged, row_cells(row, now, flagged)[:-1], created)
            self._memo[key] = hit
        age = human_age(None if hit[3] is None else now - hit[3])
        return (*hit[2], (age, "dim"))

    def keep_only(self, keys: Iterable[str]) -> None:
        """Forget sessions that are gone."""
        wanted = set(keys)
        for key in [k for k in self._memo if k not in wanted]:
            del self._memo[key]


def _ident(row: SessionRow) -> tuple[str, str, str]:
    return (row.host, row.name, row.agent_user)


def sort_key(row: SessionRow, mode: str, now: float) -> tuple[object, ...]:
    """Sort key for ``mode`` (see :data:`SORTS`); ties break on host, name, agent user."""
    if mode == "name":
        return (row.name, row.host, row.agent_user)
    if mode == "host":
        return _ident(row)
    if mode == "idle":
        return (-(row.idle_seconds or 0), *_ident(row))
    if mode == "cpu":
        return (-(row.cpu_percent or 0.0), *_ident(row))
    if mode == "mem":
        return (-(row.rss_bytes or 0), *_ident(row))
    if mode == "age":
        age = age_seconds(row, now)
        return (age if age is not None else float("inf"), *_ident(row))
    return (STATUS_ORDER.get(row.status, 9), *_ident(row))


@dataclass(frozen=True)
class Line:
    """One table row: a session, or a group heading (``row`` None)."""

    key: str
    cells: tuple[Cell, ...]
    row: SessionRow | None = None


def layout(
    rows: Iterable[SessionRow], *, sort: str, group: str, filter_text: str, now: float,
    flagged: frozenset[str] | set[str] = frozenset(), cache: CellCache | None = None,
) -> list[Line]:
    """The rows to show, in order: filtered, sorted, and grouped under headings."""
    memo = cache if cache is not None else CellCache()
    lines: list[Line] = []
    for r in rows:
        key = row_key(r)
        cells = memo.cells(key, r, now, key in flagged)
        if matches(r, filter_text, now, cells):
            lines.append(Line(key, cells, r))
    lines.sort(key=lambda line: sort_key(line.row, sort, now))  # type: ignore[arg-type]
    if group not in ("host", "project", "person"):
        return lines
    buckets: dict[str, list[Line]] = {}
    for line in lines:
        assert line.row is not None
        buckets.setdefault(group_value(line.row, group), []).append(line)
    out: list[Line] = []
    for value in sorted(buckets):
        members = buckets[value]
        rows_in = [m.row for m in members if m.row is not None]
        out.append(Line(group_key(value), group_cells(group, value, rows_in)))
        out += members
    return out


def host_load(host: HostRow, rows: list[SessionRow]) -> str:
    """``local: 3 sessions, cpu 12%, mem 340M``, or why the host is not answering."""
    name = clean(host.host)
    if not host.reachable:
        return f"✗ {name} unreachable" + (f": {clean(host.error, 60)}" if host.error else "")
    mine = [r for r in rows if r.host == host.host]
    cpus = [r.cpu_percent for r in mine if r.cpu_percent is not None]
    mems = [r.rss_bytes for r in mine if r.rss_bytes is not None]
    cpu = f"{sum(cpus):.0f}%" if cpus else "-"
    mem = human_bytes(sum(mems)) if mems else "-"
    plural = "" if len(mine) == 1 else "s"
    text = f"{name}: {len(mine)} session{plural}, cpu {cpu}, mem {mem}"
    if host.error:
        text += f" ({clean(host.error, 60)})"
    if host.stale:
        age = f" {host.age_seconds:.0f}s old" if host.age_seconds is not None else ""
        text += f" (stale{age})"
    return text


@dataclass(frozen=True)
class Summary:
    """The header lines: counts and options, then one load entry per host."""

    counts: str
    loads: tuple[tuple[str, bool], ...]
    """(text, problem) per host; a problem is an unreachable, erroring or stale host."""


def summary(
    listing: Listing, *, shown: int, sort: str, group: str, filter_text: str, read_only: bool
) -> Summary:
    hosts = listing.hosts
    reachable = sum(1 for h in hosts if h.reachable)
    waiting = sum(1 for r in listing.sessions if r.status == "waiting")
    # Most needed first: a narrow terminal cuts the line at its right edge.
    parts = [f"hosts {reachable}/{len(hosts)}", f"sessions {len(listing.sessions)}",
             f"waiting {waiting}"]
    if read_only:
        parts.append("READ-ONLY")
    if filter_text:
        parts.append(f"filter {clean(filter_text)!r} ({shown} shown)")
    parts += [f"sort {sort}", f"group {group}"]
    loads = tuple(
        (host_load(h, listing.sessions), (not h.reachable) or h.stale or bool(h.error))
        for h in hosts
    )
    return Summary("  ·  ".join(parts), loads)


def newly_waiting(
    before: dict[str, Status] | None, rows: list[SessionRow]
) -> list[SessionRow]:
    """Sessions that turned to ``waiting`` since ``before`` (previous status by key).

    ``before`` None means the first listing: nothing "turned", so nothing is returned.
    A session that appears already waiting after the first listing counts as turned."""
    if before is None:
        return []
    return [r for r in rows if r.status == "waiting" and before.get(row_key(r)) != "waiting"]


def notify_args(row: SessionRow) -> list[str]:
    """The arguments appended to ``notify_command``: host, name, agent user, agent,
    project, worktree, launched by, status."""
    return [row.host, row.name, row.agent_user, row.agent, row.project, row.worktree,
            row.launched_by, row.status]


def screen_text(screen: str, height: int) -> str:
    """The bottom ``height`` lines of a captured screen, trailing blank lines removed and
    control characters shown as ``?`` (the capture is untrusted program output)."""
    lines = screen.rstrip("\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    tail = lines[-height:] if height > 0 else lines
    return "\n".join("".join(c if c.isprintable() or c == "\t" else "?" for c in line)
                     for line in tail)
