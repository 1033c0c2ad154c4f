"""CPU and memory of pane process trees, from process-table samples (DESIGN decision 6).

A sample maps pid -> (ppid, start, cpu_seconds, rss_bytes), where ``start`` identifies the
process across samples (pids are reused) and ``cpu_seconds`` is user+system time. CPU% of a
tree is the growth of its processes' CPU time between two samples divided by the wall time
between them (100 = one core busy), not a lifetime average.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import NamedTuple


class Proc(NamedTuple):
    ppid: int
    start: float
    cpu_seconds: float
    rss_bytes: int


Sample = Mapping[int, Proc]


def children_map(sample: Sample) -> dict[int, list[int]]:
    """ppid -> child pids."""
    kids: dict[int, list[int]] = defaultdict(list)
    for pid, proc in sample.items():
        kids[proc.ppid].append(pid)
    return kids


def tree(root: int, kids: Mapping[int, list[int]], sample: Sample) -> list[int]:
    """``root`` and all its descendants present in ``sample`` (iterative, cycle-safe)."""
    if root not in sample:
        return []
    out: list[int] = []
    seen: set[int] = set()
    stack = [root]
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        out.append(pid)
        stack.extend(kids.get(pid, ()))
    return out


def rss_total(pids: Iterable[int], sample: Sample) -> int:
    """Sum of RSS over ``pids`` in bytes."""
    return sum(sample[p].rss_bytes for p in pids if p in sample)


def cpu_percent(
    pids: Iterable[int], before: Sample, after: Sample, seconds: float
) -> float | None:
    """CPU% of ``pids`` between two samples ``seconds`` apart; None if ``seconds`` <= 0.

    A process absent from ``before`` (or a reused pid, detected by ``start``) counts with all
    its CPU time, since it started within the window.
    """
    if seconds <= 0:
        return None
    used = 0.0
    for pid in pids:
        now = after.get(pid)
        if now is None:
            continue
        then = before.get(pid)
        if then is not None and then.start == now.start:
            used += max(0.0, now.cpu_seconds - then.cpu_seconds)
        else:
            used += now.cpu_seconds
    return round(100.0 * used / seconds, 1)
