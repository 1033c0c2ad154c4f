"""The first process of every agent-user pane: a child subreaper, so that nothing the agent
starts can leave its session by detaching itself.

A process that double-forks (or calls setsid) is reparented to its nearest ancestor marked
with prctl(2) ``PR_SET_CHILD_SUBREAPER`` instead of PID 1, so every process the agent starts
stays a descendant of this one: ``atoll ls`` counts its CPU and memory in the pane's tree,
and ``atoll kill`` finds it. Real Codex leaves ``codex app-server`` processes behind this
way. The reaper:

- forks ARGV into its own process group and makes that the terminal's foreground group
  (so Ctrl-C, Ctrl-Z and the pane's current command are the agent's, as without a reaper);
  it ignores the terminal's job-control signals itself;
- reaps every orphan that ends, while ARGV runs;
- when ARGV exits, or on SIGHUP/SIGTERM (tmux kill-session hangs the pane up), sends
  SIGTERM to every descendant left, waits up to :data:`GRACE` seconds, sends SIGKILL to the
  rest, and exits with ARGV's exit status (128+N for signal N).

It does not catch what the agent user starts outside its pane's tree: cron and at jobs, a
login through ``ssh`` to localhost, services started through systemd or another
daemon. Only cgroups (where an admin has set them up) contain those.

Run as ``/usr/bin/python3 -I -S -c SOURCE ARGV...``: standard library only, isolated from the
agent's environment (-I) and site directories (-S), and independent of whether the agent user
can read atoll's checkout. :func:`reaper_argv` builds it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>, Linux 3.4+
GRACE = 2.0
POLL = 0.05
PYTHON = "/usr/bin/python3"


class _Stop(Exception):
    pass


_stopping = False


def _on_stop(signum: int, frame: object) -> None:
    if not _stopping:  # once cleaning up, a second SIGHUP/SIGTERM changes nothing
        raise _Stop


def descendants(root: int) -> list[int]:
    """Every live descendant of ``root``, from /proc/PID/stat (proc(5) field 4, counted
    from the last ``)`` since the command name may hold anything)."""
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            fd = os.open(f"/proc/{name}/stat", os.O_RDONLY | os.O_CLOEXEC)
            try:
                data = os.read(fd, 4096)
            finally:
                os.close(fd)
            ppid = int(data[data.rfind(b")") + 2 :].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(name))
    out: list[int] = []
    stack = [root]
    while stack:
        for kid in kids.get(stack.pop(), ()):
            if kid not in out:
                out.append(kid)
                stack.append(kid)
    return out


def _reap(block: bool) -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, sig)


def end_descendants(grace: float = GRACE) -> None:
    """SIGTERM every descendant, wait up to ``grace`` s for them to end, SIGKILL the rest."""
    me = os.getpid()
    _signal_all(descendants(me), signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap(block=False)
        if not descendants(me):
            return
        time.sleep(POLL)
    while left := descendants(me):  # new ones may appear while killing: repeat until none
        _signal_all(left, signal.SIGKILL)
        _reap(block=False)
        time.sleep(POLL)
    _reap(block=False)


def _exec_child(argv: list[str]) -> None:
    os.setpgid(0, 0)
    signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    with contextlib.suppress(OSError):  # stdin is not a terminal (run outside tmux)
        os.tcsetpgrp(0, os.getpgrp())
    signal.signal(signal.SIGTTOU, signal.SIG_DFL)
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        os.write(2, f"{argv[0]}: {exc.strerror}\n".encode())
    os._exit(127)


def main(argv: list[str]) -> int:
    global _stopping
    if not argv:
        os.write(2, b"usage: reaper ARGV...\n")
        return 2
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        os.write(2, b"atoll reaper: PR_SET_CHILD_SUBREAPER failed; detached children escape\n")
    signal.signal(signal.SIGHUP, _on_stop)
    signal.signal(signal.SIGTERM, _on_stop)
    child = os.fork()
    if child == 0:
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _exec_child(argv)
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU):
        signal.signal(sig, signal.SIG_IGN)
    with contextlib.suppress(OSError):  # the child did it first, or already exec'd
        os.setpgid(child, child)
    with contextlib.suppress(OSError):
        os.tcsetpgrp(0, child)
    status = 128 + signal.SIGHUP
    try:
        while True:
            try:
                pid, raw = os.wait()
            except ChildProcessError:
                break
            if pid == child:
                code = os.waitstatus_to_exitcode(raw)
                status = code if code >= 0 else 128 - code
                break
        _stopping = True
    except _Stop:
        _stopping = True
    end_descendants()
    return status


def reaper_argv() -> list[str]:
    """The argv prefix that runs the reaper: ``[python3, -I, -S, -c, SOURCE]`` (this module
    without its docstrings, ~4 KB: well inside what one tmux command carries); the pane's
    command follows it."""
    import ast

    with open(__file__, encoding="utf-8") as fh:
        tree = ast.parse(fh.read())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef) and body \
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            node.body = body[1:] or [ast.Pass()]
    return [PYTHON, "-I", "-S", "-c", ast.unparse(tree)]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
