"""Asking other hosts what the operator may see there (shared/DESIGN.md decision 4).

``query_hosts(hosts, timeout)`` runs ``atoll ls --json --here`` on every host over SSH, in
parallel threads, each bounded by its own timeout (seconds; ``HostConfig.timeout`` wins over
the default). It returns, in input order, one ``(HostRow, sessions)`` per host:

- a good answer: ``HostRow(reachable=True)`` and its sessions, with ``host`` set to our name
  for the host whatever the peer wrote; the answer is cached;
- a failure (unreachable, timed out, atoll missing or failing, an answer that fails
  validation): ``HostRow(reachable=..., error=...)`` and, when a previous good answer is
  cached, those sessions with ``stale=True`` and ``age_seconds``.

An answer is untrusted input: at most :data:`MAX_ANSWER_BYTES` bytes are read, it must
decode as a ``Listing``, hold at most :data:`MAX_SESSIONS` sessions, and every text field
must be free of control characters and within its length limit; numbers must be in range.
Anything else rejects the whole answer (nothing of it is shown). Error texts taken from a
peer are stripped of control characters and shortened.

``remote_action(alias, argv, correlation_id, tty=False)`` runs one ``atoll`` command on a
peer (kill, peek, type, new, attach with ``tty=True``) and maps the peer's exit status to
the same :mod:`atoll.core.errors` classes (exit codes 1-5).

Cache: ``platformdirs.user_cache_path("atoll")/hosts/NAME.json`` (0600 in a 0700 dir).
"""

from __future__ import annotations

import contextlib
import math
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

import msgspec
import platformdirs

from atoll.core.config import HostConfig
from atoll.core.errors import (
    AtollError,
    ExitCode,
    HostUnreachableError,
    NotFoundError,
    PermissionDeniedError,
    UsageError,
)
from atoll.core.models import SCHEMA_VERSION, HostRow, SessionRow, decode_listing
from atoll.core.names import has_control_chars, validate_host_name
from atoll.core.termfilter import EscapeFilter
from atoll.exec.files import read_regular
from atoll.exec.process import Capped, Completed, run_capped, run_foreground
from atoll.exec.relay import Relay
from atoll.exec.runner import Ssh
from atoll.fleet.sshctl import (
    check_master,
    control_dir,
    drop_master,
    master_state,
    private_dir,
    socket_path,
    ssh_for,
)
from atoll.rundir import replace_private

LS_ARGV = ["atoll", "ls", "--json", "--here"]
MAX_ANSWER_BYTES = 8 << 20
MAX_SESSIONS = 10_000
MAX_ACTION_OUTPUT = 16 << 20
MAX_PARALLEL = 32
_TEXT_LIMITS = {
    "name": 256, "agent": 128, "project": 4096, "worktree": 4096, "agent_user": 64,
    "launched_by": 64, "island": 256, "command": 4096, "net": 8,
}  # fmt: skip
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)")
_CORRELATION = re.compile(r"[A-Za-z0-9._-]{1,128}")
_SESSION_ID = re.compile(r"\$[0-9]{1,10}")
_PANE_ID = re.compile(r"%[0-9]{1,10}")
Result = tuple[HostRow, list[SessionRow]]


class InvalidAnswer(AtollError):
    """A peer's answer failed validation."""


def clean(text: str, limit: int = 200) -> str:
    """Peer text made safe for one display line: controls dropped, shortened."""
    flat = "".join(" " if c in "\t\n\r" else c for c in text)
    flat = "".join(c for c in flat if not has_control_chars(c)).strip()
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _last_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    line = lines[-1] if lines else ""
    return clean(line.removeprefix("atoll: error: "))


def _in(value: float | None, low: float, high: float) -> bool:
    # Compared as numbers, not via float(): a 401-digit int must be "out of range", not an
    # OverflowError (msgspec decodes JSON integers of any length into an int field).
    if value is None:
        return True
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return low <= value <= high


def row_problem(row: SessionRow) -> str | None:
    """Why ``row`` is unacceptable from a peer, or None."""
    for field, limit in _TEXT_LIMITS.items():
        value = getattr(row, field)
        if has_control_chars(value):
            return f"{field} holds control characters"
        if len(value) > limit:
            return f"{field} longer than {limit} characters"
    if not row.name:
        return "empty session name"
    if row.reason is not None and (len(row.reason) > 64 or has_control_chars(row.reason)):
        return "reason is not a short word"
    if len(row.opened_to) > 64 or any(len(u) > 64 or has_control_chars(u)
                                      for u in row.opened_to):
        return "opened_to is not a short list of user names"
    if row.session_id and not _SESSION_ID.fullmatch(row.session_id):
        return "session_id is not a tmux session id"
    if row.pane_id and not _PANE_ID.fullmatch(row.pane_id):
        return "pane_id is not a tmux pane id"
    if row.mismatch is not None and (len(row.mismatch) > 256
                                     or has_control_chars(row.mismatch)):
        return "mismatch is not one short line"
    for field in ("created", "last_activity", "ended"):
        stamp = getattr(row, field)
        if stamp is not None and (len(stamp) > 40 or not _RFC3339.fullmatch(stamp)):
            return f"{field} is not an RFC 3339 time"
    checks = (
        ("idle_seconds", row.idle_seconds, 0, 10**10),
        ("attached", row.attached, 0, 10_000),
        ("cpu_percent", row.cpu_percent, 0.0, 1e6),
        ("rss_bytes", row.rss_bytes, 0, 2**50),
        ("pid", row.pid, 1, 2**22),
        ("exit_status", row.exit_status, -(2**16), 2**16),
        ("server_pid", row.server_pid, 1, 2**22),
        ("session_created", row.session_created, 0, 253_402_300_799),
    )
    for field, value, low, high in checks:
        if not _in(value, low, high):
            return f"{field} out of range"
    return None


def validate_answer(data: bytes, host: str) -> list[SessionRow]:
    """Sessions of a peer's ``atoll ls --json`` output, re-labelled ``host``; InvalidAnswer
    (one line, no peer-controlled bytes beyond cleaned text) when anything is off."""
    if len(data) > MAX_ANSWER_BYTES:
        raise InvalidAnswer(f"answer larger than {MAX_ANSWER_BYTES} bytes")
    try:
        listing = decode_listing(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise InvalidAnswer(f"malformed answer: {clean(str(exc), 160)}") from exc
    except RecursionError as exc:  # an unknown field holding deeply nested arrays
        raise InvalidAnswer("malformed answer: nested too deeply") from exc
    version = listing.schema_version
    if version < 0:
        raise InvalidAnswer("schema_version is negative")
    if version > SCHEMA_VERSION:
        shown = str(version) if version < 10**9 else "beyond 10^9"
        raise InvalidAnswer(f"its atoll lists in schema {shown}, newer than this atoll reads "
                            f"({SCHEMA_VERSION}): upgrade atoll here")
    if len(listing.sessions) > MAX_SESSIONS:
        raise InvalidAnswer(f"answer lists more than {MAX_SESSIONS} sessions")
    rows = []
    for i, row in enumerate(listing.sessions):
        problem = row_problem(row)
        if problem:
            raise InvalidAnswer(f"session {i}: {problem}")
        rows.append(msgspec.structs.replace(row, host=host))
    return rows


class _Entry(msgspec.Struct):
    saved: float
    sessions: list[SessionRow]


class HostCache:
    """Last good answer per host name under ``root`` (default: the XDG cache dir)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else platformdirs.user_cache_path("atoll") / "hosts"

    def _file(self, name: str) -> Path:
        return self.root / f"{validate_host_name(name)}.json"

    def save(self, name: str, rows: list[SessionRow], now: float) -> None:
        """Store ``rows``; a cache that cannot be written is skipped silently."""
        if private_dir(self.root) is None:
            return
        with contextlib.suppress(OSError):
            replace_private(str(self._file(name)), msgspec.json.encode(_Entry(now, rows)))

    def load(self, name: str, now: float) -> tuple[list[SessionRow], float] | None:
        """``(rows, age_seconds)`` of the last good answer, or None (absent or invalid)."""
        try:
            data = read_regular(self._file(name), 2 * MAX_ANSWER_BYTES)
            entry = msgspec.json.decode(data, type=_Entry)
        except (OSError, AtollError, RecursionError, msgspec.MsgspecError):
            return None
        if any(row_problem(r) or r.host != name for r in entry.sessions):
            return None
        return entry.sessions, max(0.0, now - entry.saved)


def _precheck(ssh: Ssh, limit: float) -> None:
    """Drop a wedged or stale master before using it (hello probe, see sshctl)."""
    path = socket_path(ssh)
    if path is None:
        return
    state = master_state(path, timeout=min(1.0, limit / 4))
    if state == "wedged":
        drop_master(ssh, path)
    elif state == "stale":
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def ask_peer(ssh: Ssh, argv: list[str], limit: float, cap: int) -> Capped:
    """Run ``argv`` on the peer within ``limit`` seconds in all (at most ``cap`` bytes
    read). A wedged master is dropped first (hello probe); after an ssh failure (exit 255)
    with time left and a master socket present, ``ssh -O check`` decides: a master that
    fails or hangs is removed and the command retried once within the time left."""
    start = time.monotonic()
    _precheck(ssh, limit)
    res = run_capped(ssh.wrap(argv), max(0.1, limit - (time.monotonic() - start)), cap)
    left = limit - (time.monotonic() - start)
    if res.returncode == 255 and left > 0.2:
        path = socket_path(ssh)
        if path is not None and path.exists() and not check_master(ssh, min(2.0, left)):
            drop_master(ssh, path)
            left = limit - (time.monotonic() - start)
            if left > 0.2:
                res = run_capped(ssh.wrap(argv), left, cap)
    return res


def query_host(host: HostConfig, timeout: float, *, cdir: Path | None = None,
               cache: HostCache | None = None, ended: bool = False) -> Result:
    """One host's row and sessions (see module docstring); never raises AtollError.
    ``ended``: ask for the sessions ``kill`` ended too (``ls --all`` there)."""
    limit = host.timeout or timeout
    try:
        ssh = ssh_for(host.ssh, limit, cdir)
        res = ask_peer(ssh, [*LS_ARGV, "--all"] if ended else LS_ARGV, limit,
                       MAX_ANSWER_BYTES + 1)
    except AtollError as exc:
        return _failed(host.name, False, clean(str(exc)), cache)
    if res.timed_out:
        return _failed(host.name, False, f"no answer within {limit:g}s", cache)
    if res.truncated:
        return _failed(host.name, True, f"answer larger than {MAX_ANSWER_BYTES} bytes", cache)
    if res.returncode == 255:
        return _failed(host.name, False, _last_line(res.stderr) or "ssh failed", cache)
    if res.returncode == 127:
        return _failed(host.name, True, "atoll not found there (install it on the host)", cache)
    if res.returncode != 0:
        detail = _last_line(res.stderr)
        return _failed(host.name, True, f"atoll ls failed (exit {res.returncode}): {detail}",
                       cache)
    try:
        rows = validate_answer(res.stdout, host.name)
    except InvalidAnswer as exc:
        return _failed(host.name, True, f"rejected answer: {exc}", cache)
    except Exception as exc:  # a peer's bytes never end the listing
        return _failed(host.name, True, f"rejected answer: {type(exc).__name__}", cache)
    if cache is not None:
        cache.save(host.name, rows, time.time())
    return HostRow(host=host.name, reachable=True), rows


def _failed(name: str, reachable: bool, error: str, cache: HostCache | None) -> Result:
    old = cache.load(name, time.time()) if cache is not None else None
    if old is None:
        return HostRow(host=name, reachable=reachable, error=error), []
    rows, age = old
    return HostRow(host=name, reachable=reachable, error=error, stale=True,
                   age_seconds=round(age, 3)), rows


def query_hosts(hosts: list[HostConfig], timeout: float, *,
                ended: bool = False) -> list[Result]:
    """Every host in parallel, in input order; one row per host, never an exception for a
    host's failure (``ended``: see :func:`query_host`)."""
    if not hosts:
        return []
    cache = HostCache()
    try:
        cdir = control_dir()
    except AtollError as exc:
        return [_failed(h.name, False, str(exc), cache) for h in hosts]
    pool = ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(hosts)),
                              thread_name_prefix="atoll-host")
    futures: list[Future[Result]] = [
        pool.submit(query_host, h, timeout, cdir=cdir, cache=cache, ended=ended)
        for h in hosts
    ]
    # Each query ends by its own timeout (a retry may take a second one); this is a backstop.
    backstop = 2 * max(h.timeout or timeout for h in hosts) + 10
    done, _ = wait(futures, timeout=backstop)
    pool.shutdown(wait=False, cancel_futures=True)
    out: list[Result] = []
    for host, fut in zip(hosts, futures, strict=True):
        if fut in done:
            try:
                out.append(fut.result())
            except Exception as exc:
                name = type(exc).__name__
                out.append(_failed(host.name, True, f"answer not usable ({name})", cache))
        else:
            out.append(_failed(host.name, False, "no answer (query stuck)", cache))
    return out


def _with_id(argv: list[str], correlation_id: str | None) -> list[str]:
    """Checked ``argv`` with ``--correlation-id ID`` inserted before any ``--``."""
    if not argv or argv[0] != "atoll":
        raise UsageError("a remote action runs atoll only")
    if any("\0" in a for a in argv):
        raise UsageError("remote arguments may not contain NUL")
    full = list(argv)
    if correlation_id is not None:
        if not _CORRELATION.fullmatch(correlation_id):
            raise UsageError("invalid correlation id")
        at = full.index("--") if "--" in full else len(full)
        full[at:at] = ["--correlation-id", correlation_id]
    return full


def remote_argv(alias: str, argv: list[str], correlation_id: str | None = None,
                tty: bool = False, cdir: Path | None = None, timeout: float = 10.0) -> list[str]:
    """The ssh argv running ``argv`` (an ``atoll`` command) on ``alias``, with
    ``--correlation-id ID`` inserted before any ``--``. UsageError on bad input."""
    validate_host_name(alias)
    return ssh_for(alias, timeout, cdir, tty=tty).wrap(_with_id(argv, correlation_id))


_BY_CODE: dict[int, type[AtollError]] = {
    ExitCode.USAGE: UsageError,
    ExitCode.NOT_FOUND: NotFoundError,
    ExitCode.PERMISSION: PermissionDeniedError,
    ExitCode.UNREACHABLE: HostUnreachableError,
}


def error_for(code: int, message: str) -> AtollError:
    """The error class of a peer's atoll exit status ``code`` (2-5 keep their meaning)."""
    return _BY_CODE.get(code, AtollError)(message)


def attach_argv(alias: str, argv: list[str], correlation_id: str | None) -> list[str]:
    """The ssh argv that runs the ``atoll attach ...`` of ``argv`` on ``alias`` with this
    terminal passed through (``ssh -t``); a wedged master is dropped first. Its exit status
    is the peer's, or 255 when ssh itself failed."""
    ssh = ssh_for(alias, 10.0, tty=True)
    _precheck(ssh, 10.0)
    return ssh.wrap(_with_id(argv, correlation_id))


def remote_action(alias: str, argv: list[str], correlation_id: str | None,
                  tty: bool = False, timeout: float = 30.0) -> Completed:
    """Run an ``atoll`` command on ``alias``. With ``tty`` the terminal is passed through
    (attach) and nothing is captured. Raises HostUnreachableError (ssh failed or no answer
    within ``timeout`` s; no timeout with ``tty``), or the error class of the peer's exit
    status with the peer's message prefixed by ``alias``."""
    if tty:
        full = attach_argv(alias, argv, correlation_id)
        code = run_foreground(full, relay=Relay(EscapeFilter().feed))  # a peer's bytes
        if code == 255:
            raise HostUnreachableError(f"{alias}: ssh failed")
        if code != 0:
            raise _BY_CODE.get(code, AtollError)(f"{alias}: atoll exited with status {code}")
        return Completed(full, 0, b"", "")
    command = _with_id(argv, correlation_id)
    ssh = ssh_for(alias, min(timeout, 10.0))
    res = ask_peer(ssh, command, timeout, MAX_ACTION_OUTPUT)
    if res.timed_out:
        raise HostUnreachableError(f"{alias}: no answer within {timeout:g}s")
    if res.truncated:
        raise AtollError(f"{alias}: output larger than {MAX_ACTION_OUTPUT} bytes")
    if res.returncode == 255:
        raise HostUnreachableError(f"{alias}: {_last_line(res.stderr) or 'ssh failed'}")
    if res.returncode == 127:
        raise AtollError(f"{alias}: atoll not found there (install it on the host)")
    if res.returncode:
        detail = _last_line(res.stderr) or f"exit status {res.returncode}"
        raise _BY_CODE.get(res.returncode, AtollError)(f"{alias}: {detail}")
    return Completed(res.argv, 0, res.stdout, res.stderr)
