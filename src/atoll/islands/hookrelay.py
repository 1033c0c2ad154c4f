"""The hook channel of a bwrap island: how an agent's hooks inside the sandbox reach its pane.

A bwrap pane's tmux server runs outside the sandbox (the agent user's own server), which
the sandbox must never reach. So a bwrap pane runs this relay first, as the agent user,
outside the sandbox::

    python -I -m atoll.islands.hookrelay FIFO -- bwrap ...

It makes ``FIFO`` (0600, in the island's directory, which the sandbox cannot see), starts
the sandbox with that FIFO bound in at ``/run/atoll/hook`` (a mount point: the sandbox can
write to it but cannot replace it) and ``atoll`` there being the shell shim
``hookshim.sh`` (only ``atoll hook EVENT``), then reads what the sandbox writes: at most
64 bytes per read, each newline-separated word checked against ``waiting``, ``running``,
``idle``, ``clear``; anything else is dropped. A word that is not the state already set
becomes ``@atoll_state`` on this pane (and only this pane: ``$TMUX_PANE``), at most
:data:`MAX_PER_SECOND` changes a second, so a flooding sandbox costs at most that many
tmux calls. The relay's exit status is the sandbox's (128 + N for a signal N), so a dead
pane reads as before.

Signals: SIGINT, SIGQUIT and SIGTSTP (the terminal's Ctrl-C, Ctrl-\\, Ctrl-Z) reach the
whole foreground process group, this relay included; it catches them with a handler that
does nothing (a handler, not SIG_IGN, so the sandbox it starts still gets the defaults).
SIGHUP and SIGTERM (``kill-session``) end the relay, and bwrap's ``--die-with-parent``
ends the sandbox with it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import sys
import threading
import time

#: Words the sandbox may write; the shim maps the agents' hook events to these.
STATES: dict[bytes, str | None] = {b"waiting": "waiting", b"running": "running",
                                   b"idle": "idle", b"clear": None}
MAX_READ = 64
MAX_PER_SECOND = 10
#: Where the FIFO and the shim appear inside the sandbox.
SANDBOX_FIFO = "/run/atoll/hook"
SANDBOX_BIN = "/run/atoll/bin"
#: The ``atoll`` of an island (only ``atoll hook EVENT``), shipped with atoll.
SHIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hookshim.sh")


def hook_fifo_name() -> str:
    """A fresh FIFO name for one pane (several sessions may share an island)."""
    import secrets

    return f"hook-{secrets.token_hex(6)}.fifo"


def hook_relay_argv(island_dir: str, command: list[str]) -> list[str]:
    """The pane argv running ``command`` (a bwrap argv whose hook channel FIFO is in
    ``island_dir``) under the relay: this interpreter, isolated (``-I``: the pane starts
    in the agent's workspace, whose files must never be imported)."""
    fifo = next(a for a in command if a.startswith(island_dir + "/hook-"))
    return [sys.executable, "-I", "-m", "atoll.islands.hookrelay", fifo, "--", *command]


def make_fifo(path: str) -> int:
    """Create ``path`` as a FIFO of ours (replacing a stale one) and open it read-write
    (a read-write FIFO never reports end-of-file, and opening it does not block)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    os.mkfifo(path, 0o600)
    fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    st = os.fstat(fd)
    if not stat.S_ISFIFO(st.st_mode) or st.st_uid != os.getuid():
        os.close(fd)
        raise OSError(f"{path} is not our FIFO")
    return fd


def words(data: bytes) -> list[str | None]:
    """The states in one read of the FIFO, in order; anything that is not exactly one of
    :data:`STATES` is dropped (a partial word split across reads is dropped too)."""
    return [STATES[w] for w in data.split(b"\n") if w in STATES]


def relay(fd: int, socket_path: str, pane: str) -> None:
    """Read the FIFO forever, setting each new state on ``pane`` (see module docstring)."""
    from atoll.core.errors import AtollError
    from atoll.tmux.client import set_hook_state

    last: object = object()
    times: list[float] = []
    while True:
        try:
            data = os.read(fd, MAX_READ)
        except InterruptedError:
            continue
        for state in words(data):
            if state == last:
                continue
            now = time.monotonic()
            times = [t for t in times if now - t < 1.0]
            if len(times) >= MAX_PER_SECOND:
                time.sleep(1.0 - (now - times[0]))
                times = times[1:]
            times.append(time.monotonic())
            with contextlib.suppress(AtollError):
                set_hook_state(socket_path, pane, state)
            last = state


def _nothing(signum: int, frame: object) -> None:
    return None


def main(argv: list[str]) -> int:
    """``FIFO -- COMMAND...``: run COMMAND with the relay beside it; COMMAND's status."""
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m atoll.islands.hookrelay FIFO -- COMMAND...", file=sys.stderr)
        return 2
    fifo, command = argv[0], argv[2:]
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP):
        signal.signal(sig, _nothing)
    tmux, pane = os.environ.get("TMUX", ""), os.environ.get("TMUX_PANE", "")
    fd = -1
    try:
        fd = make_fifo(fifo)
    except OSError as exc:
        print(f"atoll: no hook channel ({exc}); status comes from the screen", file=sys.stderr)
    os.environ["PATH"] = f"{SANDBOX_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    socket_path = tmux.split(",")[0]
    if fd >= 0 and os.path.isabs(socket_path) and pane.startswith("%"):
        threading.Thread(target=relay, args=(fd, socket_path, pane), daemon=True).start()
    from atoll.core.errors import AtollError
    from atoll.exec.process import run_foreground

    try:
        code = run_foreground(command)
    except AtollError as exc:
        print(f"atoll: {exc}", file=sys.stderr)
        code = 127
    with contextlib.suppress(OSError):
        os.unlink(fifo)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
