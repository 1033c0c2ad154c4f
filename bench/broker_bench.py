"""Broker speed (issue 16 point 7, shared/DESIGN.md "Performance budgets"): reading through
a grant against the floor.

- small files: N files of 1 KiB (default 10,000) read through the broker, against the floor
  of reading the same files directly plus the same number of ledger appends (two per file:
  the open record before the first byte, the release record with the hash). Budget: 3x.
- one large file (default 1 GiB) read through the broker, against a direct read plus
  SHA-256 of it. Budget: 1.5x.

The broker runs as in production (``python -m atoll.broker.daemon``, started by
:func:`atoll.broker.control.start_broker`), here serving root on a private mountpoint
(the container route: ``allow_other``, uid checked by the broker). Run as root, under the
heavy lock; prints medians of ``--runs`` runs, files/s, MB/s and the ratios.

    flock /tmp/atoll-heavy.lock .venv/bin/python bench/broker_bench.py [--runs 3]
        [--files 10000] [--big-mib 1024] [--dir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from atoll.broker import control
from atoll.core.broker import BrokerPlace
from atoll.ledger import Actor, Audit, Ledger

CHUNK = 1 << 20


def make_tree(top: Path, files: int, big_mib: int) -> None:
    small = top / "small"
    for i in range(files):
        d = small / f"d{i // 500:03d}"
        if i % 500 == 0:
            d.mkdir(parents=True)
        (d / f"f{i:05d}.txt").write_bytes(os.urandom(1024))
    block = os.urandom(CHUNK)
    with (top / "big.bin").open("wb") as fh:
        for _ in range(big_mib):
            fh.write(block)


def read_all(path: Path) -> int:
    total = 0
    fd = os.open(path, os.O_RDONLY)
    try:
        while chunk := os.read(fd, CHUNK):
            total += len(chunk)
    finally:
        os.close(fd)
    return total


def small_paths(root: Path) -> list[Path]:
    return sorted(p for p in (root / "small").rglob("*.txt"))


def floor_small(top: Path, audit: Audit) -> float:
    """Direct reads of every small file plus two ledger appends per file (seconds)."""
    paths = small_paths(top)
    start = time.perf_counter()
    for p in paths:
        rec = audit.event("crossing.read", {"path": str(p)}, "intent", {})
        digest = hashlib.sha256()
        fd = os.open(p, os.O_RDONLY)
        while chunk := os.read(fd, CHUNK):
            digest.update(chunk)
        os.close(fd)
        audit.event("crossing.read", {"path": str(p)}, "ok",
                    {"intent": rec["seq"], "sha256": digest.hexdigest()})
    return time.perf_counter() - start


def broker_small(mnt: Path) -> float:
    paths = small_paths(mnt / "bench")
    start = time.perf_counter()
    for p in paths:
        read_all(p)
    return time.perf_counter() - start


def floor_big(top: Path) -> float:
    start = time.perf_counter()
    digest = hashlib.sha256()
    fd = os.open(top / "big.bin", os.O_RDONLY)
    while chunk := os.read(fd, CHUNK):
        digest.update(chunk)
    os.close(fd)
    return time.perf_counter() - start


def broker_big(mnt: Path) -> float:
    start = time.perf_counter()
    read_all(mnt / "bench" / "big.bin")
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--big-mib", type=int, default=1024)
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (the bench mounts a FUSE filesystem)")
    work = Path(tempfile.mkdtemp(prefix="atoll-broker-bench-", dir=args.dir))
    top, mnt = work / "bench", work / "mnt"
    top.mkdir()
    mnt.mkdir(mode=0o700)
    make_tree(top, args.files, args.big_mib)
    floor_ledger = Audit(Ledger(work / "floor-ledger.jsonl"), "bench", Actor.current())
    place = BrokerPlace(f"bench:{work.name}", str(mnt), str(mnt), (0,), mount_as=None)
    control.start_broker(place, ledger=str(work / "broker-ledger.jsonl"), host="bench",
                         actor=Actor.current().to_json())
    try:
        control.call(place.key, {"op": "grant", "path": str(top), "rw": False,
                                 "name": "bench", "by": {}, "seq": None})
        read_all(top / "big.bin")  # warm the page cache for both sides alike
        for p in small_paths(top):
            read_all(p)
        fs, bs, fb, bb = [], [], [], []
        for _ in range(args.runs):
            fs.append(floor_small(top, floor_ledger))
            bs.append(broker_small(mnt))
            fb.append(floor_big(top))
            bb.append(broker_big(mnt))
        n, mib = args.files, args.big_mib
        med = statistics.median
        print(f"small files: {n} x 1 KiB, median of {args.runs} runs")
        print(f"  floor (direct read + sha256 + 2 ledger appends each): {med(fs):.2f} s, "
              f"{n / med(fs):.0f} files/s")
        print(f"  broker (FUSE read, its own 2 records each):           {med(bs):.2f} s, "
              f"{n / med(bs):.0f} files/s")
        print(f"  ratio broker/floor: {med(bs) / med(fs):.2f}x (budget 3x)")
        print(f"large file: {mib} MiB, median of {args.runs} runs")
        print(f"  floor (direct read + sha256): {med(fb):.2f} s, {mib / med(fb):.0f} MiB/s")
        print(f"  broker (FUSE read + its sha256 + 2 records): {med(bb):.2f} s, "
              f"{mib / med(bb):.0f} MiB/s")
        print(f"  ratio broker/floor: {med(bb) / med(fb):.2f}x (budget 1.5x)")
    finally:
        control.stop_broker(place.key)
        time.sleep(0.5)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
