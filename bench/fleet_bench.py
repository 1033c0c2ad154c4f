"""Fleet fan-out bench: N test hosts queried in parallel vs 1 host, and per-call latency
with and without a warm ControlMaster. Prints medians (milliseconds) and ratios.

Run as root (it builds test hosts, see docs/hosts.md):
    .venv/bin/python bench/fleet_bench.py [--hosts 8] [--runs 7]

Two remote answers are measured:
- ``atoll``: the real ``atoll ls --json --here`` (a Python process per query). All test
  hosts share this machine's CPUs, so N parallel answers compete for the same cores; real
  hosts would not;
- ``canned``: a fake ``atoll`` that prints a fixed listing (no CPU to speak of), which
  isolates the fan-out machinery (ssh over the master, threads, validation).
Target (shared/DESIGN.md "Fleet"): N hosts in about the time of one, ratio <= 1.5.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _interleaved(fns: dict[str, Callable[[], object]], runs: int) -> dict[str, float]:
    """Median milliseconds of each function; runs are interleaved (A B C A B C ...) so that
    load from elsewhere on the machine hits every figure alike."""
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(runs):
        for key, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            samples[key].append((time.perf_counter() - t0) * 1000)
    return {k: statistics.median(v) for k, v in samples.items()}


def inner(aliases: list[str], runs: int) -> dict[str, float]:
    """Measurements, run as the operator (its ssh config, keys and control dir)."""
    from atoll.core.config import HostConfig
    from atoll.fleet.remote import LS_ARGV, query_host, query_hosts
    from atoll.fleet.sshctl import control_dir, drop_master, ssh_for

    hosts = [HostConfig(name=a, ssh=a) for a in aliases]
    cdir = control_dir()
    ssh = ssh_for(aliases[0], 60, cdir)
    raw = [ssh_for(a, 60, cdir).wrap(LS_ARGV) for a in aliases]

    def fleet(subset: list[HostConfig]) -> None:
        bad = [r for r, _ in query_hosts(subset, 60) if r.error]
        if bad:
            raise SystemExit(f"bench: host failed: {bad}")

    def floor(argvs: list[list[str]]) -> None:
        """The raw floor: the same ssh commands, started together, output read."""
        procs = [subprocess.Popen(a, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                 for a in argvs]
        for proc in procs:
            proc.communicate()

    def cold(fn: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            drop_master(ssh)
            fn()
        return run

    fleet(hosts)  # warm every master
    out = _interleaved({
        "one": lambda: fleet(hosts[:1]),
        "all": lambda: fleet(hosts),
        "floor_one": lambda: floor(raw[:1]),
        "floor_all": lambda: floor(raw),
    }, runs)
    true_argv = ssh.wrap(["true"])
    out |= _interleaved({
        "call_warm": lambda: query_host(hosts[0], 60, cdir=cdir),
        "call_cold": cold(lambda: query_host(hosts[0], 60, cdir=cdir)),
        "true_warm": lambda: floor([true_argv]),
        "true_cold": cold(lambda: floor([true_argv])),
    }, runs)
    return out


CANNED = json.dumps({"hosts": [{"host": "local", "reachable": True}], "sessions": [{
    "host": "local", "name": f"s{i}", "agent": "shell", "project": "/p", "worktree": "",
    "agent_user": "op", "launched_by": "op", "island": "user", "status": "idle",
    "idle_seconds": 1, "created": "2026-11-20T12:00:00Z",
    "last_activity": "2026-11-20T12:00:00Z", "attached": 0, "cpu_percent": 0.0,
    "rss_bytes": 1, "pid": 10 + i, "command": "sh", "exit_status": None} for i in range(3)]})


def _report(title: str, m: dict[str, float], count: int) -> None:
    print(f"\n{title}")
    print(f"  {'':34}{'atoll (ms)':>12}{'raw floor (ms)':>16}{'atoll/floor':>13}")
    for key, label in (("one", "1 host, warm master"), ("all", f"{count} hosts in parallel")):
        print(f"  {label:34}{m[key]:12.1f}{m['floor_' + key]:16.1f}"
              f"{m[key] / m['floor_' + key]:13.2f}")
    print(f"  {f'{count} hosts / 1 host':34}{m['all'] / m['one']:12.2f}"
          f"{m['floor_all'] / m['floor_one']:16.2f}      (target <= 1.5)")
    print(f"  per call, warm master {m['call_warm']:.1f} ms; cold (new connection) "
          f"{m['call_cold']:.1f} ms; raw `ssh HOST true` warm {m['true_warm']:.1f} ms, "
          f"cold {m['true_cold']:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=8)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--delay-ms", type=int, default=20,
                        help="per-direction delay of the third series (0: skip it)")
    parser.add_argument("--inner", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner is not None:
        json.dump(inner(args.inner, args.runs), sys.stdout)
        return
    sys.path.insert(0, str(REPO))
    from tests.hosts.testbed import Testbed

    t0 = time.monotonic()
    bed = Testbed(operator="benchop")
    try:
        hosts = [bed.add_host(f"bench{i}") for i in range(args.hosts)]
        for host in hosts:
            for i in range(3):
                host.tmux_session("benchop", f"s{i}")
        setup = time.monotonic() - t0
        build = ", ".join(f"{k} {v:.2f}s" for k, v in bed.timings.items()
                          if not k.startswith("host:"))
        boot = statistics.median(v for k, v in bed.timings.items() if k.startswith("host:"))
        print(f"fleet bench: {args.hosts} hosts, {args.runs} runs per figure, medians; "
              f"setup {setup:.1f} s ({build}, per host {boot:.2f} s)")
        cmd = [sys.executable, str(Path(__file__).resolve()), "--runs", str(args.runs),
               "--inner", *(h.name for h in hosts)]

        def measure() -> dict[str, float]:
            proc = bed.operator.run(cmd, timeout=1800)
            if proc.returncode != 0:
                raise SystemExit(proc.stderr.decode())
            result: dict[str, float] = json.loads(proc.stdout)
            return result

        _report("remote answer: real `atoll ls --json --here` (all hosts share this "
                "machine's CPUs)", measure(), args.hosts)
        for host in hosts:
            host.write_file("/usr/local/share/canned", CANNED)
            host.install_fake_atoll("#!/bin/sh\nexec cat /usr/local/share/canned\n")
        _report("remote answer: canned listing (fan-out machinery only)", measure(),
                args.hosts)
        if args.delay_ms:
            bed.operator.run(["rm", "-rf", f"{bed.operator.home}/.local/state/atoll/ssh"])
            modes = {host.add_delay(args.delay_ms) for host in hosts}
            _report(f"canned listing, {args.delay_ms} ms delay each way ({'/'.join(modes)}): "
                    "hosts that wait on the network, like separate machines", measure(),
                    args.hosts)
    finally:
        bed.close()


if __name__ == "__main__":
    main()
