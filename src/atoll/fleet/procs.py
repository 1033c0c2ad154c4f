"""Process-table scans for load figures: one scan per host per refresh (DESIGN decision 6).

The CLI is one-shot, so the previous sample is kept in the operator's runtime directory
(``$XDG_CACHE_HOME/atoll/procs.json``, 0600). If it is between ``MIN_WINDOW`` and
``MAX_AGE`` seconds old, CPU% covers the time since then; otherwise atoll re-reads only the
pane trees' processes after ``FALLBACK_WINDOW`` seconds. The TUI keeps its previous sample
in memory and never waits.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import msgspec
import platformdirs
import psutil

from atoll.core.load import Proc, Sample

MIN_WINDOW = 0.25
MAX_AGE = 30.0
FALLBACK_WINDOW = 0.5
_ATTRS = ["pid", "ppid", "create_time", "cpu_times", "memory_info"]


def scan() -> dict[int, Proc]:
    """Every process this user can see: pid -> Proc."""
    out: dict[int, Proc] = {}
    for p in psutil.process_iter(_ATTRS, ad_value=None):
        info = p.info
        ct, mi = info["cpu_times"], info["memory_info"]
        if ct is None or mi is None:
            continue
        out[info["pid"]] = Proc(
            info["ppid"] or 0, info["create_time"] or 0.0, ct.user + ct.system, mi.rss
        )
    return out


def rescan(pids: list[int]) -> dict[int, Proc]:
    """Re-read only ``pids`` (the fallback second sample)."""
    out: dict[int, Proc] = {}
    for pid in pids:
        try:
            p = psutil.Process(pid)
            with p.oneshot():
                ct = p.cpu_times()
                out[pid] = Proc(p.ppid(), p.create_time(), ct.user + ct.system, p.memory_info().rss)
        except (psutil.Error, OSError):
            continue
    return out


class _Cached(msgspec.Struct):
    taken: float
    procs: dict[int, tuple[int, float, float, int]]


def _cache_path() -> Path:
    return platformdirs.user_cache_path("atoll") / "procs.json"


def load_previous(now: float) -> tuple[float, Sample] | None:
    """The cached sample and its age, if it is usable for a CPU window ending ``now``."""
    try:
        cached = msgspec.json.decode(_cache_path().read_bytes(), type=_Cached)
    except (OSError, msgspec.MsgspecError):
        return None
    age = now - cached.taken
    if not MIN_WINDOW <= age <= MAX_AGE:
        return None
    return age, {pid: Proc(*v) for pid, v in cached.procs.items()}


def save(now: float, sample: Sample, pids: list[int]) -> None:
    """Keep the pane-tree part of ``sample`` for the next call (best effort)."""
    path = _cache_path()
    keep = {pid: tuple(sample[pid]) for pid in pids if pid in sample}
    data = msgspec.json.encode({"taken": now, "procs": keep})
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)


def wall_clock() -> float:
    return time.time()
