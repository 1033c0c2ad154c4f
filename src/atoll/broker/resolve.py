"""Race-free resolution of a path below a granted root (issue 16, point 2).

Every lookup starts from the directory fd the broker opened when the grant was added and
opens one component at a time with ``openat(..., O_PATH | O_NOFOLLOW)``: a symlink is
never followed (an intermediate one fails with ELOOP or ENOTDIR), ``..`` never reaches here
(:func:`atoll.core.broker.split_path` refuses it), and each component must stay on the
granted root's device, so a mount placed inside the tree (a bind trick) is not crossed.
Because each step is relative to an fd already held, renaming or swapping a directory for a
symlink while a walk runs can only make the walk fail, never lead it outside the root.

A regular file is opened for its data by reopening its O_PATH fd through
``/proc/self/fd/N`` (the same inode, no second lookup), after ``fstat`` showed it regular:
a FIFO or device node is never opened. Errors are OSError with the errno the FUSE answer
carries (ENOENT, ELOOP, EACCES, EXDEV).
"""

from __future__ import annotations

import errno
import os
import stat

PATH_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


def _check_dev(fd: int, root_dev: int) -> os.stat_result:
    st = os.fstat(fd)
    if st.st_dev != root_dev:
        raise OSError(errno.EXDEV, "another file system below a grant")
    return st


def walk(root_fd: int, root_dev: int, components: tuple[str, ...]) -> int:
    """An O_PATH fd of the entry at ``components`` below ``root_fd`` (the root itself for
    ``()``; the caller closes it). Every component but the last must be a directory; the
    last is not followed if it is a symlink. OSError as above."""
    fd = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=root_fd)
    try:
        for i, name in enumerate(components):
            nxt = os.open(name, PATH_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nxt
            st = _check_dev(fd, root_dev)
            if i + 1 < len(components) and not stat.S_ISDIR(st.st_mode):
                raise OSError(errno.ENOTDIR if not stat.S_ISLNK(st.st_mode) else errno.ELOOP,
                              "not a directory")
    except BaseException:
        os.close(fd)
        raise
    return fd


def lstat_at(root_fd: int, root_dev: int, components: tuple[str, ...]) -> os.stat_result:
    """``lstat`` of the entry at ``components`` (a symlink is described, not followed)."""
    fd = walk(root_fd, root_dev, components)
    try:
        return os.fstat(fd)
    finally:
        os.close(fd)


def parent_fd(root_fd: int, root_dev: int, components: tuple[str, ...]) -> tuple[int, str]:
    """(a real directory fd of the parent of ``components``, the last name) for the calls
    that act on a name in a directory (create, mkdir, unlink, rename). ``components`` must
    not be empty (EPERM: the granted root itself is not changed)."""
    if not components:
        raise OSError(errno.EPERM, "the granted root cannot be changed")
    pfd = walk(root_fd, root_dev, components[:-1])
    try:
        st = os.fstat(pfd)
        if not stat.S_ISDIR(st.st_mode):
            raise OSError(errno.ENOTDIR, "not a directory")
        dfd = os.open(f"/proc/self/fd/{pfd}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    finally:
        os.close(pfd)
    return dfd, components[-1]


def open_file(root_fd: int, root_dev: int, components: tuple[str, ...], flags: int) -> int:
    """An fd of the regular file at ``components`` opened with ``flags`` (O_RDONLY, O_WRONLY
    or O_RDWR, optionally O_TRUNC/O_APPEND); EACCES for anything but a regular file (a
    directory, symlink, FIFO, socket or device is never opened for data)."""
    fd = walk(root_fd, root_dev, components)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EACCES, "not a regular file")
        keep = flags & (os.O_ACCMODE | os.O_TRUNC | os.O_APPEND)
        data = os.open(f"/proc/self/fd/{fd}", keep | os.O_CLOEXEC | os.O_NOCTTY)
    finally:
        os.close(fd)
    got = os.fstat(data)
    if (got.st_dev, got.st_ino) != (st.st_dev, st.st_ino):  # cannot happen: same inode
        os.close(data)
        raise OSError(errno.EACCES, "file changed while it was opened")
    return data


def list_dir(root_fd: int, root_dev: int, components: tuple[str, ...]) -> list[str]:
    """Names in the directory at ``components`` that the broker serves: directories,
    regular files and symlinks (FIFOs, sockets and devices are left out)."""
    fd = walk(root_fd, root_dev, components)
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.ENOTDIR, "not a directory")
        dfd = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    finally:
        os.close(fd)
    try:
        out = []
        with os.scandir(dfd) as it:
            for entry in it:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode) \
                        or stat.S_ISLNK(st.st_mode):
                    out.append(entry.name)
        return out
    finally:
        os.close(dfd)
