"""The ``atoll`` console script.

``atoll ls`` is the command run most often (by people, by scripts, and by peers over SSH
for every fleet listing), and a good part of its time is Python itself: after the output
is written, tearing the interpreter down (module and object finalization) took another
10-15 ms of a ~135 ms listing (``bench/ls_bench.py``, 200 sessions). A listing of this
host has nothing left to finalize by then (its cache files are written and closed, its
threads joined), so it ends with :func:`os._exit` once stdout and stderr are flushed.
Every other command exits normally.
"""

from __future__ import annotations

import os
import sys


def lists_this_host(args: list[str]) -> bool:
    """True for ``ls`` invocations that list only this host (not other hosts, whose SSH
    fan-out keeps connections and threads of its own)."""
    if not args or args[0] != "ls":
        return False
    return not any(a.startswith(("--host", "-H", "--all-hosts", "-A")) for a in args[1:])


def _exit_now(code: object) -> None:
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)  # what the interpreter does for sys.exit("message")
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        code = 0  # as atoll.cli.main.main does: a reader that went away is not an error
    os._exit(code if isinstance(code, int) else 0)


def main() -> None:
    """Console entry point (see :func:`atoll.cli.main.main`)."""
    from atoll.cli.main import main as cli_main

    try:
        cli_main()
    except SystemExit as exc:
        if lists_this_host(sys.argv[1:]):
            _exit_now(exc.code)
        raise
