"""``atoll ls --watch --json``: a listing as a stream of changes (pure; docs/watch.md).

Each line is one JSON object with an ``event``:

- ``snapshot``: the whole listing (``hosts``, ``sessions``, as ``atoll ls --json``), first,
  and again after a host came back or went away;
- ``session``: one session row that is new or changed (``session``: the row);
- ``gone``: a session that is no longer listed (``session``: its ``host``, ``agent_user``
  and ``name``).

"Changed" means a field a person acts on changed: everything but the load and clock
fields (``cpu_percent``, ``rss_bytes``, ``idle_seconds``, ``last_activity``), which move on
every listing; a status moving from ``idle 12s`` to ``idle 14s`` is not a change. Every
object carries ``time`` (RFC 3339, UTC) and ``schema_version`` (:data:`WATCH_SCHEMA`).
"""

from __future__ import annotations

from typing import Any

import msgspec

from atoll.core.models import Listing, SessionRow

#: Version of the watch stream's objects; a consumer refuses a newer major.
WATCH_SCHEMA = 1
#: Fields left out of the comparison (they change on every listing).
VOLATILE = frozenset({"cpu_percent", "rss_bytes", "idle_seconds", "last_activity"})

Key = tuple[str, str, str]


def row_key(row: SessionRow) -> Key:
    """A session's identity in the stream: host, tmux server user, name."""
    return (row.host, row.agent_user, row.name)


def _stable(row: SessionRow) -> dict[str, Any]:
    return {k: v for k, v in msgspec.structs.asdict(row).items() if k not in VOLATILE}


def changes(before: Listing | None, now: Listing, time: str) -> list[dict[str, Any]]:
    """The stream objects that take a consumer from ``before`` (None: nothing yet) to
    ``now``, in order: a snapshot when the set of hosts or their reachability changed,
    else one object per new, changed or gone session."""
    head = {"schema_version": WATCH_SCHEMA, "time": time}
    hosts = [(h.host, h.reachable, h.stale) for h in now.hosts]
    if before is None or hosts != [(h.host, h.reachable, h.stale) for h in before.hosts]:
        return [{**head, "event": "snapshot", **msgspec.to_builtins(now)}]
    old = {row_key(r): _stable(r) for r in before.sessions}
    out: list[dict[str, Any]] = []
    seen: set[Key] = set()
    for row in now.sessions:
        key = row_key(row)
        seen.add(key)
        if old.get(key) != _stable(row):
            out.append({**head, "event": "session", "session": msgspec.to_builtins(row)})
    for key in old:
        if key not in seen:
            out.append({**head, "event": "gone",
                        "session": {"host": key[0], "agent_user": key[1], "name": key[2]}})
    return out
