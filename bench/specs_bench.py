#!/usr/bin/env python3
"""Benchmark: what the session specs add to one listing of this host.

Writes N specs (default 200, the ls budget's session count) into a throwaway state
directory, then times, median of R runs: reading and decoding them all
(:func:`atoll.service.specs.load_all`), and applying them to a listing of the same N
sessions (:func:`atoll.service.specs.reconcile`), against the floor of reading the same
files' bytes with plain ``open``/``read``. Prints milliseconds and the ratio. No tmux.

    .venv/bin/python bench/specs_bench.py [--specs 200] [--runs 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--specs", type=int, default=200)
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    state = tempfile.mkdtemp(prefix="atoll-specs-bench-")
    os.environ["XDG_STATE_HOME"] = state
    os.environ["ATOLL_HOST_STORE"] = os.path.join(state, "no-host-store")
    from atoll.core.models import HostRow, Listing, SessionRow
    from atoll.core.specs import SessionSpec
    from atoll.service import specs as store

    rows = []
    for i in range(args.specs):
        user = f"u{i % 4}-agent"
        spec = SessionSpec(name=f"s{i:03d}", agent="claude", command=["claude", "--verbose"],
                           directory="/srv/app", project="/srv/app", island="user",
                           agent_user=user, launched_by="ana",
                           created="2026-12-02T10:00:00Z")
        store.save(spec)
        rows.append(SessionRow(
            host="local", name=spec.name, agent="claude", project="/srv/app", worktree="",
            agent_user=user, launched_by="ana", island="user", status="idle",
            idle_seconds=3, created=spec.created, last_activity=None, attached=0,
            cpu_percent=None, rss_bytes=None, pid=None, command="claude", exit_status=None))
    listing = Listing(hosts=[HostRow(host="local", reachable=True)], sessions=rows)
    directory = store.store_dir()
    names = sorted(os.listdir(directory))

    def floor() -> None:
        for n in names:
            with open(directory / n, "rb") as fh:
                fh.read()

    def ours() -> None:
        specs, _ = store.load_all()
        store.reconcile(listing, specs, operator="ana", host="local",
                        answered={f"u{i}-agent" for i in range(4)}, failed=set(),
                        conversations={}, host_store=False)

    def median(fn: object) -> float:
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            fn()  # type: ignore[operator]
            times.append(time.perf_counter() - t)
        return statistics.median(times) * 1000

    f, o = median(floor), median(ours)
    print(f"specs: {args.specs}, runs: {args.runs}")
    print(f"floor (open+read each file): {f:.2f} ms")
    print(f"load_all + reconcile:        {o:.2f} ms   ratio {o / f:.1f}x")
    import shutil

    shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
