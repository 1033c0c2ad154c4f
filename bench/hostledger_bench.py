"""The host ledger's cost per record: what every operator action pays on a host where
`atoll admin init` ran. Prints medians of repeated runs (ms per record) and ratios against
the floor, a direct append to the same file (``Ledger.append``, fsync'd):

- ``direct``: ``Ledger.append`` (the floor; what root's own writes cost);
- ``sudo+append``: ``sudo -n -u atoll-ledger PYTHON -I -m atoll.ledger.hostappend`` with the
  record on stdin, as the operator's atoll runs it (interpreter start-up dominates);
- ``sudo true``: sudo alone, to show how much of that is sudo.

Runs as root inside its own mount namespace (``unshare -m``, tmpfs on /var/lib/atoll), so
nothing of this machine's host files changes; the ``atoll-ledger`` user it may create is
removed at the end.

    .venv/bin/python bench/hostledger_bench.py [--runs 5] [--records 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ME = os.path.abspath(__file__)


def _ms(fn: object, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()  # type: ignore[operator]
    return (time.perf_counter() - t0) * 1000 / n


def inner(runs: int, records: int) -> None:
    from atoll.ledger.hostledger import HOST_LEDGER_PATH, append_command
    from atoll.ledger.store import Ledger
    from atoll.service.admin import _make_ledger_file

    _make_ledger_file()
    event = {"action": "session.type", "target": {"session": "s", "agent_user": "a"},
             "outcome": "intent", "details": {"text": "hello", "enter": False}}
    data = json.dumps(event).encode()
    ledger = Ledger(HOST_LEDGER_PATH)
    argv = ["sudo", "-n", "-u", "atoll-ledger", "--", *append_command()]
    record = {"host": "bench", "actor": {"uid": 0, "user": "root", "sudo_user": None,
                                         "ssh_client": None}, **event, "correlation": None}

    def direct() -> None:
        ledger.append(record)

    def via_sudo() -> None:
        subprocess.run(argv, input=data, check=True, capture_output=True)

    def sudo_true() -> None:
        subprocess.run(["sudo", "-n", "-u", "atoll-ledger", "--", "true"], check=True)

    rows = {"direct": [], "sudo+append": [], "sudo true": []}  # type: dict[str, list[float]]
    for _ in range(runs):
        rows["direct"].append(_ms(direct, records))
        rows["sudo+append"].append(_ms(via_sudo, records))
        rows["sudo true"].append(_ms(sudo_true, records))
    floor = statistics.median(rows["direct"])
    print(f"host ledger, {records} records x {runs} runs (median ms per record)")
    for name, values in rows.items():
        med = statistics.median(values)
        print(f"  {name:12s} {med:8.2f} ms   x{med / floor:6.1f} of direct")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--records", type=int, default=20)
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        inner(args.runs, args.records)
        return
    if os.geteuid() != 0:
        sys.exit("run as root (it makes the atoll-ledger user and a private mount namespace)")
    made = subprocess.run(["id", "atoll-ledger"], capture_output=True).returncode != 0
    if made:
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", "--user-group", "atoll-ledger"],
                       check=True)
    ops = subprocess.run(["getent", "group", "atoll-ops"], capture_output=True).returncode != 0
    if ops:
        subprocess.run(["groupadd", "--system", "atoll-ops"], check=True)
    created_dir = not os.path.exists("/var/lib/atoll")
    os.makedirs("/var/lib/atoll", mode=0o755, exist_ok=True)
    try:
        script = ('mount --make-rprivate / && mount -t tmpfs -o mode=0755 tmpfs /var/lib/atoll'
                  ' && exec "$0" "$@"')
        subprocess.run(["unshare", "-m", "sh", "-c", script, sys.executable, ME, "--inner",
                        "--runs", str(args.runs), "--records", str(args.records)], check=True)
    finally:
        if created_dir:
            os.rmdir("/var/lib/atoll")
        if made:
            subprocess.run(["userdel", "atoll-ledger"], capture_output=True)
        if ops:
            subprocess.run(["groupdel", "atoll-ops"], capture_output=True)


if __name__ == "__main__":
    main()
