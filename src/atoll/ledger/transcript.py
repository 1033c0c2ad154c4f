"""Session transcripts the agent user can feed but never read or rewrite.

tmux runs a ``pipe-pane`` command as the tmux server's user (often the agent user), so that
command must not hold the transcript file. Instead:

1. the operator makes a private directory with a random name under ``/tmp`` and a FIFO in
   it (random name too). When the writer (the tmux server's user) is another user, a POSIX
   ACL grants exactly that user ``--x`` on the directory and ``-w-`` on the FIFO (directory
   0700, FIFO 0600 otherwise): nobody else can reach the FIFO even knowing its name. On a
   filesystem without ACLs it falls back to 0711/0622, where the random names are the only
   protection (reported as ``Transcript.restricted = False``);
2. a detached recorder (``python -m atoll.ledger.recorder``), running as the operator in its
   own session, copies the FIFO into an operator-only 0600 file under
   ``state_dir()/"transcripts"`` (directory 0700);
3. the pane's pipe command is ``exec cat > FIFO``; when the pane goes away cat exits, the
   recorder sees EOF, fsyncs, removes the FIFO and its directory, and appends a
   ``transcript.closed`` record with the file's SHA-256 and size in bytes.

A transcript shows what the pane printed, which the agent controls.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import pwd
import re
import secrets
import shlex
import struct
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import msgspec

from atoll.core.errors import AtollError, NotFoundError
from atoll.exec.files import UnsafeFileError, open_regular
from atoll.exec.process import spawn_with_fds
from atoll.ledger.audit import Audit
from atoll.ledger.store import Ledger, make_private_dirs, state_dir

FIFO_PARENT = Path("/tmp")

_ACL_XATTR = "system.posix_acl_access"
_ACL_USER_OBJ, _ACL_USER, _ACL_GROUP_OBJ, _ACL_MASK, _ACL_OTHER = 0x01, 0x02, 0x04, 0x10, 0x20
_ACL_UNDEFINED_ID = 0xFFFFFFFF


@dataclass(frozen=True)
class Transcript:
    """A started transcript: give ``pipe_command`` to ``tmux pipe-pane -O -t PANE``.

    ``path``: the operator-only transcript file; ``fifo``: what the pane's command writes;
    ``recorder_pid``: the detached recorder; ``restricted``: True when only the operator and
    the writer can open the FIFO (ACL or same user), False when anyone who learns its
    random name could (no ACL support).
    """

    session: str
    path: Path
    fifo: Path
    pipe_command: str
    recorder_pid: int
    restricted: bool


class TranscriptCheck(NamedTuple):
    """``path`` of the newest transcript, its current SHA-256 (None: file missing), and
    ``matches``: True/False against the ``transcript.closed`` record, None while open."""

    path: Path
    sha256: str | None
    matches: bool | None


def transcripts_dir() -> Path:
    """Where transcripts are kept (``state_dir()/"transcripts"``)."""
    return state_dir() / "transcripts"


def _file_prefix(session_key: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", session_key).lstrip(".-")[:64] or "session"
    digest = hashlib.sha256(session_key.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{safe}-{digest}-"


def _acl(owner_perm: int, user_uid: int, user_perm: int) -> bytes:
    """A ``system.posix_acl_access`` value: owner, one named user, nothing for the rest."""
    entries = [
        (_ACL_USER_OBJ, owner_perm, _ACL_UNDEFINED_ID),
        (_ACL_USER, user_perm, user_uid),
        (_ACL_GROUP_OBJ, 0, _ACL_UNDEFINED_ID),
        (_ACL_MASK, user_perm, _ACL_UNDEFINED_ID),
        (_ACL_OTHER, 0, _ACL_UNDEFINED_ID),
    ]
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


def _make_fifo(fifo_parent: Path, writer_uid: int | None) -> tuple[Path, bool]:
    """Create the private directory and FIFO; return (fifo, restricted)."""
    directory = Path(tempfile.mkdtemp(prefix="atoll-tx-", dir=fifo_parent))  # 0700
    fifo = directory / secrets.token_hex(16)
    os.mkfifo(fifo, 0o600)
    os.chmod(fifo, 0o600)
    if writer_uid is None:
        return fifo, True
    try:
        os.setxattr(directory, _ACL_XATTR, _acl(0o7, writer_uid, 0o1))
        os.setxattr(fifo, _ACL_XATTR, _acl(0o6, writer_uid, 0o2))
        return fifo, True
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.ENOTSUP):
            raise
    # No ACLs here: only the random names keep other users out (restricted=False).
    os.chmod(directory, 0o711)  # noqa: S103
    os.chmod(fifo, 0o622)  # noqa: S103
    return fifo, False


def _spawn_recorder(argv: list[str], out_fd: int) -> int:
    """Start the recorder detached (own session, stdio on /dev/null, the transcript file on
    fd 3, a status pipe on fd 4); return the pid of the long-lived recorder process."""
    status_r, status_w = os.pipe()
    try:
        launcher = spawn_with_fds(argv, {3: out_fd, 4: status_w})
    except OSError:
        os.close(status_r)
        raise
    finally:
        os.close(status_w)
    with os.fdopen(status_r, "rb") as status:
        answer = status.read()
    _, wait_status = os.waitpid(launcher, 0)
    code = os.waitstatus_to_exitcode(wait_status)
    text = answer.decode("ascii", "replace").strip()
    if code != 0 or not text.isdigit():
        raise AtollError(f"the transcript recorder did not start (exit {code}) {text}".strip())
    return int(text)


def start_transcript(
    session_key: str,
    audit: Audit,
    *,
    writer: str | None = None,
    directory: Path | None = None,
    fifo_parent: Path = FIFO_PARENT,
) -> Transcript:
    """Start recording a session's pane output; returns once the recorder runs.

    ``writer``: the user the tmux server (and so the pipe-pane command) runs as, when it is
    not the operator. ``directory``: where the transcript goes (default
    :func:`transcripts_dir`). The recorder appends ``transcript.closed`` to
    ``audit.ledger`` with ``audit``'s host, actor and correlation. Raises NotFoundError for
    an unknown writer, AtollError when the files or the recorder cannot be made.
    """
    writer_uid: int | None = None
    if writer is not None:
        try:
            writer_uid = pwd.getpwnam(writer).pw_uid
        except KeyError:
            raise NotFoundError(f"user {writer!r} does not exist") from None
        if writer_uid == os.getuid():
            writer_uid = None
    directory = directory or transcripts_dir()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = directory / f"{_file_prefix(session_key)}{stamp}-{secrets.token_hex(3)}.log"
    fifo: Path | None = None
    out_fd = -1
    try:
        make_private_dirs(directory)
        out_fd = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600
        )
        os.fchmod(out_fd, 0o600)
        fifo, restricted = _make_fifo(fifo_parent, writer_uid)
        argv = [
            sys.executable, "-m", "atoll.ledger.recorder",
            "--fifo", str(fifo),
            "--out", str(path),
            "--ledger", str(audit.ledger.path),
            "--host", audit.host,
            "--session", session_key,
            "--actor", msgspec.json.encode(audit.actor.to_json()).decode(),
        ]
        if audit.correlation_id is not None:
            argv += ["--correlation", audit.correlation_id]
        pid = _spawn_recorder(argv, out_fd)
    except OSError as exc:
        if fifo is not None:
            _remove_fifo(fifo)
        raise AtollError(f"cannot start a transcript for {session_key}: {exc.strerror}") from exc
    except AtollError:
        if fifo is not None:
            _remove_fifo(fifo)
        raise
    finally:
        if out_fd >= 0:
            os.close(out_fd)
    assert fifo is not None
    return Transcript(
        session=session_key,
        path=path,
        fifo=fifo,
        pipe_command=f"exec cat > {shlex.quote(str(fifo))}",
        recorder_pid=pid,
        restricted=restricted,
    )


def _remove_fifo(fifo: Path) -> None:
    with contextlib.suppress(OSError):
        fifo.unlink()
    with contextlib.suppress(OSError):
        fifo.parent.rmdir()


def stop_transcript(transcript: Transcript) -> None:
    """End a transcript whose pane never attached (e.g. the session failed to start): the
    recorder sees an empty stream, records ``transcript.closed`` and exits. No effect once
    the pane's command holds the FIFO (the recorder then ends with the pane)."""
    try:
        fd = os.open(transcript.fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return  # no recorder waiting (ENXIO) or already gone
    os.close(fd)


def _sha256_file(path: Path) -> str | None:
    try:
        fd = open_regular(path)  # no symlink, FIFO or device planted in its place
    except FileNotFoundError:
        return None
    except UnsafeFileError as exc:
        raise AtollError(f"cannot read transcript: {exc}") from exc
    try:
        with os.fdopen(fd, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError as exc:
        raise AtollError(f"cannot read transcript {path}: {exc.strerror}") from exc


def check_transcript(
    session_key: str, ledger: Ledger, *, directory: Path | None = None
) -> TranscriptCheck:
    """Compare the newest transcript of ``session_key`` with its ``transcript.closed``
    record. Raises NotFoundError when the session has neither a transcript nor a record."""
    directory = directory or transcripts_dir()
    closed: dict[str, str] = {}
    last_closed: str | None = None
    for event in ledger.iter_events():
        if event.get("action") != "transcript.closed":
            continue
        target, details = event.get("target"), event.get("details")
        if not isinstance(target, dict) or target.get("session") != session_key:
            continue
        if isinstance(details, dict) and isinstance(details.get("path"), str):
            closed[details["path"]] = str(details.get("sha256"))
            last_closed = details["path"]
    files = sorted(directory.glob(f"{_file_prefix(session_key)}*.log"))  # prefix is glob-safe
    if files:
        newest = files[-1]
        current = _sha256_file(newest)
        recorded = closed.get(str(newest))
        return TranscriptCheck(newest, current, None if recorded is None else current == recorded)
    if last_closed is not None:
        return TranscriptCheck(Path(last_closed), None, False)  # recorded, but the file is gone
    raise NotFoundError(f"no transcript for session {session_key!r}")

