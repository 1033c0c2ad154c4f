"""Safe reads of files atoll does not fully trust (shared/DESIGN.md decision 14).

Every file atoll reads that an agent user could plant or an operator could misconfigure
(config files, the ledger, checkpoints, caches, transcripts, git's ``info/exclude``) is
read through this module:

- :func:`read_regular`: open with ``O_NOFOLLOW | O_NONBLOCK`` (a symlink is refused, a
  FIFO does not block the open), ``fstat`` the descriptor and require ``S_ISREG`` (so no
  FIFO, socket or device is ever read), then read at most ``cap`` bytes; a larger file is
  refused, never truncated silently. ``follow=True`` follows a symlink but still requires
  a regular file at its end; it is meant only for the operator's own config (a
  ``~/.config`` managed as a symlink into a dotfiles repository is common), never for a
  path in an agent user's home, a project or a shared directory.
- :func:`iter_lines`: the same open, then the file streamed line by line with a cap per
  line (for the ledger, which grows without bound).
- :func:`read_as`: a file read with another user's rights (an island's ``meta.json`` in
  its agent user's home) through GNU ``dd iflag=nofollow,nonblock`` under a byte cap and a
  timeout, so a symlink to ``/dev/zero`` or a FIFO costs nothing. ``dd`` cannot ``fstat``
  for ``S_ISREG``; a device can only be reached through a hard link, which the kernel's
  ``fs.protected_hardlinks`` refuses to a user who does not own the device, and devices
  live on another filesystem than homes anyway.

Errors: :class:`UnsafeFileError` (a :class:`~atoll.core.errors.UsageError`, exit 2) for a
symlink, a non-regular file, a file or line over its cap, or an unreadable file;
FileNotFoundError passes through so callers can treat "absent" as they need.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator

from atoll.core.errors import UsageError
from atoll.exec.process import run_capped
from atoll.exec.runner import Runner

_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY
CHUNK = 1 << 16


class UnsafeFileError(UsageError):
    """A file is a symlink, not a regular file, too large, or unreadable (exit 2)."""


def open_regular(path: str | os.PathLike[str], *, follow: bool = False) -> int:
    """A read-only fd of the regular file ``path`` (see module docstring); the caller closes
    it. Raises FileNotFoundError, or UnsafeFileError."""
    flags = _FLAGS | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFileError(f"{path}: is a symlink; refusing to follow it") from exc
        raise UnsafeFileError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise UnsafeFileError(f"{path}: not a regular file")
        # A regular file never blocks; clear O_NONBLOCK so reads behave normally (NFS).
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(path: str | os.PathLike[str], cap: int, *, follow: bool = False) -> bytes:
    """The bytes of the regular file ``path``, at most ``cap`` of them (larger: refused)."""
    fd = open_regular(path, follow=follow)
    try:
        parts: list[bytes] = []
        size = 0
        while size <= cap:
            chunk = os.read(fd, min(CHUNK, cap + 1 - size))
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise UnsafeFileError(f"{path}: cannot read: {exc.strerror}") from exc
    finally:
        os.close(fd)
    if size > cap:
        raise UnsafeFileError(f"{path}: larger than {cap} bytes")
    return b"".join(parts)


def read_optional(path: str | os.PathLike[str], cap: int, *, follow: bool = False) -> bytes | None:
    """:func:`read_regular`, or None when ``path`` does not exist."""
    try:
        return read_regular(path, cap, follow=follow)
    except FileNotFoundError:
        return None


def iter_lines(path: str | os.PathLike[str], line_cap: int) -> Iterator[bytes]:
    """The lines of the regular file ``path`` (each with its ``\\n`` when it has one), read
    streamed; a line longer than ``line_cap`` bytes raises UnsafeFileError naming it."""
    fd = open_regular(path)
    with os.fdopen(fd, "rb", buffering=CHUNK) as handle:
        number = 0
        while True:
            line = handle.readline(line_cap + 1)
            if not line:
                return
            number += 1
            if len(line) > line_cap and not line.endswith(b"\n"):
                raise UnsafeFileError(f"{path}: line {number} longer than {line_cap} bytes")
            yield line


def read_as(runner: Runner, path: str, cap: int, timeout: float = 15.0) -> bytes | None:
    """At most ``cap`` bytes of ``path`` read with ``runner``'s rights (e.g. ``Sudo(agent)``)
    by ``dd iflag=nofollow,nonblock``; None when it is a symlink, unreadable, larger than
    ``cap``, or when ``dd`` does not finish within ``timeout`` seconds. FileNotFoundError
    when it does not exist (dd's message under the C locale atoll runs programs in)."""
    argv = runner.wrap(["dd", f"if={path}", "iflag=nofollow,nonblock,fullblock",
                        f"bs={cap + 1}", "count=1", "status=none"])
    res = run_capped(argv, timeout, cap + 1, max_stderr=4096)
    if res.returncode != 0 and "No such file or directory" in res.stderr:
        raise FileNotFoundError(path)
    if res.timed_out or res.truncated or res.returncode != 0 or len(res.stdout) > cap:
        return None
    return res.stdout

