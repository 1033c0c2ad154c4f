#!/usr/bin/env python3
"""Benchmark: ``atoll ls --json`` for 200 sessions under 4 agent users vs the raw floor.

The raw floor is a shell script making exactly the tmux/sudo calls atoll makes, built from
atoll's own argv, all servers in parallel:

- warm (the steady state, what the target is judged on): one ``list-panes -a -F`` per
  server (the operator's own and each agent user's). Screens whose pane output has not
  moved since the last listing come from atoll's screen cache, so no capture is made.
- cold (first listing, screen cache removed before each run): the same plus one batched
  ``capture-pane`` per server.

``atoll ls --json`` is timed as a user runs it (answered by the resident listing helper
that the first listing starts, atoll.cli.resident) and one-shot (``ATOLL_NO_HELPER=1``:
Python start-up and imports on every call). Prints medians of N runs and the ratios
(target <= 2.0), and where the one-shot time goes (Python start-up and imports alone).

Run as root (creates throwaway users and sudoers; removes them at the end):
    .venv/bin/python bench/ls_bench.py [--runs 15] [--per-user 50]
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.proc import atoll_bin
from tests.support.users import UserFactory

from atoll.exec.runner import Local, Sudo
from atoll.tmux.client import TmuxClient


def timed(argv: list[str], runs: int, before: Callable[[], None] | None = None) -> list[float]:
    out = []
    for _ in range(runs):
        if before is not None:
            before()
        t0 = time.perf_counter()
        res = subprocess.run(argv, capture_output=True)
        out.append(time.perf_counter() - t0)
        if res.returncode != 0:
            raise SystemExit(f"bench command failed: {argv[:4]}... {res.stderr[-300:]!r}")
    return out


def wait_for_helper(user: str, timeout: float = 10.0) -> int:
    """Pid of ``user``'s resident listing helper (started by the warm-up listings)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        res = subprocess.run(["pgrep", "-u", user, "-f", "atoll.cli.resident_server"],
                             capture_output=True, text=True)
        pids = res.stdout.split()
        if len(pids) == 1:
            return int(pids[0])
        time.sleep(0.1)
    raise SystemExit(f"no single resident helper for {user} (saw {res.stdout.split()})")


def helper_times(user: str) -> list[float]:
    """Milliseconds per answer, from the helper's own log lines (atoll.cli.resident_server)."""
    uid = pwd.getpwnam(user).pw_uid
    out = []
    for log in Path(f"/tmp/atoll-{uid}").glob("ls-*.log"):
        for line in log.read_text().splitlines():
            if " answered " in line and line.endswith(" ms"):
                out.append(float(line.rsplit(" ", 2)[-2]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=15)
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
        oneshot_cmd = [*as_op, "ATOLL_NO_HELPER=1", atoll_bin(), "ls", "--json"]
        check = subprocess.run(atoll_cmd, capture_output=True, text=True, check=True)
        rows = json.loads(check.stdout)["sessions"]
        assert len(rows) == total, f"expected {total} sessions, saw {len(rows)}"
        # the floors: the same argv atoll builds, in parallel, from a shell script
        warm_lines, cold_lines = ["#!/bin/sh"], ["#!/bin/sh"]
        own = TmuxClient(Local())
        warm_lines.append(f"( {shlex.join(own.list_panes_argv())} >/dev/null 2>&1 ) &")
        cold_lines.append(warm_lines[-1])
        for agent in agents:
            client = TmuxClient(Sudo(agent))
            panes = client.list_panes()
            cap: list[list[str]] = []
            for p in panes:
                cap.append(["display-message", "-p", "-t", p.pane_id, "\x1eatoll-pane\x1e#{pane_id}"])
                cap.append(["capture-pane", "-p", "-t", p.pane_id])
            list_argv = shlex.join(client.list_panes_argv())
            cap_argv = shlex.join(client.runner.wrap(client.argv(*cap)))
            warm_lines.append(f"( {list_argv} >/dev/null ) &")
            cold_lines.append(f"( {list_argv} >/dev/null; {cap_argv} >/dev/null ) &")
        tmp = Path(tempfile.mkdtemp())
        os.chmod(tmp, 0o755)
        scripts = {}
        for name, lines in (("warm", warm_lines), ("cold", cold_lines)):
            script = tmp / f"floor-{name}.sh"
            script.write_text("\n".join([*lines, "wait"]) + "\n")
            os.chmod(script, 0o755)
            scripts[name] = [*as_op, "/bin/sh", str(script)]
        screens = Path(f"/home/{op}/.cache/atoll/screens.json")

        def forget_screens() -> None:
            screens.unlink(missing_ok=True)

        py = [*as_op, sys.executable, "-c", "pass"]
        imports = [*as_op, sys.executable, "-c",
                   "import atoll.cli.main, atoll.service.listing, atoll.fleet.local, "
                   "atoll.config; import os; os._exit(0)"]
        for argv in (scripts["warm"], scripts["cold"], atoll_cmd, oneshot_cmd):
            timed(argv, 2)  # warm caches, and the CPU sample atoll keeps between calls
        helper = wait_for_helper(op)
        # interleaved, so that a slow moment of the machine hits every command alike
        got: dict[str, list[float]] = {k: [] for k in (
            "warm", "atoll", "cold", "atoll-cold", "oneshot", "oneshot-cold", "py", "imp")}
        inside: dict[str, list[float]] = {"warm": [], "cold": []}
        first = len(helper_times(op))

        def last_answer(user: str, done: int) -> float:
            times = helper_times(user)
            if len(times) != first + done + 1:
                raise SystemExit("a timed listing was not answered by the resident helper")
            return times[-1]

        for _ in range(args.runs):
            got["warm"] += timed(scripts["warm"], 1)
            got["atoll"] += timed(atoll_cmd, 1)
            inside["warm"].append(last_answer(op, len(inside["warm"]) + len(inside["cold"])))
            got["oneshot"] += timed(oneshot_cmd, 1)
            got["cold"] += timed(scripts["cold"], 1)
            got["atoll-cold"] += timed(atoll_cmd, 1, before=forget_screens)
            inside["cold"].append(last_answer(op, len(inside["warm"]) + len(inside["cold"])))
            got["oneshot-cold"] += timed(oneshot_cmd, 1, before=forget_screens)
            got["py"] += timed(py, 1)
            got["imp"] += timed(imports, 1)
        if wait_for_helper(op) != helper:
            raise SystemExit("the resident helper was restarted during the runs")
        med = {k: statistics.median(v) * 1000 for k, v in got.items()}
        print(f"sessions: {total} under {args.users} agent users (setup {setup:.1f}s), "
              f"medians of {args.runs} interleaved runs")
        print(f"warm  floor (list-panes per server):        {med['warm']:6.1f} ms")
        print(f"      atoll ls --json:                      {med['atoll']:6.1f} ms   "
              f"ratio {med['atoll'] / med['warm']:.2f} (target <= 2.0)")
        print(f"      ... one-shot (ATOLL_NO_HELPER=1):     {med['oneshot']:6.1f} ms   "
              f"ratio {med['oneshot'] / med['warm']:.2f}")
        print(f"cold  floor (list-panes + capture-pane):    {med['cold']:6.1f} ms")
        print(f"      atoll ls --json, no screen cache:     {med['atoll-cold']:6.1f} ms   "
              f"ratio {med['atoll-cold'] / med['cold']:.2f}")
        print(f"      ... one-shot (ATOLL_NO_HELPER=1):     {med['oneshot-cold']:6.1f} ms   "
              f"ratio {med['oneshot-cold'] / med['cold']:.2f}")
        print(f"where the time goes: python start-up {med['py']:.1f} ms; one-shot: + atoll's "
              f"imports {med['imp'] - med['py']:.1f} ms")
        print(f"inside the helper, accepting a request to sending its answer: warm "
              f"{statistics.median(inside['warm']):.1f} ms, cold "
              f"{statistics.median(inside['cold']):.1f} ms")
    finally:
        users.cleanup()


if __name__ == "__main__":
    main()
