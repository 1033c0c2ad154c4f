"""The resident listing helper, server side (client side and the reasons:
:mod:`atoll.cli.resident`).

``python -m atoll.cli.resident_server SOCKET_PATH`` is started by the console script with
the fingerprinted environment, detached, in a new session. It:

1. takes an exclusive ``flock`` on ``SOCKET_PATH.lock`` (a second helper for the same
   socket exits at once), checks that its own fingerprint names ``SOCKET_PATH``, and
   replaces any stale socket file with its own (mode 0600 in the 0700 directory);
2. answers one connection at a time: the peer must have its uid (``SO_PEERCRED``) and its
   user, mount and pid namespaces (``/proc/PID/ns``), send at most 64 KiB within 5 s, name
   this protocol and the same fingerprint, and ask for one of the listings
   :func:`atoll.cli.resident.serves` allows; anything else is closed without an answer.
   Each connection leaves one line in ``SOCKET_PATH`` with ``.log`` for ``.sock``;
3. runs exactly the in-process command (:func:`atoll.cli.main.main`) with stdout and
   stderr captured, and sends back its exit code and both streams;
4. exits after its idle time without a request, or as soon as its socket file is no longer
   the one it bound (removed or replaced), removing the socket it owns first.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import select
import socket
import sys
import time

from atoll.cli import resident

READ_TIMEOUT = 5.0
LOG_LIMIT = 1 << 20
_NAMESPACES = ("user", "mnt", "pid")


def _namespaces(pid: int | str) -> tuple[int, ...] | None:
    try:
        return tuple(os.stat(f"/proc/{pid}/ns/{ns}").st_ino for ns in _NAMESPACES)
    except OSError:
        return None


def peer_refusal(conn: socket.socket, own_ns: tuple[int, ...] | None) -> str | None:
    """Why the peer may not ask (None: it may): it must run as our uid, in our user, mount
    and pid namespaces."""
    try:
        pid, uid = resident.peer_uid(conn)
    except OSError as exc:
        return f"no peer credentials ({exc.strerror})"
    if uid != os.getuid():
        return f"pid {pid} runs as uid {uid}"
    if pid <= 0 or own_ns is None or _namespaces(pid) != own_ns:
        return f"pid {pid} is in other namespaces"
    return None


def read_request(conn: socket.socket) -> bytes | None:
    """The whole request (until the peer shuts its side), or None when it is larger than
    :data:`atoll.cli.resident.MAX_REQUEST` or slower than :data:`READ_TIMEOUT`."""
    deadline = time.monotonic() + READ_TIMEOUT
    data = b""
    try:
        while len(data) <= resident.MAX_REQUEST:
            conn.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = conn.recv(resident.MAX_REQUEST + 1 - len(data))
            if not chunk:
                return data
            data += chunk
    except OSError:
        return None
    return None


def parse_request(data: bytes, fp: str) -> list[str] | None:
    """The argument list of a well-formed request for fingerprint ``fp``, else None."""
    parts = data.split(b"\0")
    if (len(parts) < 3 or parts[0] != resident.PROTOCOL
            or parts[1] != fp.encode("utf-8", "surrogateescape")):
        return None
    try:
        args = [p.decode() for p in parts[2:]]
    except UnicodeDecodeError:
        return None
    return args if resident.serves(args) else None


def run_captured(args: list[str]) -> tuple[int, bytes, bytes]:
    """Run the in-process command for ``args``; (exit code, stdout, stderr)."""
    from atoll.cli.main import main as cli_main

    saved = sys.stdout, sys.stderr
    out, err = io.BytesIO(), io.BytesIO()
    text_out = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    text_err = io.TextIOWrapper(err, encoding="utf-8", write_through=True)
    sys.stdout, sys.stderr = text_out, text_err
    code: object = 0
    try:
        cli_main(args)
    except SystemExit as exc:
        code = exc.code
    except Exception as exc:
        print(f"atoll: error: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 1
    finally:
        sys.stdout, sys.stderr = saved
        for text in (text_out, text_err):
            text.flush()
            text.detach()  # a collected wrapper would close the BytesIO under it
    if code is None:
        code = 0
    elif not isinstance(code, int):
        err.write(f"{code}\n".encode())
        code = 1
    return code, out.getvalue(), err.getvalue()


STALE_AFTER = 86400.0
"""Seconds after which the files of a helper that no longer runs are removed."""


def prune(directory: str, now: float | None = None) -> list[str]:
    """Remove the files of helpers gone for :data:`STALE_AFTER` seconds (each changed
    checkout or environment leaves a lock and a log); a lock some helper holds, or any file
    of the set touched since, keeps the set. Returns the stems removed."""
    now = time.time() if now is None else now
    removed = []
    for name in os.listdir(directory):
        if not (name.startswith("ls-") and name.endswith(".lock")):
            continue
        stem = os.path.join(directory, name[: -len(".lock")])
        files = [stem + ext for ext in (".lock", ".log", ".failed", ".sock")]
        try:
            newest = max(os.lstat(f).st_mtime for f in files if os.path.lexists(f))
            if now - newest < STALE_AFTER or os.path.lexists(stem + ".sock"):
                continue
            fd = os.open(stem + ".lock", os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
        except (OSError, ValueError):
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # its helper runs
        for f in files:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f)
        os.close(fd)
        removed.append(stem)
    return removed


def _bound(path: str, ino: int) -> bool:
    try:
        return os.lstat(path).st_ino == ino
    except OSError:
        return False


def serve(path: str) -> int:
    """Run the helper for ``path`` until idle; the process exit status."""
    env = resident.helper_env()
    fp = resident.fingerprint(env)
    if resident.socket_path(os.path.dirname(path), fp) != path:
        return failed(path, "the socket is not the one of this environment")
    lock = os.open(path[: -len(".sock")] + ".lock",
                   os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 0  # another helper serves this socket
    prune(os.path.dirname(path))
    # warm the imports the first request would pay for
    import atoll.cli.main
    import atoll.service.listing  # noqa: F401

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as srv:
        with contextlib.suppress(OSError):  # what cannot be removed makes bind fail below
            os.unlink(path)  # stale: its helper is gone, since we hold the lock
        old = os.umask(0o077)
        try:
            srv.bind(path)
            srv.listen(64)
        except OSError as exc:
            return failed(path, f"cannot listen on {path}: {exc.strerror}")
        finally:
            os.umask(old)
        ino = os.lstat(path).st_ino
        own_ns = _namespaces("self")
        idle = resident.idle_seconds(env)
        log(f"serving {path} as pid {os.getpid()}, exit after {idle:g} s idle")
        last = time.monotonic()
        while True:
            wait = min(5.0, idle - (time.monotonic() - last))
            ready = select.select([srv], [], [], max(wait, 0))[0] if wait > 0 else []
            if not ready:
                if time.monotonic() - last >= idle or not _bound(path, ino):
                    break
                continue
            conn, _ = srv.accept()
            with conn:
                handle(conn, fp, own_ns)
            last = time.monotonic()
        if _bound(path, ino):
            os.unlink(path)
            log("idle: exiting")
        else:
            log("socket removed or replaced: exiting")
        # a client that connected just before the unlink gets its answer
        srv.setblocking(False)
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                break
            with conn:
                conn.setblocking(True)
                handle(conn, fp, own_ns)
    return 0


def failed(path: str, why: str) -> int:
    """Log why this helper cannot serve, and mark it (``.failed``) so that clients do not
    start another one for a while (:data:`atoll.cli.resident.RETRY_AFTER_FAILURE`)."""
    log(f"cannot serve: {why}")
    with contextlib.suppress(OSError):
        os.close(os.open(resident.failed_marker(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC
                         | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
        os.utime(resident.failed_marker(path))
    return 1


def handle(conn: socket.socket, fp: str, own_ns: tuple[int, ...] | None) -> None:
    """Answer one connection, or close it without a word (see the module docstring); one
    line in the log either way."""
    started = time.monotonic()
    refusal = peer_refusal(conn, own_ns)
    if refusal is not None:
        log(f"refused: {refusal}")
        return
    data = read_request(conn)
    args = parse_request(data, fp) if data is not None else None
    if args is None:
        log("refused: not a request this helper answers")
        return
    code, out, err = run_captured(args)
    try:
        conn.settimeout(resident.ANSWER_TIMEOUT)
        conn.sendall(resident.encode_answer(code, out, err))
    except OSError as exc:
        log(f"answer lost: {exc.strerror}")  # the client lists in-process or not at all
        return
    log(f"answered {' '.join(args)}: exit {code}, {len(out)} bytes, "
        f"{(time.monotonic() - started) * 1000:.1f} ms")


def log(line: str) -> None:
    """One line on stderr (the helper's log file, emptied when it passes 1 MiB)."""
    try:
        if os.fstat(2).st_size > LOG_LIMIT:
            os.ftruncate(2, 0)
        os.write(2, f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}\n".encode())
    except OSError:
        pass


def main() -> None:
    if len(sys.argv) != 2 or not sys.argv[1].endswith(".sock"):
        print("usage: python -m atoll.cli.resident_server DIR/ls-HASH.sock", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(serve(sys.argv[1]))


if __name__ == "__main__":
    main()
