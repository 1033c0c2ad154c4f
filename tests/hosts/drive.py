"""Operator-side driver for the host tests: calls atoll's fleet functions as the test
operator (a real local user, run through runuser) and prints one JSON object on stdout.

Usage:
  drive.py query TIMEOUT NAME=ALIAS[@TIMEOUT] ...
      -> {"results": [{"host": HostRow, "sessions": [SessionRow, ...]}, ...]}
  drive.py action ALIAS CORRELATION_ID ATOLL_ARG ...
      -> {"ok": true, "stdout": TEXT} | {"ok": false, "error": TEXT, "exit_code": N}
  drive.py doctor TIMEOUT NAME=ALIAS ...
      -> {"reports": [report, ...]}
  drive.py fleet-kill HOST NAME ...
      -> {"killed": [NAME, ...]}: one fleet-view backend (one process, one Context) lists the
         fleet from the operator's config and kills each listed HOST:NAME row in turn
"""

from __future__ import annotations

import json
import sys
from typing import Any

import msgspec

from atoll.core.config import HostConfig
from atoll.core.errors import AtollError


def _hosts(specs: list[str]) -> list[HostConfig]:
    out = []
    for spec in specs:
        name, _, rest = spec.partition("=")
        alias, _, limit = rest.partition("@")
        out.append(HostConfig(name=name, ssh=alias, timeout=float(limit) if limit else None))
    return out


def main(argv: list[str]) -> int:
    cmd = argv[0]
    body: dict[str, Any]
    if cmd == "query":
        from atoll.fleet.remote import query_hosts

        results = query_hosts(_hosts(argv[2:]), float(argv[1]))
        body = {"results": [{"host": msgspec.to_builtins(h),
                             "sessions": msgspec.to_builtins(s)} for h, s in results]}
    elif cmd == "action":
        from atoll.fleet.remote import remote_action

        try:
            done = remote_action(argv[1], argv[3:], argv[2] or None)
            body = {"ok": True, "stdout": done.stdout.decode("utf-8", "replace")}
        except AtollError as exc:
            body = {"ok": False, "error": str(exc), "exit_code": int(exc.exit_code)}
    elif cmd == "doctor":
        from atoll.fleet.doctor import reports

        body = {"reports": reports(_hosts(argv[2:]), float(argv[1]))}
    elif cmd == "fleet-kill":
        from atoll.tui.backend import Backend, make_context

        backend = Backend(make_context())
        wanted = set(argv[2:])
        rows = [r for r in backend.listing().sessions if r.host == argv[1] and r.name in wanted]
        for row in rows:
            backend.kill(row)
        body = {"killed": [r.name for r in rows]}
    else:
        print(f"unknown command {cmd}", file=sys.stderr)
        return 2
    json.dump(body, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
