"""Running commands and capturing their results: the package's only use of subprocess.

``run_argv`` never uses a shell, sets ``LC_ALL=C`` so tool messages are stable to parse,
closes stdin unless input is given, and turns a missing program or a timeout into an
:class:`~atoll.core.errors.AtollError` instead of a traceback.

With ``ATOLL_DEBUG=1`` in the environment every process started here is traced on stderr,
one line each when it ends: ``atoll: debug: exit CODE in MS ms: ARGV`` (ARGV shell-quoted
for reading only, with control characters escaped; CODE is ``timeout``, ``killed`` or
``not-found`` when there is no exit status; ``started`` for a detached process). stdout is
never touched, so JSON and other data output stays as it is.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import selectors
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import msgspec

from atoll.core.errors import AtollError, ExternalCommandError
from atoll.exec.relay import Relay, copy_size, pump, set_controlling_tty


class Completed(msgspec.Struct, frozen=True):
    """Result of one command: exit status, raw stdout bytes, decoded stderr. ``truncated``:
    stdout went over the cap the command was run with, and the command was stopped there
    (its ``returncode`` is then that of a killed process)."""

    argv: list[str]
    returncode: int
    stdout: bytes
    stderr: str
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def text(self) -> str:
        """stdout decoded as UTF-8 (invalid bytes replaced)."""
        return self.stdout.decode("utf-8", "replace")

    def check(self) -> Completed:
        """Return self, or raise ExternalCommandError when the command failed."""
        if self.returncode != 0:
            raise ExternalCommandError(self.argv, self.returncode, self.stderr)
        return self


class CommandTimeoutError(AtollError):
    """A command did not finish within its timeout."""


def tracing() -> bool:
    """``ATOLL_DEBUG`` is set to anything but empty or ``0``."""
    return os.environ.get("ATOLL_DEBUG", "") not in ("", "0")


def _trace(argv: list[str], code: int | str | None, started: float) -> None:
    if not tracing():
        return
    ms = (time.monotonic() - started) * 1000
    shown = shlex.join(argv).encode("unicode_escape", "backslashreplace").decode("ascii")
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(f"atoll: debug: exit {code} in {ms:.1f} ms: {shown}\n")
        sys.stderr.flush()


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["LC_ALL"] = "C.UTF-8"
    env.pop("TMUX", None)  # never let an inner tmux attach to the caller's server by accident
    return env


def _cwd(argv: list[str]) -> str | None:
    """The working directory for ``argv``: None (inherited), except for podman. conmon, which
    podman starts for each container and exec session, creates a file named ``oom`` in its
    working directory when the container is OOM-killed, and podman does not change it
    (containers/conmon#504, fixed in conmon 2.1.13; Debian 12 ships 2.1.6): the operator
    would find ``oom`` files in whatever directory they ran atoll from. podman runs from the
    operator's private runtime directory instead (:func:`atoll.rundir.runtime_base`)."""
    if not argv or os.path.basename(argv[0]) != "podman":
        return None
    from atoll.rundir import runtime_base

    return runtime_base()


def run_argv(
    argv: list[str], *, input: bytes | None = None, timeout: float | None = 30.0
) -> Completed:
    """Run ``argv`` without a shell and capture stdout/stderr.

    Raises AtollError when the program does not exist, CommandTimeoutError on timeout.
    A non-zero exit is returned, not raised (call :meth:`Completed.check`).
    """
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(),
            cwd=_cwd(argv),
        )
    except FileNotFoundError as exc:
        _trace(argv, "not-found", started)
        raise AtollError(f"{argv[0]}: program not found (is it installed?)") from exc
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        # Not subprocess.run's way (SIGKILL): the command sudo runs would survive it, a
        # tmux client left waiting on a SIGSTOPped server for as long as that stays stopped.
        stop(proc)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        _trace(argv, "timeout", started)
        raise CommandTimeoutError(f"{argv[0]} timed out after {timeout:g}s") from exc
    except BaseException:  # KeyboardInterrupt: leave nothing running
        stop(proc)
        raise
    _trace(argv, proc.returncode, started)
    return Completed(argv, proc.returncode, out, err.decode("utf-8", "replace"))


def run_foreground(argv: list[str], *, unset_tmux: bool = False,
                   relay: Relay | None = None) -> int:
    """Run ``argv`` attached to this terminal (inherited stdin/stdout/stderr), wait for it,
    and return its exit status. No shell; the environment is inherited (minus ``TMUX`` when
    ``unset_tmux``, so that a nested ``tmux attach`` is not refused). Used by the fleet TUI
    to attach while it is suspended. With ``relay``, the program runs on a pty of its own
    and this terminal is relayed to it (:func:`atoll.exec.relay.pump`): its output passes
    ``relay.transform``, and the detach key ends it (status 0). Raises AtollError when the
    program does not exist."""
    env = dict(os.environ)
    if unset_tmux:
        env.pop("TMUX", None)
    if relay is not None:
        return _run_relayed(argv, env, relay)
    started = time.monotonic()
    try:
        code = subprocess.run(argv, env=env, cwd=_cwd(argv), check=False).returncode
    except FileNotFoundError as exc:
        _trace(argv, "not-found", started)
        raise AtollError(f"{argv[0]}: program not found (is it installed?)") from exc
    except OSError as exc:
        _trace(argv, "not-started", started)
        raise AtollError(f"cannot run {argv[0]}: {exc.strerror}") from exc
    _trace(argv, code, started)
    return code


def _run_relayed(argv: list[str], env: dict[str, str], relay: Relay) -> int:
    master, slave = os.openpty()
    try:
        copy_size(0, slave)
        proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                cwd=_cwd(argv), start_new_session=True, close_fds=True,
                                preexec_fn=set_controlling_tty)
    except FileNotFoundError as exc:
        os.close(master)
        raise AtollError(f"{argv[0]}: program not found (is it installed?)") from exc
    except OSError as exc:
        os.close(master)
        raise AtollError(f"cannot run {argv[0]}: {exc.strerror}") from exc
    finally:
        os.close(slave)
    detached = False
    try:
        detached = pump(master, relay, lambda: proc.poll() is not None)
    finally:
        os.close(master)  # the pty hangs up: the client (and sudo, ssh) get SIGHUP
        if detached:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGHUP)
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
    return 0 if detached else code


def spawn_detached(argv: list[str], *, env: dict[str, str], log_path: str) -> int:
    """Start ``argv`` in a new session, detached from this process: stdin from /dev/null,
    stdout and stderr appended to ``log_path`` (created 0600, never through a symlink),
    working directory ``/``, no inherited file descriptors, and exactly ``env`` as its
    environment. Returns its pid without waiting for it, so a caller's pipes are not held
    open by it. Raises AtollError when the log or the program cannot be opened."""
    try:
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
                      | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise AtollError(f"cannot open {log_path}: {exc.strerror}") from exc
    started = time.monotonic()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                cwd="/", env=env, close_fds=True, start_new_session=True)
    except OSError as exc:
        _trace(argv, "not-started", started)
        raise AtollError(f"cannot run {argv[0]}: {exc.strerror}") from exc
    finally:
        os.close(log)
    _trace(argv, "started", started)
    return proc.pid


def spawn_with_fds(argv: list[str], fds: dict[int, int]) -> int:
    """Start ``argv`` (``argv[0]`` an absolute program path) in a new session with stdin,
    stdout and stderr on /dev/null and each ``fds`` item (child fd: this process's fd)
    duplicated in; every other descriptor is closed (close-on-exec). The caller's fds stay
    open. Returns the pid without waiting (the caller reaps it); OSError if it cannot run.
    """
    actions: list[tuple[int, ...] | tuple[int, int, str, int, int]] = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    high = {child: fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for child, fd in fds.items()}
    actions += [(os.POSIX_SPAWN_DUP2, fd, child) for child, fd in high.items()]
    started = time.monotonic()
    try:
        pid = os.posix_spawn(argv[0], argv, dict(os.environ), file_actions=actions,
                             setsid=True)
    except OSError:
        _trace(argv, "not-started", started)
        raise
    finally:
        for fd in high.values():
            os.close(fd)
    _trace(argv, "started", started)
    return pid


class Batch:
    """Commands started together and collected by one poll loop in the calling thread.

    What a listing does with one thread per command (start it, wait, read both pipes), done
    for all of them at once: a thread per command costs the listing about twice the CPU
    (19.6 ms against 9.8 ms for 5 ``list-panes`` calls and a process scan, measured with
    ``getrusage`` on 2 cores), mostly the threads contending for the GIL. Each command is run
    as :func:`run_argv` runs it (no shell, stdin from /dev/null, ``LC_ALL=C.UTF-8``, no
    ``TMUX``). The caller may do other work between starting the batch and :meth:`wait`.
    """

    def __init__(self, argvs: list[list[str]], *, timeout: float | None = 30.0,
                 max_stdout: int | None = None) -> None:
        self.argvs = argvs
        self.timeout = timeout
        self.max_stdout = max_stdout
        self._over: set[int] = set()
        self._started = time.monotonic()
        self._procs: list[subprocess.Popen[bytes] | AtollError] = []
        env = _env()
        for argv in argvs:
            try:
                self._procs.append(subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, env=env, cwd=_cwd(argv)))
            except FileNotFoundError:
                self._procs.append(AtollError(f"{argv[0]}: program not found (is it installed?)"))
            except OSError as exc:
                self._procs.append(AtollError(f"cannot run {argv[0]}: {exc.strerror}"))

    def wait(
        self, each: Callable[[int, Completed | AtollError], None] | None = None
    ) -> list[Completed | AtollError]:
        """One result per argv, in order: a :class:`Completed` (a non-zero exit is returned,
        not raised), or the AtollError of a program that could not start, or a
        :class:`CommandTimeoutError` for one killed at the timeout (seconds, counted from
        the start of the batch). ``each(index, result)`` is called as each one finishes,
        while the others may still run (a caller parses early output meanwhile)."""
        deadline = None if self.timeout is None else self._started + self.timeout
        results: list[Completed | AtollError | None] = [None] * len(self._procs)
        chunks: dict[int, list[bytes]] = {}
        owner: dict[int, int] = {}
        open_pipes = [0] * len(self._procs)

        def finish(i: int) -> None:
            results[i] = self._result(i, chunks, deadline)
            if each is not None:
                each(i, results[i])  # type: ignore[arg-type]

        with selectors.DefaultSelector() as sel:
            for i, proc in enumerate(self._procs):
                if not isinstance(proc, subprocess.Popen):
                    finish(i)
                    continue
                for pipe in (proc.stdout, proc.stderr):
                    assert pipe is not None
                    chunks[pipe.fileno()], owner[pipe.fileno()] = [], i
                    sel.register(pipe.fileno(), selectors.EVENT_READ)
                open_pipes[i] = 2
            while sel.get_map():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                for key, _ in sel.select(left):
                    if key.fd not in sel.get_map():  # its command was finished meanwhile
                        continue
                    data = os.read(key.fd, 65536)
                    i = owner[key.fd]
                    if data:
                        chunks[key.fd].append(data)
                        if self.max_stdout is None or not self._past_cap(i, key.fd, chunks):
                            continue
                        self._over.add(i)  # stop reading: the whole answer is over its cap
                        for fd in [f for f, o in owner.items() if o == i]:
                            with contextlib.suppress(KeyError):
                                sel.unregister(fd)
                        open_pipes[i] = 0
                        finish(i)
                        continue
                    sel.unregister(key.fd)
                    open_pipes[i] -= 1
                    if not open_pipes[i]:
                        finish(i)
        for i, res in enumerate(results):
            if res is None:  # still open at the deadline
                finish(i)
        return results  # type: ignore[return-value]

    def _past_cap(self, i: int, fd: int, chunks: dict[int, list[bytes]]) -> bool:
        proc = self._procs[i]
        assert isinstance(proc, subprocess.Popen) and proc.stdout is not None
        return (fd == proc.stdout.fileno() and self.max_stdout is not None
                and sum(map(len, chunks[fd])) > self.max_stdout)

    def _result(self, i: int, chunks: dict[int, list[bytes]],
                deadline: float | None) -> Completed | AtollError:
        proc, argv = self._procs[i], self.argvs[i]
        if isinstance(proc, AtollError):
            _trace(argv, "not-started", self._started)
            return proc
        assert proc.stdout is not None and proc.stderr is not None
        out, err = b"".join(chunks[proc.stdout.fileno()]), b"".join(chunks[proc.stderr.fileno()])
        proc.stdout.close()
        proc.stderr.close()
        if i in self._over:
            stop(proc)
            return Completed(argv, proc.returncode, out[: self.max_stdout],
                             err.decode("utf-8", "replace"), truncated=True)
        try:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            code = proc.wait(left)
        except subprocess.TimeoutExpired:
            stop(proc)
            _trace(argv, "timeout", self._started)
            return CommandTimeoutError(f"{argv[0]} timed out after {self.timeout:g}s")
        _trace(argv, code, self._started)
        return Completed(argv, code, out, err.decode("utf-8", "replace"))


STOP_GRACE = 1.0
"""Seconds a stopped command gets between SIGTERM and SIGKILL. SIGTERM first because sudo
relays it to the command it runs (sudo(8) "Signal handling"), while a SIGKILL would leave
that command (a tmux client waiting on a stopped server) behind, holding our pipes."""


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End ``proc`` (SIGTERM, then SIGKILL after STOP_GRACE) and reap it."""
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        proc.wait(STOP_GRACE)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()


class Capped(msgspec.Struct, frozen=True):
    """Result of :func:`run_capped`. ``returncode`` is None when the child was killed."""

    argv: list[str]
    returncode: int | None
    stdout: bytes
    stderr: str
    timed_out: bool = False
    truncated: bool = False


def run_capped(argv: list[str], timeout: float, max_stdout: int,
               max_stderr: int = 65536) -> Capped:
    """Run ``argv`` (no shell, stdin closed) for at most ``timeout`` seconds, keeping at most
    ``max_stdout`` bytes of stdout (and ``max_stderr`` of stderr); kill it beyond either.
    AtollError only when the program cannot be started."""
    started = time.monotonic()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=_env(), start_new_session=True)
    except OSError as exc:
        _trace(argv, "not-started", started)
        raise AtollError(f"{argv[0]}: cannot run: {exc.strerror}") from exc
    assert proc.stdout is not None and proc.stderr is not None
    out, err = bytearray(), bytearray()
    limits = {proc.stdout.fileno(): (out, max_stdout), proc.stderr.fileno(): (err, max_stderr)}
    sel = selectors.DefaultSelector()
    for stream in (proc.stdout, proc.stderr):
        sel.register(stream, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    timed_out = truncated = False
    try:
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            for key, _ in sel.select(left):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                buf, cap = limits[key.fd]
                room = max(0, cap - len(buf))
                buf += chunk[:room]
                if len(chunk) > room and key.fd == proc.stdout.fileno():
                    truncated = True
            if truncated:
                break
    finally:
        sel.close()
        if timed_out or truncated:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        proc.stdout.close()
        proc.stderr.close()
    code = proc.wait()
    _trace(argv, "killed" if (timed_out or truncated) else code, started)
    return Capped(argv, None if (timed_out or truncated) else code, bytes(out),
                  err.decode("utf-8", "replace"), timed_out, truncated)


def run_with_socket(argv: list[str], sock_fd: int, timeout: float = 30.0) -> Completed:
    """Run ``argv`` with ``sock_fd`` (a socket) as its stdin and capture stdout/stderr, as
    :func:`run_argv` does: for ``fusermount3``, which hands an opened ``/dev/fuse`` back
    over the socket its ``_FUSE_COMMFD`` names (the broker's mount, atoll.broker.daemon).
    Raises AtollError when the program does not exist, CommandTimeoutError on timeout."""
    started = time.monotonic()
    try:
        proc = subprocess.Popen(argv, stdin=sock_fd, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=_env(), close_fds=True)
    except FileNotFoundError as exc:
        _trace(argv, "not-found", started)
        raise AtollError(f"{argv[0]}: program not found (is it installed?)") from exc
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        stop(proc)
        _trace(argv, "timeout", started)
        raise CommandTimeoutError(f"{argv[0]} timed out after {timeout:g}s") from exc
    _trace(argv, proc.returncode, started)
    return Completed(argv, proc.returncode, out, err.decode("utf-8", "replace"))
