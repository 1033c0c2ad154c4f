#!/usr/bin/env python3
"""Benchmark: ``atoll ls --json`` for 200 sessions under 4 agent users vs the raw floor.

The raw floor is a shell script making the same tmux/sudo calls atoll makes (one
``list-panes -a -F`` per agent user's server and one batched ``capture-pane`` call per
server, all servers in parallel), built from atoll's own argv so both sides ask tmux for
exactly the same thing. Prints medians of N runs and the ratio (target <= 2.0).

Run as root (creates throwaway users and sudoers; removes them at the end):
    .venv/bin/python bench/ls_bench.py [--runs 7] [--per-user 50]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.proc import atoll_bin
from tests.support.users import UserFactory

from atoll.exec.runner import Sudo
from atoll.tmux.client import TmuxClient


def timed(argv: list[str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        res = subprocess.run(argv, capture_output=True)
        out.append(time.perf_counter() - t0)
        if res.returncode != 0:
            raise SystemExit(f"bench command failed: {argv[:4]}... {res.stderr[-300:]!r}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--per-user", type=int, default=50)
    ap.add_argument("--users", type=int, default=4)
    args = ap.parse_args()
    users = UserFactory()
    try:
        op = users.user(users.name("bop"))
        agents = [users.user(users.name(f"b{i}", "-agent")) for i in range(args.users)]
        users.allow(op, agents)
        t0 = time.perf_counter()
        for agent in agents:
            client = TmuxClient(Sudo(agent))
            for i in range(args.per_user):
                client.new_session(f"s{i:03d}", ["sleep", "3600"], cwd="/tmp",
                                   options={"atoll_agent": "shell", "atoll_launched_by": op})
        setup = time.perf_counter() - t0
        total = args.users * args.per_user
        env = ["env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin", f"HOME=/home/{op}", "LANG=C.UTF-8"]
        as_op = ["runuser", "-u", op, "--", *env]
        atoll_cmd = [*as_op, atoll_bin(), "ls", "--json"]
        check = subprocess.run(atoll_cmd, capture_output=True, text=True, check=True)
        rows = json.loads(check.stdout)["sessions"]
        assert len(rows) == total, f"expected {total} sessions, saw {len(rows)}"
        # the floor: the same argv atoll builds, in parallel, from a shell script
        lines = ["#!/bin/sh"]
        for agent in agents:
            client = TmuxClient(Sudo(agent))
            panes = client.list_panes()
            cap: list[list[str]] = []
            for p in panes:
                cap.append(["display-message", "-p", "-t", p.pane_id, "\x1eatoll-pane\x1e#{pane_id}"])
                cap.append(["capture-pane", "-p", "-t", p.pane_id])
            list_argv = client.list_panes_argv()
            cap_argv = client.runner.wrap(client.argv(*cap))
            lines.append(f"( {shlex.join(list_argv)} >/dev/null; "
                         f"{shlex.join(cap_argv)} >/dev/null ) &")
        lines.append("wait")
        script = Path(tempfile.mkdtemp()) / "floor.sh"
        script.write_text("\n".join(lines) + "\n")
        os.chmod(script.parent, 0o755)
        os.chmod(script, 0o755)
        floor_cmd = [*as_op, "/bin/sh", str(script)]
        timed(floor_cmd, 2)
        timed(atoll_cmd, 2)  # warm caches, and the CPU sample atoll keeps between calls
        floor = timed(floor_cmd, args.runs)
        ours = timed(atoll_cmd, args.runs)
        mf, mo = statistics.median(floor), statistics.median(ours)
        print(f"sessions: {total} under {args.users} agent users (setup {setup:.1f}s)")
        print(f"raw floor (shell, same tmux/sudo calls): median {mf * 1000:.0f} ms over {args.runs}")
        print(f"atoll ls --json:                         median {mo * 1000:.0f} ms over {args.runs}")
        print(f"ratio: {mo / mf:.2f} (target <= 2.0)")
        py = timed([*as_op, sys.executable, "-c", "import atoll.cli.main"], args.runs)
        print(f"python + atoll import alone:             median {statistics.median(py) * 1000:.0f} ms")
    finally:
        users.cleanup()


if __name__ == "__main__":
    main()
