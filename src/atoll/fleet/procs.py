"""Process-table scans for load figures: one scan per host per refresh (DESIGN decision 6).

The CLI is one-shot, so its last few samples (pane-tree processes only) are kept in the
operator's cache directory (``$XDG_CACHE_HOME/atoll/procs.json``, 0600). CPU% covers the
time since the youngest kept sample that is between ``MIN_WINDOW`` and ``MAX_AGE`` seconds
old; when there is none, atoll re-reads only the pane trees' processes after
``FALLBACK_WINDOW`` seconds. The TUI keeps its previous sample in memory and never waits.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import msgspec
import platformdirs

from atoll.core.load import Proc, Sample
from atoll.exec.files import UnsafeFileError, read_regular
from atoll.rundir import replace_private

MIN_WINDOW = 0.25
MAX_AGE = 30.0
FALLBACK_WINDOW = 0.5
_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _read_stat(pid: int) -> Proc | None:
    """One ``/proc/PID/stat`` read (proc(5)): ppid (field 4), utime+stime (14, 15, clock
    ticks), starttime (22, ticks since boot; identifies the process across pid reuse) and
    rss (24, pages). The command name (field 2) may hold spaces and parentheses, so fields
    are counted from the last ``)``.

    Why not psutil: for 507 processes this single read took 7-9 ms where psutil's
    ``process_iter`` (stat + statm per process) took 40-50 ms on this 2-core machine, and
    ``atoll ls`` scans on every call (bench/ls_bench.py). ``os.open``/``os.read`` instead
    of a buffered file object halves it again (2-3 ms vs 4-5 ms for 471 processes).
    """
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        data = os.read(fd, 4096)  # one read: the kernel writes the whole line at once
    except OSError:
        return None
    finally:
        os.close(fd)
    f = data[data.rfind(b")") + 2 :].split()
    try:
        return Proc(int(f[1]), float(f[19]), (int(f[11]) + int(f[12])) / _TICK, int(f[21]) * _PAGE)
    except (IndexError, ValueError):
        return None


def scan() -> dict[int, Proc]:
    """Every process in this host's /proc: pid -> Proc."""
    out: dict[int, Proc] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            proc = _read_stat(int(name))
            if proc is not None:
                out[int(name)] = proc
    return out


def rescan(pids: list[int]) -> dict[int, Proc]:
    """Re-read only ``pids`` (the fallback second sample)."""
    out: dict[int, Proc] = {}
    for pid in pids:
        proc = _read_stat(pid)
        if proc is not None:
            out[pid] = proc
    return out


KEEP_SAMPLES = 6


class _Cached(msgspec.Struct):
    taken: float
    procs: dict[int, tuple[int, float, float, int]]


_memo: tuple[tuple[int, int, int], list[_Cached]] | None = None
"""The samples last read or written by this process, with the file's (inode, size, mtime
in ns) then: a resident process (the listing helper, the TUI) decodes the file again only
when another process has replaced it (~0.7 ms a decode for 6 samples of 400 processes).
Every write is a new file (``os.replace``), so its identity changes with each one."""


def _identity(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_ino, st.st_size, st.st_mtime_ns


MAX_CACHE_BYTES = 16 << 20
"""The CPU sample cache holds one small entry per process; a larger file is ignored."""


def _read() -> list[_Cached]:
    global _memo
    path = _cache_path()
    try:
        ident = _identity(os.stat(path))
        if _memo is not None and _memo[0] == ident:
            return _memo[1]
        data = read_regular(path, MAX_CACHE_BYTES)
        samples = msgspec.json.decode(data, type=list[_Cached])
    except (OSError, UnsafeFileError, msgspec.MsgspecError):
        return []
    if _identity(os.stat(path)) == ident:
        _memo = (ident, samples)
    return samples


def _cache_path() -> Path:
    return platformdirs.user_cache_path("atoll") / "procs.json"


def load_previous(now: float) -> tuple[float, Sample] | None:
    """The cached sample and its age, if it is usable for a CPU window ending ``now``."""
    usable = [c for c in _read() if MIN_WINDOW <= now - c.taken <= MAX_AGE]
    if not usable:
        return None
    best = max(usable, key=lambda c: c.taken)
    return now - best.taken, {pid: Proc(*v) for pid, v in best.procs.items()}


def save(now: float, sample: Sample, pids: list[int]) -> None:
    """Keep the pane-tree part of ``sample`` for the next call (best effort)."""
    global _memo
    path = _cache_path()
    keep = {pid: (p.ppid, p.start, p.cpu_seconds, p.rss_bytes)
            for pid in pids if (p := sample.get(pid)) is not None}
    kept = [c for c in _read() if 0 <= now - c.taken <= MAX_AGE][-(KEEP_SAMPLES - 1):]
    data = msgspec.json.encode([*kept, _Cached(now, keep)])
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        written = _identity(replace_private(str(path), data))
        _memo = (written, [*kept, _Cached(now, keep)])


def wall_clock() -> float:
    return time.time()
