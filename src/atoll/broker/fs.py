"""The broker's filesystem (mfusepy operations): the live grants as top-level directories.

Every request is checked first: the requesting uid (FUSE's request context) must be one the
broker serves, else EACCES. Paths are split by :func:`atoll.core.broker.split_path` and
resolved by :mod:`atoll.broker.resolve` from the grant's held directory fd. Files are opened
with ``direct_io`` (no page cache: each read reaches the broker, so each is recorded and a
revoked grant stops serving at once). A read-only grant answers EROFS to every change; a
read-write grant refuses what :mod:`atoll.core.broker` protects (EPERM). Symlinks inside a
grant are shown as symlinks (their text is data); the broker never follows one, and the
island's kernel resolves it in the island's own view. FIFOs, sockets and devices are not
shown. Ownership is reported as the requester's uid, so tools inside see their own files.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from typing import Any

import mfusepy as fuse

from atoll.broker import resolve
from atoll.broker.state import Broker, LiveGrant
from atoll.core.broker import (
    BrokerPathError,
    mode_reason,
    protected_reason,
    shown_mode,
    split_path,
)
from atoll.core.errors import AtollError

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_TRUNC | os.O_APPEND | os.O_CREAT


def _err(code: int) -> fuse.FuseOSError:
    return fuse.FuseOSError(code)


class BrokerFS(fuse.Operations):  # type: ignore[misc]  # mfusepy ships no type hints
    """FUSE operations over a :class:`~atoll.broker.state.Broker`."""

    use_ns = True

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.ready = threading.Event()

    # -- plumbing ---------------------------------------------------------------------
    def init(self, path: str) -> None:
        self.ready.set()

    def _caller(self) -> tuple[int, int]:
        uid, _gid, pid = fuse.fuse_get_context()
        if uid not in self.broker.uids:
            raise _err(errno.EACCES)
        return uid, pid

    def _resolve(self, path: str) -> tuple[LiveGrant | None, tuple[str, ...]]:
        self._caller()
        try:
            name, rel = split_path(path)
        except BrokerPathError:
            raise _err(errno.ENOENT) from None
        if not name:
            return None, ()
        grant = self.broker.get(name)
        if grant is None:
            raise _err(errno.ENOENT)
        return grant, rel

    def _changeable(self, path: str) -> tuple[LiveGrant, tuple[str, ...]]:
        grant, rel = self._resolve(path)
        if grant is None or not rel:
            raise _err(errno.EPERM)
        if not grant.rw:
            raise _err(errno.EROFS)
        if protected_reason(rel):
            raise _err(errno.EPERM)
        return grant, rel

    # -- reading ----------------------------------------------------------------------
    def getattr(self, path: str, fh: Any = None) -> dict[str, Any]:
        if path == "/" and fuse.fuse_get_context()[0] == 0:
            # the container engine (root) stats the mountpoint to bind it; root learns
            # nothing it could not read on the host, and gets nothing below the root
            return {"st_mode": stat.S_IFDIR | 0o500, "st_nlink": 2}
        grant, rel = self._resolve(path)
        uid, _ = self._caller()
        if grant is None:
            return {"st_mode": stat.S_IFDIR | 0o500, "st_nlink": 2, "st_uid": uid,
                    "st_gid": os.getgid() if uid == os.getuid() else uid}
        try:
            st = resolve.lstat_at(grant.fd, grant.dev, rel)
        except OSError as exc:
            raise _err(exc.errno or errno.EIO) from None
        if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)
                or stat.S_ISLNK(st.st_mode)):
            raise _err(errno.ENOENT)
        return {
            "st_mode": shown_mode(st.st_mode, rw=grant.rw), "st_nlink": st.st_nlink,
            "st_size": st.st_size, "st_uid": uid, "st_gid": uid,
            "st_atime": st.st_atime_ns, "st_mtime": st.st_mtime_ns, "st_ctime": st.st_ctime_ns,
        }

    def readdir(self, path: str, fh: Any) -> list[str]:
        grant, rel = self._resolve(path)
        if grant is None:
            return [".", "..", *(g.name for g in self.broker.grants())]
        try:
            return [".", "..", *resolve.list_dir(grant.fd, grant.dev, rel)]
        except OSError as exc:
            raise _err(exc.errno or errno.EIO) from None

    def readlink(self, path: str) -> str:
        grant, rel = self._resolve(path)
        if grant is None or not rel:
            raise _err(errno.EINVAL)
        try:
            dfd, name = resolve.parent_fd(grant.fd, grant.dev, rel)
        except OSError as exc:
            raise _err(exc.errno or errno.EIO) from None
        try:
            return os.readlink(name, dir_fd=dfd)
        except OSError as exc:
            raise _err(exc.errno or errno.EIO) from None
        finally:
            os.close(dfd)

    def statfs(self, path: str) -> dict[str, Any]:
        if fuse.fuse_get_context()[0] != 0:  # podman (root) statfs-es it to bind it
            self._caller()
        return {"f_bsize": 4096, "f_frsize": 4096, "f_namemax": 255}

    def access(self, path: str, amode: int) -> int:
        grant, _rel = self._resolve(path)
        if amode & os.W_OK and (grant is None or not grant.rw):
            raise _err(errno.EROFS)
        return 0

    def open(self, path: str, fi: Any) -> int:
        grant, rel = self._resolve(path)
        uid, pid = self._caller()
        if grant is None:
            raise _err(errno.EISDIR)
        flags = int(fi.flags)
        write = (bool(flags & _WRITE_FLAGS) and (flags & os.O_ACCMODE) != os.O_RDONLY) \
            or bool(flags & os.O_TRUNC)
        if write:
            grant, rel = self._changeable(path)
        try:
            fd = resolve.open_file(grant.fd, grant.dev, rel, flags)
        except OSError as exc:
            raise _err(exc.errno or errno.EIO) from None
        fi.fh = self._record(grant, rel, fd, write, uid, pid)
        fi.direct_io = 1
        return 0

    def _record(self, grant: LiveGrant, rel: tuple[str, ...], fd: int, write: bool,
                uid: int, pid: int) -> int:
        try:
            return self.broker.open_crossing(grant, rel, fd, write, uid, pid)
        except (AtollError, OSError):  # the record is not durable: nothing crosses
            raise _err(errno.EACCES) from None

    def read(self, path: str, size: int, offset: int, fi: Any) -> bytes:
        # no uid check here: the handle exists only for an open an allowed uid made
        try:
            h = self.broker.handle(int(fi.fh))
        except PermissionError:
            raise _err(errno.EACCES) from None
        with h.lock:
            try:
                data = os.pread(h.fd, size, offset)
            except OSError as exc:
                raise _err(exc.errno or errno.EIO) from None
            self.broker.served(h, data, offset)
        return data

    def release(self, path: str, fi: Any) -> int:
        self.broker.release(int(fi.fh))
        return 0

    def flush(self, path: str, fi: Any) -> int:
        return 0

    # -- changing (read-write grants only) ---------------------------------------------
    def write(self, path: str, data: bytes, offset: int, fi: Any) -> int:
        self._caller()
        try:
            h = self.broker.handle(int(fi.fh))
        except PermissionError:
            raise _err(errno.EACCES) from None
        if h.action != "crossing.write":
            raise _err(errno.EBADF)
        with h.lock:
            try:
                n = os.pwrite(h.fd, data, offset)
            except OSError as exc:
                raise _err(exc.errno or errno.EIO) from None
            self.broker.served(h, data[:n], offset)
        return n

    def create(self, path: str, mode: int, fi: Any) -> int:
        grant, rel = self._changeable(path)
        uid, pid = self._caller()
        if mode_reason(stat.S_IFREG | (mode & 0o7777)):
            raise _err(errno.EPERM)
        try:
            dfd, name = resolve.parent_fd(grant.fd, grant.dev, rel)
        except OSError as exc:
            raise _err(exc.errno or errno.EIO) from None
        try:
            fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                         | os.O_CLOEXEC, mode & 0o666, dir_fd=dfd)
        except OSError as exc:
            raise _err(exc.errno or errno.EIO) from None
        finally:
            os.close(dfd)
        fi.fh = self._record(grant, rel, fd, True, uid, pid)
        fi.direct_io = 1
        return 0

    def truncate(self, path: str, length: int, fh: Any = None) -> int:
        grant, rel = self._changeable(path)
        try:
            fd = resolve.open_file(grant.fd, grant.dev, rel, os.O_WRONLY)
        except OSError as exc:
            raise _err(exc.errno or errno.EIO) from None
        try:
            os.ftruncate(fd, length)
        finally:
            os.close(fd)
        return 0

    def _at_parent(self, path: str, op: str, *args: Any) -> int:
        grant, rel = self._changeable(path)
        try:
            dfd, name = resolve.parent_fd(grant.fd, grant.dev, rel)
        except OSError as exc:
            raise _err(exc.errno or errno.EIO) from None
        try:
            if op == "mkdir":
                os.mkdir(name, args[0] & 0o777 & ~0o022, dir_fd=dfd)
            elif op == "unlink":
                os.unlink(name, dir_fd=dfd)
            elif op == "rmdir":
                os.rmdir(name, dir_fd=dfd)
        except OSError as exc:
            raise _err(exc.errno or errno.EIO) from None
        finally:
            os.close(dfd)
        return 0

    def mkdir(self, path: str, mode: int) -> int:
        return self._at_parent(path, "mkdir", mode)

    def unlink(self, path: str) -> int:
        return self._at_parent(path, "unlink")

    def rmdir(self, path: str) -> int:
        return self._at_parent(path, "rmdir")

    def rename(self, old: str, new: str) -> int:
        g1, rel1 = self._changeable(old)
        g2, rel2 = self._changeable(new)
        if g1 is not g2:
            raise _err(errno.EXDEV)
        try:
            d1, n1 = resolve.parent_fd(g1.fd, g1.dev, rel1)
        except OSError as exc:
            raise _err(exc.errno or errno.EIO) from None
        try:
            d2, n2 = resolve.parent_fd(g2.fd, g2.dev, rel2)
        except OSError as exc:
            os.close(d1)
            raise _err(exc.errno or errno.EIO) from None
        try:
            os.rename(n1, n2, src_dir_fd=d1, dst_dir_fd=d2)
        except OSError as exc:
            raise _err(exc.errno or errno.EIO) from None
        finally:
            os.close(d1)
            os.close(d2)
        return 0

    def chmod(self, path: str, mode: int) -> int:
        grant, rel = self._changeable(path)
        st = resolve.lstat_at(grant.fd, grant.dev, rel)
        if mode_reason(stat.S_IFMT(st.st_mode) | (mode & 0o7777)):
            raise _err(errno.EPERM)
        try:
            fd = resolve.walk(grant.fd, grant.dev, rel)
        except OSError as exc:
            raise _err(exc.errno or errno.EIO) from None
        try:
            os.chmod(f"/proc/self/fd/{fd}", mode & 0o777)
        finally:
            os.close(fd)
        return 0

    def utimens(self, path: str, times: Any = None) -> int:
        self._changeable(path)
        return 0

    def symlink(self, target: str, source: str) -> int:
        raise _err(errno.EPERM)

    def link(self, target: str, source: str) -> int:
        raise _err(errno.EPERM)

    def mknod(self, path: str, mode: int, dev: int) -> int:
        raise _err(errno.EPERM)

    def chown(self, path: str, uid: int, gid: int) -> int:
        raise _err(errno.EPERM)
