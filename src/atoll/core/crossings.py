"""``atoll audit crossings``, the pure part: ledger records into one row per crossing.

A crossing is any record whose action starts with ``crossing.`` (``read``, ``write``,
``intake``, ``export``, and whatever else crosses a boundary later, e.g. ``egress``): its
``intent`` and the outcome that names it (``details.intent``) become one row with ``state``
``open`` (no outcome yet: a file still open, or a broker that died), ``closed`` (``ok``) or
``error``/``denied``. ``granted_by`` is the actor of the newest ``grant.add`` intent before
it for the same island whose path is the crossing's path or a parent of it, and
``grant_seq`` its seq (None for intake, export and anything not through a grant).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Event = dict[str, Any]


def _within(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def crossing_rows(events: Iterable[Event], island: str | None = None) -> list[dict[str, Any]]:
    """One row per crossing, oldest first; only ``island``'s when given (its key, e.g.
    ``user:AGENT``). Row fields: ``seq, time, action, island, grant, path, state, bytes,
    sha256, uid, pid, files, granted_by, grant_seq, actor``."""
    rows: dict[int, dict[str, Any]] = {}
    grants: list[Event] = []
    for ev in events:
        action = str(ev.get("action", ""))
        target = ev.get("target") if isinstance(ev.get("target"), dict) else {}
        assert isinstance(target, dict)
        details = ev.get("details") if isinstance(ev.get("details"), dict) else {}
        assert isinstance(details, dict)
        if island is not None and target.get("island") != island:
            continue
        if action == "grant.add" and ev.get("outcome") == "intent":
            grants.append(ev)
            continue
        if not action.startswith("crossing."):
            continue
        outcome = ev.get("outcome")
        seq = ev.get("seq")
        egress = action == "crossing.egress"  # a connection: its "path" is HOST:PORT
        if (outcome == "intent" or (egress and outcome == "denied")) and isinstance(seq, int):
            path = (f"{details.get('host')}:{details.get('port')}" if egress
                    else str(target.get("path", "")))
            by = None
            through = action in ("crossing.read", "crossing.write")
            for g in reversed(grants if through else []):
                gt = g.get("target") or {}
                if gt.get("island") == target.get("island") and \
                        _within(path, str(gt.get("path", "\0"))):
                    by = g
                    break
            rows[seq] = {
                "seq": seq, "time": ev.get("time"), "action": action,
                "island": target.get("island"), "grant": target.get("grant"), "path": path,
                "state": "open", "bytes": details.get("bytes"), "sha256": details.get("sha256"),
                "uid": details.get("uid"), "pid": details.get("pid"),
                "files": details.get("files"), "actor": ev.get("actor"),
                "granted_by": by.get("actor") if by else None,
                "grant_seq": by.get("seq") if by else None,
            }
            if egress:
                rows[seq] |= {"state": "open" if outcome == "intent" else "denied",
                              "allowed": details.get("allowed"),
                              "address": details.get("address"),
                              "reason": details.get("reason")}
            continue
        ref = details.get("intent")
        row = rows.get(ref) if isinstance(ref, int) else None
        if row is None:
            continue
        row["state"] = "closed" if outcome == "ok" else str(outcome)
        for key in ("bytes", "sha256", "in_order"):
            if key in details:
                row[key] = details[key]
        if row["action"] == "crossing.egress" and "bytes_up" in details:
            row["bytes"] = int(details.get("bytes_up") or 0) + int(details.get("bytes_down") or 0)
            row |= {k: details.get(k) for k in ("bytes_up", "bytes_down", "duration_s")}
        if "error" in details:
            row["error"] = details["error"]
    return [rows[k] for k in sorted(rows)]
