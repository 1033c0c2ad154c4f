"""A race-free tar of a directory tree: a directory-fd walk that never follows a link.

Standard library only, on purpose: :mod:`atoll.islands.copyin` runs this same file as a
script (``python3 -I -S -c SOURCE DIR MAX_BYTES``) as the project's owner through sudo, so
the archive holds only what that user can read. In-process (the operator's rights) it is
called as :func:`write_tar`.

The walk (openat(2), O_NOFOLLOW in open(2), fstat(2)):
- the top directory is an fd the caller resolved (the operator's case), or a path resolved
  with the rights of the user running the script (the owner's case: links in it lead only
  where that user may go anyway);
- every entry is looked at with ``fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW)``; directories
  are opened relative to their parent's fd with ``O_DIRECTORY|O_NOFOLLOW``, regular files
  with ``O_NOFOLLOW|O_NONBLOCK`` and the opened fd is ``fstat``-ed again: an entry swapped
  for a symlink between the look and the open fails with ELOOP, one swapped for a FIFO or
  device is never read (O_NONBLOCK keeps the open from blocking; the fd's type is checked);
- symbolic links are stored as links (``readlinkat``), never followed;
- FIFOs, sockets and device nodes are skipped, never opened;
- modes keep only the permission bits (no setuid/setgid/sticky); owners are dropped;
- at most ``max_bytes`` of file data, else :class:`WalkError` (``TOO_BIG``).

A name swapped during the walk can change *which* of the owner's own files are read, never
make the walk read a file outside the tree. Errors are :class:`WalkError` with a one-line
message naming the path relative to the top; as a script it prints that line to stderr
and exits with :data:`EXIT_CODES` of its kind.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import sys
import tarfile
from typing import BinaryIO

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
MAX_DEPTH = 256
"""Directory nesting the walk goes into (PATH_MAX 4096 / 16 is far beyond real projects)."""

EXIT_CODES = {"DENIED": 4, "CHANGED": 6, "TOO_BIG": 7, "BAD": 8}
"""Exit status of the script per error kind (distinct from Python's own 1 and 2)."""


class WalkError(Exception):
    """The tree cannot be archived; ``kind`` is a key of :data:`EXIT_CODES`."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _fail(exc: OSError, rel: str) -> WalkError:
    where = rel or "the project directory"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return WalkError("DENIED", f"cannot read {where}: permission denied")
    if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):
        return WalkError("CHANGED", f"{where} is a symbolic link or changed while it was "
                                    "copied")
    return WalkError("BAD", f"cannot read {where}: {exc.strerror}")


class _Walk:
    def __init__(self, tar: tarfile.TarFile, max_bytes: int) -> None:
        self.tar = tar
        self.left = max_bytes
        self.max_bytes = max_bytes

    def _info(self, rel: str, st: os.stat_result) -> tarfile.TarInfo:
        info = tarfile.TarInfo(rel)
        info.mode = st.st_mode & 0o777
        info.mtime = int(st.st_mtime)
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    def directory(self, dfd: int, rel: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise WalkError("BAD", f"{rel} is nested more than {MAX_DEPTH} directories deep")
        try:
            names = sorted(os.listdir(dfd))
        except OSError as exc:
            raise _fail(exc, rel) from None
        for name in names:
            self.entry(dfd, name, f"{rel}/{name}" if rel else name, depth)

    def entry(self, dfd: int, name: str, rel: str, depth: int) -> None:
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except OSError as exc:
            raise _fail(exc, rel) from None
        if stat.S_ISLNK(st.st_mode):
            try:
                target = os.readlink(name, dir_fd=dfd)
            except OSError as exc:
                raise _fail(exc, rel) from None
            info = self._info(rel, st)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            info.mode = 0o777
            self.tar.addfile(info)
        elif stat.S_ISDIR(st.st_mode):
            try:
                fd = os.open(name, DIR_FLAGS, dir_fd=dfd)
            except OSError as exc:
                raise _fail(exc, rel) from None
            try:
                info = self._info(rel, os.fstat(fd))
                info.type = tarfile.DIRTYPE
                self.tar.addfile(info)
                self.directory(fd, rel, depth + 1)
            finally:
                os.close(fd)
        elif stat.S_ISREG(st.st_mode):
            self.regular(dfd, name, rel)
        # FIFOs, sockets, devices: skipped, never opened.

    def regular(self, dfd: int, name: str, rel: str) -> None:
        try:
            fd = os.open(name, FILE_FLAGS, dir_fd=dfd)
        except OSError as exc:
            raise _fail(exc, rel) from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return  # swapped for a FIFO or device after the look: never read
            if st.st_size > self.left:
                raise WalkError("TOO_BIG", f"the project holds more than "
                                           f"{self.max_bytes >> 20} MiB")
            chunks, size = [], st.st_size
            while size > 0:
                chunk = os.read(fd, min(size, 1 << 20))
                if not chunk:
                    break
                chunks.append(chunk)
                size -= len(chunk)
            data = b"".join(chunks)
        except OSError as exc:
            raise _fail(exc, rel) from None
        finally:
            os.close(fd)
        self.left -= len(data)
        info = self._info(rel, st)
        info.size = len(data)
        self.tar.addfile(info, io.BytesIO(data))


def write_tar(top: str | int, out: BinaryIO, max_bytes: int) -> None:
    """Archive the tree under directory ``top`` (a path, or an open directory fd that stays
    the caller's) to ``out`` as an uncompressed PAX tar stream, member names relative with
    no ``./``. Raises WalkError (see the module rules)."""
    if isinstance(top, int):
        fd = os.dup(top)
    else:
        try:  # resolved with the caller's own rights: as the owner, links are harmless
            fd = os.open(top, DIR_FLAGS & ~os.O_NOFOLLOW)
        except OSError as exc:
            raise _fail(exc, "") from None
    try:
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            _Walk(tar, max_bytes).directory(fd, "", 0)
    finally:
        os.close(fd)


def main(argv: list[str]) -> int:
    """Script entry: ``DIR MAX_BYTES``; the tar goes to stdout, one error line to stderr."""
    try:
        write_tar(argv[0], sys.stdout.buffer, int(argv[1]))
    except WalkError as exc:
        sys.stderr.write(f"{exc.kind}: {exc}\n")
        return EXIT_CODES[exc.kind]
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
