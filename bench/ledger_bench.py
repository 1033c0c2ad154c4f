"""Ledger speed: appends per second (fsync'd; 1 and 4 processes) and lines verified per
second on a 200,000-line ledger. Prints medians of repeated runs and ratios against the raw
floor (a bare write+fsync per line; sha256 over every line) and the 100,000 lines/s budget.

    .venv/bin/python bench/ledger_bench.py [--runs 5] [--appends 2000] [--dir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import os
import statistics
import tempfile
import time
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path

from atoll.core.chain import ZERO_HASH, build_line, line_hash, verify
from atoll.ledger import Actor, Audit, Ledger

VERIFY_TARGET = 100_000  # lines/s, shared/DESIGN.md "Performance budgets"
VERIFY_LINES = 200_000


def sample_event(i: int) -> dict[str, object]:
    """A record shaped like the service's (about 400 bytes)."""
    return {
        "time": "2026-11-20T12:00:00.123Z",
        "host": "devbox",
        "actor": {"uid": 1000, "user": "wes", "sudo_user": None, "ssh_client": "10.0.0.5"},
        "action": "session.new",
        "target": {"session": f"fix-bug-{i}", "agent_user": "wes-agent", "island": "user"},
        "outcome": "intent",
        "details": {"agent": "claude", "dir": "/home/wes/src/app", "command": ["claude"]},
        "correlation": "3f2a9c01d4e5b6a7",
    }


def raw_appends(path: Path, n: int) -> float:
    """The floor: one write + fsync per line, no lock, no tail read. Returns lines/s."""
    line = build_line(sample_event(0), 1, ZERO_HASH)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    start = time.perf_counter()
    for _ in range(n):
        os.write(fd, line)
        os.fsync(fd)
    elapsed = time.perf_counter() - start
    os.close(fd)
    return n / elapsed


def ledger_appends(path: Path, n: int) -> float:
    audit = Audit(Ledger(path), "devbox", Actor(uid=1000, user="wes"))
    start = time.perf_counter()
    for i in range(n):
        audit.event("session.new", {"session": f"s{i}"}, "intent", {"agent": "claude"})
    return n / (time.perf_counter() - start)


def _worker(path: str, n: int, go: MpEvent) -> None:
    go.wait()
    ledger_appends(Path(path), n)


def parallel_appends(path: Path, procs: int, n_each: int) -> float:
    ctx = mp.get_context("fork")
    go = ctx.Event()
    workers = [ctx.Process(target=_worker, args=(str(path), n_each, go)) for _ in range(procs)]
    for w in workers:
        w.start()
    time.sleep(0.2)
    start = time.perf_counter()
    go.set()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    assert all(w.exitcode == 0 for w in workers)
    return procs * n_each / elapsed


def build_ledger(n: int) -> bytes:
    out: list[bytes] = []
    prev = ZERO_HASH
    for i in range(n):
        line = build_line(sample_event(i), i + 1, prev)
        out.append(line)
        prev = line_hash(line)
    return b"".join(out)


def hash_floor(data: bytes) -> float:
    """The floor for verify: sha256 of every line, nothing else. Returns lines/s."""
    start = time.perf_counter()
    lines = data.split(b"\n")
    lines.pop()
    for line in lines:
        hashlib.sha256(line + b"\n").hexdigest()
    return len(lines) / (time.perf_counter() - start)


def timed_verify(path: Path) -> float:
    """Read the file through Ledger and verify it. Returns lines/s."""
    start = time.perf_counter()
    report = verify(Ledger(path).read_bytes())
    elapsed = time.perf_counter() - start
    assert report.ok and report.lines == VERIFY_LINES, report.summary()
    return VERIFY_LINES / elapsed


def median_of(runs: int, fn: object) -> float:
    assert callable(fn)
    return statistics.median(fn() for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--appends", type=int, default=2000, help="appends per run")
    parser.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    args = parser.parse_args()
    runs = max(5, args.runs)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        base = Path(tmp)
        counter = iter(range(10**9))

        def fresh() -> Path:
            return base / f"l{next(counter)}.jsonl"

        raw = median_of(runs, lambda: raw_appends(fresh(), args.appends))
        one = median_of(runs, lambda: ledger_appends(fresh(), args.appends))
        four = median_of(runs, lambda: parallel_appends(fresh(), 4, args.appends // 4))
        print(f"appends, fsync'd (median of {runs} runs of {args.appends}):")
        print(f"  raw write+fsync floor   {raw:10.0f} lines/s")
        print(f"  Ledger, 1 process       {one:10.0f} appends/s  ({one / raw:.2f}x the floor)")
        print(f"  Ledger, 4 processes     {four:10.0f} appends/s  ({four / raw:.2f}x the floor)")

        data = build_ledger(VERIFY_LINES)
        path = base / "verify.jsonl"
        path.write_bytes(data)
        floor = median_of(runs, lambda: hash_floor(data))
        rate = median_of(runs, lambda: timed_verify(path))
        print(f"verify, {VERIFY_LINES} lines ({len(data) / 1e6:.1f} MB, median of {runs} runs):")
        print(f"  sha256-per-line floor   {floor:10.0f} lines/s")
        print(f"  read + verify           {rate:10.0f} lines/s  ({rate / floor:.2f}x the floor, "
              f"{rate / VERIFY_TARGET:.2f}x the {VERIFY_TARGET} lines/s target)")


if __name__ == "__main__":
    main()
