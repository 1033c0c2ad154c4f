"""The ``atoll`` console script.

``atoll ls`` is the command run most often (by people, by scripts, and by peers over SSH
for every fleet listing), and a good part of its time is Python itself: after the output
is written, tearing the interpreter down (module and object finalization) took another
10-15 ms of a ~135 ms listing (``bench/ls_bench.py``, 200 sessions). A listing of this
host has nothing left to finalize by then (its cache files are written and closed, its
threads joined), so it ends with :func:`os._exit` once stdout and stderr are flushed.
Every other command exits normally.

Before any of that, ``ls --json [--here]`` asks the operator's resident listing helper
(:mod:`atoll.cli.resident`): with it, the listing costs this process its start-up and a
socket round trip instead of ~50 ms of imports. Without one, it lists in-process as above,
then starts a helper for the next call.
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


def _flush() -> bool:
    """Flush stdout and stderr; False when the reader has gone away."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        return False
    return True


def _exit_now(code: object) -> None:
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)  # what the interpreter does for sys.exit("message")
        code = 1
    if not _flush():
        code = 0  # as atoll.cli.main.main does: a reader that went away is not an error
    os._exit(code if isinstance(code, int) else 0)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _answer(rc: int, out: bytes, err: bytes) -> None:
    try:
        _write_all(1, out)
        _write_all(2, err)
    except BrokenPipeError:
        rc = 0  # as atoll.cli.main.main does: a reader that went away is not an error
    os._exit(rc)


def main() -> None:
    """Console entry point (see :func:`atoll.cli.main.main`); ``ls --json`` is answered by
    the resident listing helper when one runs (:mod:`atoll.cli.resident`)."""
    args = sys.argv[1:]
    plan = None
    if lists_this_host(args):
        from atoll.cli import resident

        plan = resident.plan(args)
        if plan is not None:
            try:
                answer = resident.ask(plan.path, plan.fp, args)
            except KeyboardInterrupt:
                _answer(130, b"", b"atoll: error: interrupted\n")
            if answer is not None:
                _answer(*answer)
    from atoll.cli.main import main as cli_main

    try:
        cli_main()
    except SystemExit as exc:
        if lists_this_host(args):
            if plan is not None and exc.code in (0, None):
                _flush()
                plan.start_helper()
            _exit_now(exc.code)
        raise
