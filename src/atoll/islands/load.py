"""CPU and memory of container panes: translating container pids to host pids.

tmux inside a container reports ``pane_pid`` in the container's pid namespace. With a
rootful engine the container's processes are also in the host's process table (under
other pids), so atoll maps them instead of asking the engine for statistics
(``docker stats --no-stream`` takes a second or more per call and only gives per-container
totals). One pass over ``/proc`` per refresh, for all containers together:

1. ``ENGINE inspect --format '{{.Name}} {{.State.Pid}}' C...``: host pid of each
   container's init process (one call per engine; podman's ``ps`` already has it);
2. for every host process, ``readlink /proc/PID/ns/pid``; a process whose namespace is a
   container's has its pid inside in the last field of ``NSpid:`` in ``/proc/PID/status``
   (proc(5)).

The result maps, per container, namespace pid -> host pid; the listing then measures the
host pid's process tree as for any other pane (DESIGN decision 6). Reading another user's
``/proc/PID/ns/pid`` needs ptrace access (root, or the same uid for rootless podman);
processes that cannot be read are left out, so their load shows as unknown.
"""

from __future__ import annotations

import os

from atoll.islands.engine import Engine


def init_pids(engine: str, containers: list[str]) -> dict[str, int]:
    """Host pid of each running container's init (one ``inspect`` call); 0s left out."""
    if not containers:
        return {}
    res = Engine(engine).run("inspect", "--format", "{{.Name}} {{.State.Pid}}", *containers,
                             timeout=30)
    out: dict[str, int] = {}
    for line in res.text().splitlines():
        name, _, pid = line.strip().rpartition(" ")
        if pid.isdigit() and int(pid) > 0:
            out[name.lstrip("/")] = int(pid)
    return out


def _ns(pid: int | str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def _nspid(pid: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except (OSError, ValueError):
        return None
    return None


def host_pid_maps(inits: dict[str, int]) -> dict[str, dict[int, int]]:
    """``{container: {pid inside: host pid}}`` from one pass over ``/proc``."""
    by_ns: dict[str, str] = {}
    for name, pid in inits.items():
        ns = _ns(pid)
        if ns is not None:
            by_ns[ns] = name
    out: dict[str, dict[int, int]] = {name: {} for name in by_ns.values()}
    if not by_ns:
        return out
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        ns = _ns(entry)
        owner = by_ns.get(ns) if ns is not None else None
        if owner is None:
            continue
        inner = _nspid(entry)
        if inner is not None:
            out[owner][inner] = int(entry)
    return out
