"""Joining an agent user's cgroups before its tmux server starts (:mod:`atoll.service.limits`).

``sudo -u AGENT`` runs no pam_systemd, so what it starts stays in the operator's cgroup. On a
cgroup v1 host ``atoll admin limits`` makes one cgroup per agent user under each controller
(``/sys/fs/cgroup/{cpu,memory,pids}/atoll/AGENT``) and gives the agent user its
``cgroup.procs`` and ``tasks`` files, nothing else (not the limits, not the directory, so it
can neither raise the cap nor make a sub-cgroup to leave by). ``atoll new`` then runs the
tmux call that may start the agent's server as::

    sudo -n -u AGENT -- PYTHON -I -m atoll.exec.cgjoin DIR... -- tmux -L atoll new-session ...

which writes its own pid into each ``DIR/cgroup.procs`` (the kernel allows a process to move
itself into a cgroup whose ``cgroup.procs`` its uid may write) and then execs tmux: the
server it forks, and everything under it, inherit the cgroups.
"""

from __future__ import annotations

import os
import sys

import msgspec

from atoll.exec.process import Completed, run_argv
from atoll.exec.runner import Runner


def join_argv(dirs: list[str], argv: list[str], python: str | None = None) -> list[str]:
    """argv running ``argv`` after this process joined the cgroups ``dirs``."""
    return [python or sys.executable, "-I", "-m", "atoll.exec.cgjoin", *dirs, "--", *argv]


class Joined(msgspec.Struct, frozen=True):
    """A runner that runs each command through :func:`join_argv` inside ``via``."""

    via: Runner
    dirs: list[str]

    @property
    def host(self) -> str:
        return self.via.host

    @property
    def user(self) -> str | None:
        return self.via.user

    def wrap(self, argv: list[str]) -> list[str]:
        return self.via.wrap(join_argv(self.dirs, argv))

    def run(self, argv: list[str], *, input: bytes | None = None,
            timeout: float | None = 30.0) -> Completed:
        return run_argv(self.wrap(argv), input=input, timeout=timeout)


def main(args: list[str]) -> int:
    """``DIR... -- CMD ARGS``: join each cgroup, then exec CMD. Exit 2 on bad usage, 4 when
    a cgroup refuses this process (nothing is run then)."""
    if "--" not in args:
        sys.stderr.write("atoll cgjoin: usage: DIR... -- CMD ARGS\n")
        return 2
    split = args.index("--")
    dirs, argv = args[:split], args[split + 1:]
    if not argv or not all(d.startswith("/sys/fs/cgroup/") and ".." not in d for d in dirs):
        sys.stderr.write("atoll cgjoin: cgroup directories must be under /sys/fs/cgroup\n")
        return 2
    me = str(os.getpid()).encode()
    for d in dirs:
        try:
            fd = os.open(os.path.join(d, "cgroup.procs"), os.O_WRONLY | os.O_NOFOLLOW)
            try:
                os.write(fd, me)
            finally:
                os.close(fd)
        except OSError as exc:
            sys.stderr.write(f"atoll: error: cannot join cgroup {d}: {exc.strerror}\n")
            return 4
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        sys.stderr.write(f"atoll: error: {argv[0]}: {exc.strerror}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
