"""Many processes appending at once, and a writer killed mid-loop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from atoll.core.chain import ProblemKind, verify
from atoll.ledger import Ledger

WRITER = """
import sys
from atoll.ledger import Ledger
ledger = Ledger(sys.argv[1])
writer, count, pad = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
go = sys.argv[5]
import os, time
while not os.path.exists(go):
    time.sleep(0.001)
i = 0
while count < 0 or i < count:
    ledger.append({"action": "session.type", "details": {"writer": writer, "i": i,
                   "pad": "p" * pad}})
    i += 1
"""


def start_writer(
    path: Path, writer: int, count: int, pad: int, go: Path
) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(writer), str(count),
                             str(pad), str(go)])


@pytest.mark.slow
def test_eight_processes_append_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    go = tmp_path / "go"
    procs = [start_writer(path, w, 1000, 100, go) for w in range(8)]
    go.touch()  # release them together
    for p in procs:
        assert p.wait(timeout=600) == 0
    data = Ledger(path).read_bytes()
    report = verify(data)
    assert report.ok, report.summary()
    assert report.lines == 8000 and report.last_seq == 8000
    seen: dict[int, list[int]] = {w: [] for w in range(8)}
    for n, line in enumerate(data.splitlines(), start=1):
        rec = json.loads(line)
        assert rec["seq"] == n
        seen[rec["details"]["writer"]].append(rec["details"]["i"])
    assert all(seen[w] == list(range(1000)) for w in range(8))
    # the writers really interleaved (they ran at the same time)
    firsts = [json.loads(x)["details"]["writer"] for x in data.splitlines()[:4000]]
    assert len(set(firsts)) > 1


@pytest.mark.parametrize("pad", [200, 300_000])
def test_sigkill_during_append_loop(tmp_path: Path, pad: int) -> None:
    """Whatever the kill leaves, verify says exactly that: intact, or a torn line at the
    seq after the last complete one; the next append repairs a torn tail."""
    path = tmp_path / "ledger.jsonl"
    go = tmp_path / "go"
    go.touch()
    proc = start_writer(path, 0, -1, pad, go)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if path.exists() and path.stat().st_size > 200 * pad:
                break
            time.sleep(0.005)
        else:
            pytest.fail("the writer did not get going")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    data = path.read_bytes()
    complete = data.count(b"\n")
    report = verify(data)
    if data.endswith(b"\n"):
        assert report.ok, report.summary()
        assert report.lines == complete
    else:
        assert [(p.kind, p.seq) for p in report.problems] == [(ProblemKind.TORN, complete + 1)]
        assert f"first bad seq {complete + 1}: torn" in report.summary()
    record = Ledger(path).append({"action": "session.new"})
    after = verify(Ledger(path).read_bytes())
    assert after.ok, after.summary()
    assert record["seq"] == complete + (1 if data.endswith(b"\n") else 2)
