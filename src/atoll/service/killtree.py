"""Ending every process a session started, when it is killed.

The pane's first process is atoll's subreaper (:mod:`atoll.exec.reaper`), so what the agent
started, self-detaching daemons included, stays in the pane's process tree. Before the tmux
session goes, :func:`session_tree` takes that tree from one process-table scan; after it
went, :func:`end_tree` sends SIGTERM, waits up to :data:`GRACE` seconds and sends SIGKILL to
whatever of it is still there. Signals go through the server's runner (``sudo -n -u AGENT
kill``), so the kernel lets them reach only the agent user's own processes; a process is
recognised across the wait by its start time, never by its pid alone (pids are reused).

Left alone: processes in the trees of the same server's other live sessions (one agent user's
sessions never signal each other's processes), the tmux server itself, anything of another
uid. Not caught: what the agent user started outside its panes (cron, at, ssh to localhost);
see docs/islands.md.
"""

from __future__ import annotations

import os
import time

from atoll.core.load import Proc, children_map, tree
from atoll.core.tmuxfmt import PaneRecord
from atoll.exec.runner import Runner
from atoll.fleet import procs

GRACE = 3.0
POLL = 0.1


def _uid(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def session_tree(panes: list[PaneRecord], name: str, uid: int) -> dict[int, float]:
    """pid -> start time of every live process in session ``name``'s pane trees, owned by
    ``uid``, and in no other live session's tree."""
    sample = procs.scan()
    kids = children_map(sample)

    def trees(records: list[PaneRecord]) -> set[int]:
        return {pid for p in records if p.pane_pid and not p.pane_dead
                for pid in tree(p.pane_pid, kids, sample)}

    mine = trees([p for p in panes if p.session_name == name])
    others = trees([p for p in panes if p.session_name != name])
    return {pid: sample[pid].start for pid in sorted(mine - others) if _uid(pid) == uid}


def _alive(pids: dict[int, float]) -> list[int]:
    now: dict[int, Proc] = procs.rescan(list(pids))
    return [pid for pid, start in pids.items() if pid in now and now[pid].start == start]


def _signal(runner: Runner, sig: str, pids: list[int]) -> None:
    if pids:  # some may have ended meanwhile: kill then fails for those, which is fine
        runner.run(["kill", f"-{sig}", "--", *map(str, pids)], timeout=10)


def end_tree(runner: Runner, pids: dict[int, float], grace: float = GRACE) -> list[int]:
    """SIGTERM ``pids``, wait up to ``grace`` s, SIGKILL the rest; returns the pids that
    were still alive after SIGKILL (normally none)."""
    _signal(runner, "TERM", _alive(pids))
    deadline = time.monotonic() + grace
    while (left := _alive(pids)) and time.monotonic() < deadline:
        time.sleep(POLL)
    _signal(runner, "KILL", left)
    for _ in range(20):
        if not (left := _alive(pids)):
            break
        time.sleep(POLL)
    return left
