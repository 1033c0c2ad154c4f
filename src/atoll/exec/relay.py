"""Relaying a terminal to a program on a pty atoll owns, through a filter.

An attach to a tmux server the operator does not own runs its ``tmux attach`` (or ``sudo``,
``docker exec -it``, ``ssh -t`` around it) on a new pty; atoll copies the operator's keys to
it unchanged and its output through :class:`atoll.core.termfilter.EscapeFilter` to the
operator's terminal, and keeps the pty's size equal to the terminal's (SIGWINCH).
:data:`DETACH_KEY` typed by the operator ends the attach from atoll's side, whatever the
attached server binds, and whichever tmux (the operator's outer one or the inner one) would
read its own prefix.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import signal
import struct
import sys
import termios
import tty
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

DETACH_KEY = 0x1D
"""Ctrl-] (GS, 0x1D): the key that detaches a relayed attach, as in telnet(1); tmux binds
nothing to it by default, and it cannot be typed by accident as text."""
DETACH_KEY_NAME = "Ctrl-]"

RESET_AFTER_DETACH = (b"\x1b[r\x1b[0m\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?1004l"
                      b"\x1b[?2004l\x1b[?25h\x1b>\x0f\x1b(B\x1b[?1049l")
"""What a tmux client writes when it detaches (scroll region, attributes, mouse, focus and
paste modes, cursor, keypad, character set, main screen), written by atoll after its detach
key, since the client it hangs up has lost its terminal and writes nothing."""


@dataclass(frozen=True)
class Relay:
    """How to relay: ``transform`` maps the program's output chunks to what the terminal
    gets (None: unchanged); ``detach_key`` typed by the operator ends the relay."""

    transform: Callable[[bytes], bytes] | None
    detach_key: int = DETACH_KEY


class _HangUp(Exception):
    """SIGHUP arrived during the relay."""


def _size(fd: int) -> bytes | None:
    try:
        return fcntl.ioctl(fd, termios.TIOCGWINSZ, struct.pack("HHHH", 0, 0, 0, 0))
    except OSError:
        return None


def copy_size(src: int, dst: int) -> None:
    """Give pty ``dst`` the window size of terminal ``src`` (when it has one)."""
    size = _size(src)
    if size is not None:
        with contextlib.suppress(OSError):
            fcntl.ioctl(dst, termios.TIOCSWINSZ, size)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except InterruptedError:
            continue
        except BlockingIOError:
            select.select([], [fd], [])
            continue
        view = view[n:]


def pump(master: int, relay: Relay, done: Callable[[], bool]) -> bool:
    """Copy stdin to ``master`` and ``master``'s output (transformed) to stdout until the
    program's side closes (EIO/EOF on ``master``, or ``done()`` after it exited), the
    detach key is typed, or SIGHUP, EIO or EOF says this terminal is gone. Returns True when the
    operator detached (the key or the hangup). stdin is
    put in raw mode for the duration (restored on every exit path)."""
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    saved = None
    if os.isatty(stdin):
        saved = termios.tcgetattr(stdin)
        tty.setraw(stdin)
        copy_size(stdin, master)
    previous: object = None

    def on_winch(_sig: int, _frame: FrameType | None) -> None:
        copy_size(stdin, master)

    def on_hangup(_sig: int, _frame: FrameType | None) -> None:
        raise _HangUp

    previous_hup: object = None
    with contextlib.suppress(ValueError):  # not the main thread: no resize following
        previous = signal.signal(signal.SIGWINCH, on_winch)
        previous_hup = signal.signal(signal.SIGHUP, on_hangup)
    reading_stdin = True
    try:
        while True:
            fds = [master, stdin] if reading_stdin else [master]
            try:
                ready, _, _ = select.select(fds, [], [], 0.5)
            except InterruptedError:
                continue
            if not ready and done():
                return False
            if master in ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError as exc:
                    if exc.errno == errno.EIO:
                        return False
                    raise
                if not chunk:
                    return False
                out = relay.transform(chunk) if relay.transform else chunk
                if out:
                    _write_all(stdout, out)
            if stdin in ready:
                try:
                    keys = os.read(stdin, 4096)
                except OSError as exc:
                    if exc.errno == errno.EIO:  # the terminal hung up (SIGHUP may not come
                        return True  # to a process outside its session)
                    raise
                if not keys:
                    if saved is not None:  # EOF on a terminal: it is gone, detach
                        return True
                    reading_stdin = False
                    continue
                head, hit, _ = keys.partition(bytes((relay.detach_key,)))
                if head:
                    _write_all(master, head)
                if hit:
                    _write_all(stdout, RESET_AFTER_DETACH)
                    return True
    except _HangUp:  # the operator's terminal (or ssh -t) went away: detach, record it,
        previous_hup = signal.SIG_IGN  # and do not die of the next SIGHUP before that
        return True
    finally:
        if saved is not None:
            with contextlib.suppress(OSError, termios.error):  # a hung-up terminal: no restore
                termios.tcsetattr(stdin, termios.TCSAFLUSH, saved)
        for signum, handler in ((signal.SIGWINCH, previous), (signal.SIGHUP, previous_hup)):
            if handler is not None:
                with contextlib.suppress(ValueError, TypeError):
                    signal.signal(signum, handler)  # type: ignore[arg-type]


def set_controlling_tty() -> None:
    """In the child, after setsid: make its stdin (the pty) its controlling terminal, so
    that tmux and sudo find a tty and the pty's hangup reaches them."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
