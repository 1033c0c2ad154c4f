"""The operator's MCP bridge: how an AI running as an agent user reaches opened sessions.

The recommended setup runs the AI itself as an agent user, so not even its own shell tool
can reach the operator's tmux server (shared/DESIGN.md decision 15). Its ``atoll mcp``
cannot act on anything by itself; it asks the bridge, a small process of the operator's
started on demand by ``atoll mcp open NAME --for AGENT``.

Where: ``/tmp/atoll-mcp-<operator uid>/`` (mode 0711, owned by the operator: nobody else
can create, list or replace anything in it), one socket per AI user,
``for-<uid>.sock``. The socket is 0600 with a POSIX ACL entry giving only that uid
read/write where ``setfacl`` exists (acl(5)); either way every connection's peer uid is
read with ``SO_PEERCRED`` and must be the uid the socket is for, or the connection is
refused and the refusal recorded. An agent user's ``atoll mcp`` finds the bridges opened
to it with no configuration by looking for ``/tmp/atoll-mcp-*/for-<its uid>.sock`` and
checking that the directory is owned by the uid in its name and writable by nobody else.

Protocol: one request per connection, one JSON line of at most 64 KiB within 5 s
(``{"tool", "args", "client"}``), answered by one JSON line (``{"ok", "result"}`` or
``{"ok": false, "error", "exit"}``). Only the five tools of :class:`Tools` exist; the
bridge acts for the peer's uid on the sessions opened to that uid, nothing else.

The bridge exits when no session is open to any AI any more (it rereads the openings file
each second) and removes its sockets; ``atoll mcp close`` therefore ends it too.

Threat model: every process of that agent user (its other agents too) can use what was
opened to it; the bridge cannot tell them apart.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import pwd
import select
import socket
import stat
import struct
import sys
import threading
from collections.abc import Callable
from typing import Any

import msgspec

from atoll.core.errors import AtollError, ExitCode, UsageError
from atoll.core.operator import MAX_REQUEST, TOOLS, Request

MAX_ANSWER = 4 << 20
READ_TIMEOUT = 5.0
#: Longest a tool may take (wait_for_screen's own cap plus margin), seconds.
CALL_TIMEOUT = 130.0
#: At most this many requests are served at once (each may wait up to CALL_TIMEOUT).
MAX_CONCURRENT = 8


def bridge_dir(uid: int | None = None) -> str:
    """``/tmp/atoll-mcp-<uid>``: the operator's bridge directory."""
    return f"/tmp/atoll-mcp-{os.getuid() if uid is None else uid}"


def socket_path(for_uid: int, uid: int | None = None) -> str:
    return os.path.join(bridge_dir(uid), f"for-{for_uid}.sock")


def trusted_dir(path: str, owner: int) -> bool:
    """Whether ``path`` is a real directory (lstat) owned by ``owner`` that no other user
    can write to: what a client must see before it talks to a bridge there."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == owner and not st.st_mode & 0o022


def _make_dir() -> str:
    path = bridge_dir()
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o711)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise AtollError(f"{path} belongs to someone else: remove it (as root) and retry")
    if stat.S_IMODE(st.st_mode) != 0o711:
        os.chmod(path, 0o711)  # noqa: S103 - others traverse to their own socket only
    return path


def peer_uid(conn: socket.socket) -> tuple[int, int]:
    """(pid, uid) of the peer, from the kernel (``SO_PEERCRED``, unix(7))."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, _gid = struct.unpack("3i", creds)
    return pid, uid


class Answer(msgspec.Struct, frozen=True):
    ok: bool
    result: Any = None
    error: str = ""
    exit: int = 0


def _read_line(conn: socket.socket, limit: int, timeout: float) -> bytes | None:
    conn.settimeout(timeout)
    buf = b""
    try:
        while b"\n" not in buf:
            chunk = conn.recv(65536)
            if not chunk:
                break
            buf += chunk
            if len(buf) > limit:
                return None
    except (TimeoutError, OSError):
        return None
    line, _, _ = buf.partition(b"\n")
    return line


# -- client side (the AI's `atoll mcp`, any user) --------------------------------------------
def discover(uid: int | None = None) -> list[tuple[str, int]]:
    """(socket path, operator uid) of every bridge opened to ``uid`` (default: ours),
    other than our own directory; directories that fail :func:`trusted_dir` are skipped."""
    me = os.getuid() if uid is None else uid
    found: list[tuple[str, int]] = []
    for d in sorted(glob.glob("/tmp/atoll-mcp-*")):
        suffix = d.rsplit("-", 1)[-1]
        if not suffix.isdigit() or int(suffix) == me:
            continue
        owner = int(suffix)
        path = os.path.join(d, f"for-{me}.sock")
        if trusted_dir(d, owner) and os.path.exists(path):
            found.append((path, owner))
    return found


def call(path: str, tool: str, args: dict[str, Any], client: dict[str, str],
         owner: int | None = None, timeout: float = CALL_TIMEOUT) -> Any:
    """Ask the bridge at ``path`` to run ``tool``; returns its result. Raises AtollError
    with the bridge's message (and exit code) when it refuses, or when it cannot be
    reached or its peer is not ``owner``."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.settimeout(READ_TIMEOUT)
        try:
            conn.connect(path)
        except OSError as exc:
            raise AtollError(f"cannot reach the operator's bridge ({exc.strerror})") from exc
        if owner is not None and peer_uid(conn)[1] != owner:
            raise AtollError("the bridge socket is not served by its directory's owner")
        conn.sendall(msgspec.json.encode(Request(tool, args, client)) + b"\n")
        line = _read_line(conn, MAX_ANSWER, timeout)
    finally:
        conn.close()
    if not line:
        raise AtollError("the operator's bridge closed the connection without an answer")
    try:
        answer = msgspec.json.decode(line, type=Answer)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise AtollError("the operator's bridge gave an answer out of shape") from exc
    if not answer.ok:
        err = AtollError(answer.error[:500] or "refused by the operator's bridge")
        with contextlib.suppress(ValueError):
            err.exit_code = ExitCode(answer.exit)
        raise err
    return answer.result


# -- server side (the operator) ---------------------------------------------------------------
Dispatch = Callable[[str, str, Request], Any]


def serve_connection(conn: socket.socket, for_uid: int, dispatch: Dispatch,
                     deny: Callable[[str, str], None]) -> None:
    """Answer one connection on the socket made for ``for_uid``."""
    try:
        _pid, uid = peer_uid(conn)
    except OSError:
        return
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    if uid != for_uid:
        deny(user, f"uid {uid} connected to the socket for uid {for_uid}")
        return
    line = _read_line(conn, MAX_REQUEST, READ_TIMEOUT)
    if line is None:
        deny(user, "request too large, too slow or unreadable")
        return
    try:
        req = msgspec.json.decode(line, type=Request)
        if req.tool not in TOOLS:
            raise UsageError(f"no tool {req.tool[:40]!r}")
        answer = Answer(True, msgspec.to_builtins(dispatch(user, req.tool, req)))
    except (msgspec.DecodeError, msgspec.ValidationError):
        answer = Answer(False, error="malformed request", exit=int(ExitCode.USAGE))
    except AtollError as exc:
        answer = Answer(False, error=str(exc), exit=int(exc.exit_code))
    except (TypeError, ValueError) as exc:
        answer = Answer(False, error=f"bad arguments: {exc}"[:300], exit=int(ExitCode.USAGE))
    with contextlib.suppress(OSError):
        conn.sendall(msgspec.json.encode(answer) + b"\n")


def _acl_only(path: str, uid: int) -> None:
    """Give ``uid`` (and nobody else but us) access to the socket: 0600 plus an ACL entry
    when ``setfacl`` exists; else 0666, and SO_PEERCRED alone decides (documented)."""
    from atoll.exec.process import run_argv

    os.chmod(path, 0o600)
    try:
        ok = run_argv(["setfacl", "-m", f"u:{uid}:rw", path], timeout=5).ok
    except AtollError:
        ok = False
    if not ok:
        os.chmod(path, 0o666)  # noqa: S103 - no ACLs here: SO_PEERCRED decides


class Bridge:
    """The operator's bridge process: one listening socket per AI user with openings."""

    def __init__(self, dispatch: Dispatch, deny: Callable[[str, str], None],
                 wanted: Callable[[], set[int]]) -> None:
        self.dispatch, self.deny, self.wanted = dispatch, deny, wanted
        self.listeners: dict[int, socket.socket] = {}
        self.busy = threading.BoundedSemaphore(MAX_CONCURRENT)

    def _sync(self) -> None:
        want = self.wanted()
        for uid in list(self.listeners):
            if uid not in want:
                self.listeners.pop(uid).close()
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(socket_path(uid))
        for uid in want - set(self.listeners):
            path = socket_path(uid)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(path)
            _acl_only(path, uid)
            sock.listen(16)
            self.listeners[uid] = sock

    def run(self) -> None:
        """Serve until no session is open to any AI."""
        while True:
            self._sync()
            if not self.listeners:
                return
            by_fd = {s.fileno(): (uid, s) for uid, s in self.listeners.items()}
            ready, _, _ = select.select(list(by_fd), [], [], 1.0)
            for fd in ready:
                uid, sock = by_fd[fd]
                try:
                    conn, _ = sock.accept()
                except OSError:
                    continue
                if not self.busy.acquire(blocking=False):
                    conn.close()
                    continue
                threading.Thread(target=self._one, args=(conn, uid), daemon=True).start()

    def _one(self, conn: socket.socket, uid: int) -> None:
        try:
            serve_connection(conn, uid, self.dispatch, self.deny)
        finally:
            conn.close()
            self.busy.release()


def run_bridge() -> int:
    """Entry point of the bridge process (``python -m atoll.service.bridge``): one per
    operator (an ``flock`` on ``bridge.lock``); returns its exit status."""
    from atoll.service import audit, openings
    from atoll.service.context import context_from_environment
    from atoll.service.operator import Tools, client_of, run_tool

    directory = _make_dir()
    lock = os.open(os.path.join(directory, "bridge.lock"),
                   os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 0  # another bridge of ours is running
    ctx = context_from_environment()

    def wanted() -> set[int]:
        uids: set[int] = set()
        try:
            every = openings.load()
        except AtollError:
            return uids
        for o in every:
            if o.for_user == ctx.operator:
                continue
            with contextlib.suppress(KeyError):
                uids.add(pwd.getpwnam(o.for_user).pw_uid)
        return uids

    def dispatch(user: str, tool: str, req: Request) -> Any:
        return run_tool(Tools(ctx, user, client_of(req)), tool, req.args)

    def deny(user: str, why: str) -> None:
        with contextlib.suppress(AtollError):
            audit.event(ctx, "mcp.connect", {"session": "*"}, "denied",
                        {"ai_user": user, "reason": why})

    Bridge(dispatch, deny, wanted).run()
    return 0


def ensure_running() -> None:
    """Start the operator's bridge unless one is running (its lock is held)."""
    from atoll.exec.process import spawn_detached

    directory = _make_dir()
    lock_path = os.path.join(directory, "bridge.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # held: a bridge runs
    finally:
        os.close(fd)
    env = {k: v for k, v in os.environ.items() if k != "TMUX"}
    spawn_detached([sys.executable, "-P", "-m", "atoll.service.bridge"], env=env,
                   log_path=os.path.join(directory, "bridge.log"))


if __name__ == "__main__":
    sys.exit(run_bridge())
