"""The resident listing helper, client side: answer ``atoll ls [--json] [--here]`` from a
warm process of the same operator instead of starting Python's imports again.

Why: ``atoll ls --json --here`` is what every peer runs over SSH on every fleet refresh,
and a one-shot Python process spends ~90 ms on interpreter start-up and imports before its
first tmux call, against ~40 ms for the tmux calls themselves (``bench/ls_bench.py``, 200
sessions under 4 agent users). The helper keeps the imports warm; every request still makes
its own fresh tmux and sudo calls, reads the config file and the agent-user candidates
again, so an edit of sudoers, the config or a session shows on the very next listing.

How (docs/resident.md):

- Only listings of this host (``ls`` with optional ``--json`` and ``--here``) are
  answered by a helper; it runs exactly the in-process command
  (:mod:`atoll.cli.resident_server`).
- The socket lives in the operator's private runtime directory
  (:func:`atoll.rundir.runtime_base`: ``$XDG_RUNTIME_DIR/atoll`` or ``/tmp/atoll-UID``, a
  0700 directory of the real uid, never a symlink); when there is none (a squatted
  ``/tmp/atoll-UID``), there is no helper and the listing runs in-process as before.
- The socket's name carries a fingerprint of what the answer depends on: atoll's version,
  the interpreter, the newest mtime of atoll's source files, the real uid, and the
  environment variables in :data:`PASSED_ENV` (plus every ``ATOLL_*`` and ``XDG_*``). The
  helper runs with exactly that environment and checks the full fingerprint on every request,
  so a changed checkout, config location or tmux socket gets a helper of its own.
- Both ends check the other's credentials (``SO_PEERCRED``, socket(7)): the same uid, and
  for the helper also the same user, mount and pid namespaces as itself.
- Any failure on this path (no helper yet, a stale socket, a refused or short answer) falls
  back to the in-process listing, which then starts a helper for the next call.
- ``ATOLL_NO_HELPER=1`` (or ``ATOLL_DEBUG=1``, whose trace must come from this process)
  turns all of this off. A helper exits after
  :data:`IDLE_SECONDS` without a request (``ATOLL_HELPER_IDLE`` overrides, in seconds).

This module runs before click or any of atoll's listing code is imported, so it imports
only the standard library's light modules.
"""

from __future__ import annotations

import _socket  # the C module: ``socket`` costs ~6 ms of imports (enum, selectors)
import os
import sys
import zlib

from atoll import rundir

PROTOCOL = b"atoll-ls/1"
IDLE_SECONDS = 60.0
MAX_REQUEST = 65536
RETRY_AFTER_FAILURE = 60.0
"""Seconds during which no helper is started again for a socket whose helper could not
serve (a start costs ~100 ms of CPU; a machine where it always fails must not pay that on
every listing)."""
MAX_SOCKET_PATH = 107  # sun_path is 108 bytes on Linux, with its NUL (unix(7))
ANSWER_TIMEOUT = 120.0
"""Seconds a client waits for an answer before listing in-process itself; above the
30 s timeout of each tmux/sudo call (:func:`atoll.exec.process.run_argv`)."""

PASSED_ENV = (
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR",
    "TMUX_TMPDIR", "DOCKER_HOST", "DOCKER_CONFIG", "CONTAINER_HOST", "PYTHONPATH",
)
"""Environment variables a listing depends on (which code runs, tool lookup, config and
cache paths, tmux socket directory, container engines); with every ``ATOLL_*`` and
``XDG_*`` variable."""

_SERVED_FLAGS = frozenset({"--json", "--here"})
_UCRED_SIZE = 12  # struct ucred {pid_t pid; uid_t uid; gid_t gid;}, socket(7)


def serves(args: list[str]) -> bool:
    """True for the argument lists a helper answers: ``ls`` with ``--json`` and ``--here``
    optional, in any order, each at most once (the listings of this host; the table does
    not depend on the terminal, so it can be printed by another process)."""
    rest = args[1:]
    return (bool(args) and args[0] == "ls"
            and len(rest) == len(set(rest)) and set(rest) <= _SERVED_FLAGS)


def disabled(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """``ATOLL_NO_HELPER`` set to anything but empty or ``0``, or ``ATOLL_DEBUG`` set (the
    helper's processes would be traced on the helper's stderr, not this command's)."""
    return any(environ.get(k, "") not in ("", "0") for k in ("ATOLL_NO_HELPER", "ATOLL_DEBUG"))


def idle_seconds(environ: dict[str, str] | os._Environ[str] = os.environ) -> float:
    """The idle time after which a helper exits (``ATOLL_HELPER_IDLE``, else 60 s)."""
    try:
        value = float(environ.get("ATOLL_HELPER_IDLE", ""))
    except ValueError:
        return IDLE_SECONDS
    return value if 0 < value <= 86400 else IDLE_SECONDS


def helper_env(environ: dict[str, str] | os._Environ[str] = os.environ) -> dict[str, str]:
    """The environment a helper runs with: :data:`PASSED_ENV`, ``ATOLL_*`` and ``XDG_*``."""
    return {k: v for k, v in environ.items()
            if k in PASSED_ENV or k.startswith(("ATOLL_", "XDG_"))}


def _code_stamp(root: str) -> str:
    """Newest mtime (ns) and count of the files under atoll's package directory."""
    newest, count = 0, 0
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        stack.append(entry.path)
                elif entry.name.endswith((".py", ".tcss")):
                    newest = max(newest, entry.stat(follow_symlinks=False).st_mtime_ns)
                    count += 1
    return f"{newest}:{count}"


def fingerprint(env: dict[str, str]) -> str:
    """What a listing's answer depends on, as one line-separated string (no NUL)."""
    import atoll

    root = os.path.dirname(os.path.abspath(atoll.__file__))
    parts = [atoll.__version__, sys.executable, root, _code_stamp(root), str(os.getuid())]
    parts += [f"{k}={v}" for k, v in sorted(env.items())]
    return "\n".join(parts)


def socket_path(directory: str, fp: str) -> str:
    """``DIR/ls-HASH.sock``; HASH is 64 bits of CRC-32 and Adler-32 of the fingerprint (only
    a name: the helper compares the whole fingerprint on every request)."""
    data = fp.encode("utf-8", "surrogateescape")
    return os.path.join(directory, f"ls-{zlib.crc32(data):08x}{zlib.adler32(data):08x}.sock")


def encode_request(fp: str, args: list[str]) -> bytes:
    """``PROTOCOL NUL fingerprint NUL arg NUL arg ...`` (argv and environment strings cannot
    hold NUL, so the split is unambiguous; bytes that are not UTF-8 in the environment
    travel as they came, like os.environ keeps them)."""
    return b"\0".join([PROTOCOL, fp.encode("utf-8", "surrogateescape"),
                       *(a.encode("utf-8", "surrogateescape") for a in args)])


def peer_uid(sock: _socket.socket) -> tuple[int, int]:
    """(pid, uid) of the process at the other end of a connected AF_UNIX socket."""
    raw = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, _UCRED_SIZE)
    return (int.from_bytes(raw[0:4], sys.byteorder, signed=True),
            int.from_bytes(raw[4:8], sys.byteorder))


def ask(path: str, fp: str, args: list[str],
        timeout: float = ANSWER_TIMEOUT) -> tuple[int, bytes, bytes] | None:
    """The helper's answer at ``path`` as (exit code, stdout bytes, stderr bytes), or None
    when there is no helper, it is not ours, or it did not answer in full."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
        if peer_uid(sock)[1] != os.getuid():
            return None
        sock.sendall(encode_request(fp, args))
        sock.shutdown(_socket.SHUT_WR)
        chunks = []
        while True:
            chunk = sock.recv(262144)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        sock.close()
    return decode_answer(b"".join(chunks))


def encode_answer(code: int, out: bytes, err: bytes) -> bytes:
    """``b"CODE OUTLEN ERRLEN\\n" + out + err``."""
    return b"%d %d %d\n" % (code, len(out), len(err)) + out + err


def decode_answer(data: bytes) -> tuple[int, bytes, bytes] | None:
    """Inverse of :func:`encode_answer`; None for anything short, long or malformed."""
    head, sep, body = data.partition(b"\n")
    fields = head.split(b" ")
    if not sep or len(fields) != 3 or not all(f.isdigit() for f in fields):
        return None
    code, n_out, n_err = (int(f) for f in fields)
    if code > 255 or n_out + n_err != len(body):
        return None
    return code, body[:n_out], body[n_out:]


def failed_marker(path: str) -> str:
    """``DIR/ls-HASH.failed``: touched when a helper could not serve ``DIR/ls-HASH.sock``."""
    return path[: -len(".sock")] + ".failed"


class Plan:
    """What the console script found for one eligible invocation."""

    __slots__ = ("env", "fp", "path")

    def __init__(self, path: str, fp: str, env: dict[str, str]) -> None:
        self.path, self.fp, self.env = path, fp, env

    def start_helper(self) -> None:
        """Start a helper for this socket (a second one started meanwhile exits at once:
        the helper holds a lock next to its socket), unless one failed to serve it within
        :data:`RETRY_AFTER_FAILURE` seconds. Failures are ignored: the listing has been
        answered already, and the next one simply runs in-process again."""
        try:
            import time

            if time.time() - os.stat(failed_marker(self.path)).st_mtime < RETRY_AFTER_FAILURE:
                return
        except OSError:
            pass  # no marker: no recent failure
        try:
            from atoll.exec.process import spawn_detached

            # -P: the working directory ("/") is not put on sys.path (python(1), 3.11)
            spawn_detached([sys.executable, "-P", "-m", "atoll.cli.resident_server", self.path],
                           env=self.env, log_path=self.path[: -len(".sock")] + ".log")
        except Exception:  # noqa: S110 - best effort, see above
            pass


def plan(args: list[str]) -> Plan | None:
    """A :class:`Plan` when this invocation may be answered by a helper, else None."""
    if not serves(args) or disabled():
        return None
    directory = rundir.runtime_base()
    if directory is None:
        return None
    env = helper_env()
    fp = fingerprint(env)
    path = socket_path(directory, fp)
    return Plan(path, fp, env) if len(path.encode()) <= MAX_SOCKET_PATH else None
