"""The ledger file: append-only JSON Lines with a hash chain (format in :mod:`atoll.core.chain`).

:class:`Ledger` appends one record per call under an exclusive ``flock`` on the file: it reads
the tail to learn the last line's seq and hash, writes the new line with a single
``os.write``, and ``fsync``\\ s before returning, so appends from many processes form one
contiguous chain. Every failure to make a record durable raises
:class:`~atoll.ledger.errors.LedgerWriteError`; callers rely on it to fail closed.

Where it lives: per operator ``platformdirs.user_state_path("atoll")/"ledger.jsonl"`` (file
0600, created directories 0700), or a configured host-wide path prepared by the admin with
:func:`ensure_hostwide_ledger` (group-writable 0660 file in a 2770 directory).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import grp
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import platformdirs

from atoll.core.chain import MAX_LINE_BYTES, ZERO_HASH, build_line, line_hash, parse_link
from atoll.core.errors import NotFoundError, PermissionDeniedError, UsageError
from atoll.exec.files import UnsafeFileError, open_regular
from atoll.ledger.errors import LedgerReadError, LedgerWriteError

RECOVER_ACTION = "audit.recover"
"""Action of the record written when an append finds (and cuts off) a torn last line."""

_TORN_TEXT_LIMIT = 4096
# O_NONBLOCK: a FIFO planted as the ledger must not block the open (the S_ISREG check
# below then refuses it); on a regular file the flag changes nothing.
_OPEN_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK


def utc_now() -> str:
    """The current time as RFC 3339 UTC with milliseconds, e.g. ``2026-11-20T12:00:00.123Z``."""
    now = datetime.now(UTC)
    return f"{now:%Y-%m-%dT%H:%M:%S}.{now.microsecond // 1000:03d}Z"


def state_dir() -> Path:
    """The operator's atoll state directory (``$XDG_STATE_HOME/atoll``); not created here."""
    return platformdirs.user_state_path("atoll")


def ledger_path(configured: str | None) -> Path:
    """The ledger file to use: ``configured`` (absolute, ``~`` expanded) when given, else the
    operator's ``state_dir()/"ledger.jsonl"``. Raises UsageError for a relative path."""
    if configured:
        path = Path(configured).expanduser()
        if not path.is_absolute():
            raise UsageError(f"ledger path must be absolute: {configured!r}")
        return path
    return state_dir() / "ledger.jsonl"


def make_private_dirs(path: Path) -> None:
    """Create ``path`` and its missing parents with mode 0700 (existing ones are left alone)."""
    missing: list[Path] = []
    cur = path
    while not cur.exists():
        missing.append(cur)
        if cur.parent == cur:
            break
        cur = cur.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(d, 0o700)


def ensure_hostwide_ledger(path: Path, group: str) -> None:
    """Prepare a host-wide ledger (run as root, once): the directory of ``path`` becomes mode
    2770 and the file 0660, both with group ``group``, so members can append and others
    cannot read. Raises NotFoundError for an unknown group, PermissionDeniedError when not
    allowed, UsageError when a component is a symlink or the path is relative."""
    if not path.is_absolute():
        raise UsageError(f"ledger path must be absolute: {str(path)!r}")
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        raise NotFoundError(f"group {group!r} does not exist") from None
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        if parent.is_symlink() or not parent.is_dir():
            raise UsageError(f"{parent} is not a plain directory")
        os.chown(parent, -1, gid, follow_symlinks=False)
        os.chmod(parent, 0o2770)  # noqa: S103 - group-shared by design; others get nothing
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o660)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise UsageError(f"{path} is not a regular file")
            os.fchown(fd, -1, gid)
            os.fchmod(fd, 0o660)
            os.fsync(fd)
        finally:
            os.close(fd)
    except PermissionError as exc:
        raise PermissionDeniedError(
            f"cannot prepare host-wide ledger {path}: {exc.strerror} (run as root)"
        ) from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UsageError(f"{path} is a symlink; refusing") from exc
        raise LedgerWriteError(f"cannot prepare host-wide ledger {path}: {exc.strerror}") from exc


@dataclass(frozen=True)
class _Tail:
    good_size: int  # bytes up to and including the last newline
    seq: int  # seq of the last complete line (0: none)
    head: str  # hash of the last complete line (ZERO_HASH: none)


def _pread_all(fd: int, length: int, offset: int) -> bytes:
    chunks: list[bytes] = []
    while length > 0:
        chunk = os.pread(fd, length, offset)
        if not chunk:
            break
        chunks.append(chunk)
        length -= len(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "it is a symlink"
    return exc.strerror or str(exc)


class Ledger:
    """One ledger file. Safe to use from many processes at once; holds no open file."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path).expanduser()

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r})"

    # -- writing -----------------------------------------------------------------------

    def append(self, event: Mapping[str, object]) -> dict[str, object]:
        """Append ``event`` as one line and return the stored record as a dict.

        The ledger assigns ``seq`` and ``prev`` (``event`` must not carry them) and fills
        ``time`` (RFC 3339 UTC, ms) when absent, under the lock so times follow seq order.
        The line is durable (fsynced) on return. A torn last line left by a crash is cut off
        first and recorded in an ``audit.recover`` record. Raises LedgerWriteError on any
        failure; the file is then left as it was (a short write is rolled back).
        """
        try:
            fd = self._open_for_append()
        except OSError as exc:
            raise LedgerWriteError(f"cannot open ledger {self.path}: {_reason(exc)}") from exc
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise LedgerWriteError(f"cannot write ledger {self.path}: not a regular file")
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            tail = self._read_tail(fd, size)
            if tail.good_size < size:
                tail = self._recover_torn(fd, tail, size, event)
            record = dict(event) if "time" in event else {"time": utc_now(), **event}
            try:
                line = build_line(record, tail.seq + 1, tail.head)
            except ValueError as exc:
                raise LedgerWriteError(f"cannot write ledger {self.path}: {exc}") from exc
            self._write_line(fd, line, tail.good_size)
        except OSError as exc:
            raise LedgerWriteError(f"cannot write ledger {self.path}: {_reason(exc)}") from exc
        finally:
            os.close(fd)  # also releases the lock
        stored: dict[str, object] = msgspec.json.decode(line)
        return stored

    def _open_for_append(self) -> int:
        parent = self.path.parent
        if not parent.exists():
            make_private_dirs(parent)
        try:
            return os.open(self.path, _OPEN_FLAGS)
        except FileNotFoundError:
            pass
        # A setgid directory is a shared (host-wide) ledger: keep the file group-writable.
        mode = 0o660 if os.stat(parent).st_mode & stat.S_ISGID else 0o600
        try:
            fd = os.open(self.path, _OPEN_FLAGS | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:
            return os.open(self.path, _OPEN_FLAGS)
        try:
            os.fchmod(fd, mode)
            dfd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            os.close(fd)
            raise
        return fd

    def _read_tail(self, fd: int, size: int) -> _Tail:
        if size == 0:
            return _Tail(0, 0, ZERO_HASH)
        chunk = 64 * 1024
        while True:
            start = max(0, size - chunk)
            buf = _pread_all(fd, size - start, start)
            last_nl = buf.rfind(b"\n")
            if last_nl < 0:
                if start == 0:
                    return _Tail(0, 0, ZERO_HASH)  # nothing complete: all of it is torn
                chunk *= 4
                continue
            before = buf.rfind(b"\n", 0, last_nl)
            if before < 0 and start > 0:
                chunk *= 4
                continue
            line = buf[before + 1 : last_nl + 1]
            link = parse_link(line)
            if link is None:
                raise LedgerWriteError(
                    f"the last line of ledger {self.path} is not a ledger record (damaged or "
                    "tampered); run: atoll audit verify"
                )
            return _Tail(start + last_nl + 1, link[0], line_hash(line))

    def _recover_torn(
        self, fd: int, tail: _Tail, size: int, event: Mapping[str, object]
    ) -> _Tail:
        torn = _pread_all(fd, size - tail.good_size, tail.good_size)
        os.ftruncate(fd, tail.good_size)
        record = {
            "time": utc_now(),
            "host": event.get("host"),
            "actor": event.get("actor"),
            "action": RECOVER_ACTION,
            "target": {"ledger": str(self.path)},
            "outcome": "ok",
            "details": {
                "torn_bytes": len(torn),
                "torn_sha256": line_hash(torn),
                "torn_text": torn[:_TORN_TEXT_LIMIT].decode("utf-8", "replace"),
            },
            "correlation": event.get("correlation"),
        }
        line = build_line(record, tail.seq + 1, tail.head)
        self._write_line(fd, line, tail.good_size)
        return _Tail(tail.good_size + len(line), tail.seq + 1, line_hash(line))

    def _write_line(self, fd: int, line: bytes, size: int) -> None:
        try:
            written = os.write(fd, line)
            if written != len(line):
                raise LedgerWriteError(
                    f"cannot write ledger {self.path}: short write ({written} of {len(line)} "
                    "bytes; disk full?)"
                )
            os.fsync(fd)
        except (OSError, LedgerWriteError):
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)  # leave no partial or unsynced line behind
            raise

    # -- reading -----------------------------------------------------------------------

    def _open_read(self) -> int | None:
        """A read fd of the ledger under a shared lock (so no half-written line is seen), or
        None when it does not exist yet. A symlink, FIFO or device is refused."""
        try:
            fd = open_regular(self.path)
        except FileNotFoundError:
            return None
        except UnsafeFileError as exc:
            raise LedgerReadError(f"cannot read ledger: {exc}") from exc
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise LedgerReadError(f"ledger {self.path} is not a regular file")
            fcntl.flock(fd, fcntl.LOCK_SH)
        except OSError as exc:
            os.close(fd)
            raise LedgerReadError(f"cannot read ledger {self.path}: {_reason(exc)}") from exc
        return fd

    def read_bytes(self) -> bytes:
        """The whole file as stored (b"" when it does not exist yet), read under a shared
        lock. Its size is the regular file's own (fstat), so it is bounded by the disk, not
        by what a writer could stream. Raises LedgerReadError."""
        fd = self._open_read()
        if fd is None:
            return b""
        try:
            size = os.fstat(fd).st_size
            return _pread_all(fd, size, 0)
        except OSError as exc:
            raise LedgerReadError(f"cannot read ledger {self.path}: {_reason(exc)}") from exc
        finally:
            os.close(fd)

    def iter_lines(self) -> Iterator[bytes]:
        """Every complete line (with its ``\n``), oldest first, streamed; a torn last fragment
        is skipped. The size is taken under the shared lock and only that much is read, so
        the lock is not held while the caller iterates (it may append). A line over
        :data:`MAX_LINE_BYTES` (no writer makes one) raises LedgerReadError naming it, so
        memory stays bounded per line however large the ledger grows."""
        fd = self._open_read()
        if fd is None:
            return
        with os.fdopen(fd, "rb", buffering=1 << 16) as handle:
            try:
                left = os.fstat(fd).st_size
                fcntl.flock(fd, fcntl.LOCK_UN)
            except OSError as exc:
                raise LedgerReadError(f"cannot read ledger {self.path}: {_reason(exc)}") from exc
            number = 0
            while left > 0:
                try:
                    line = handle.readline(min(MAX_LINE_BYTES + 1, left))
                except OSError as exc:
                    raise LedgerReadError(
                        f"cannot read ledger {self.path}: {_reason(exc)}") from exc
                if not line:
                    return
                left -= len(line)
                number += 1
                if not line.endswith(b"\n"):
                    if len(line) > MAX_LINE_BYTES:
                        raise LedgerReadError(
                            f"line {number} of ledger {self.path} is longer than "
                            f"{MAX_LINE_BYTES} bytes; run: atoll audit verify")
                    return  # a torn last fragment
                yield line

    def iter_events(self) -> Iterator[dict[str, object]]:
        """Every complete record, oldest first, as dicts (a torn last fragment is skipped).
        Raises LedgerReadError for a line that is not a JSON object; use ``verify`` to check
        integrity, which this does not."""
        for number, line in enumerate(self.iter_lines(), start=1):
            try:
                obj = msgspec.json.decode(line)
            except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
                obj = None
            if not isinstance(obj, dict):
                raise LedgerReadError(
                    f"line {number} of ledger {self.path} is not a JSON object; "
                    "run: atoll audit verify"
                )
            yield obj
