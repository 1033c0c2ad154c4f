"""Reading files that someone else may have planted or misconfigured, safely.

A file atoll reads may be a symlink to ``/dev/zero``, a FIFO nobody writes, a device, or
gigabytes long. :func:`read_regular` opens with ``O_NONBLOCK`` (opening a FIFO for reading
never waits for a writer, fifo(7)) and, unless the caller allows it, ``O_NOFOLLOW``; checks
on the *opened* descriptor that it is a regular file (``fstat``, so no check-then-open
race); and reads at most ``cap`` bytes, refusing anything larger. Each caller names its cap.
"""

from __future__ import annotations

import errno
import os
import stat


class UnsafeFile(Exception):
    """A file that is not a readable regular file within its cap; ``str`` is one line."""


def read_regular(path: str | os.PathLike[str], cap: int, *, follow: bool = False,
                 owner: int | None = None) -> bytes | None:
    """The bytes of regular file ``path`` (None when it does not exist).

    ``follow`` allows a symlink (to a regular file: the target is checked like the file);
    ``owner`` requires that uid to own it. Raises UnsafeFile for a symlink (when not
    followed), a FIFO, socket or device, a file larger than ``cap`` bytes, another owner,
    or an OS error.
    """
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFile(f"{path}: is a symlink; refusing to follow it") from exc
        raise UnsafeFile(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFile(f"{path}: not a regular file")
        if owner is not None and st.st_uid != owner:
            raise UnsafeFile(f"{path}: not owned by uid {owner}")
        if st.st_size > cap:
            raise UnsafeFile(f"{path}: larger than {cap} bytes")
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(1 << 20, cap + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > cap:  # it grew while we read
                raise UnsafeFile(f"{path}: larger than {cap} bytes")
        return b"".join(chunks)
    except OSError as exc:
        raise UnsafeFile(f"{path}: cannot read: {exc.strerror}") from exc
    finally:
        os.close(fd)


def capped_read_argv(path: str, cap: int) -> list[str]:
    """argv that prints at most ``cap + 1`` bytes of regular file ``path``, for reading a
    file with another user's rights (through a Sudo runner): ``dd`` with ``nofollow``
    (a symlink fails with ELOOP) and ``nonblock`` (a FIFO gives EOF or EAGAIN, never a
    hang), coreutils dd(1). More than ``cap`` bytes in the output means "too large"."""
    return ["dd", f"if={path}", f"bs={cap + 1}", "count=1", "iflag=nofollow,nonblock,fullblock",
            "status=none"]
