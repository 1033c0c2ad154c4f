"""Copying a project into an island with no more rights than the project's owner has.

A tar stream is built by :mod:`atoll.islands.tarwalk` (a directory-fd walk that never
follows a symbolic link, skips FIFOs, sockets and devices without opening them, and clears
setuid/setgid/sticky bits), then ``tar -x`` runs *inside* the island as the agent
(``docker exec -i -u 1000 ... tar``, or ``sudo -u AGENT tar`` into a bwrap workspace).

Whose rights build the stream (shared/DESIGN.md, decision 14: "copy with the source owner's
rights"): :func:`open_project` resolves the project path one component at a time from
``/`` (``openat`` with ``O_NOFOLLOW``, following a symlink only by reading it) and notes the
owner of every directory and link on the way.

- Every one is root or the operator: the walk runs in atoll with the operator's rights, on
  the directory fd the resolution ended on (no path is looked up twice, so nothing can be
  swapped in between).
- One other user owns some of them (an agent user's home, a link it planted): the walk runs
  as THAT user (``sudo -n -u USER python3 -I -S -c TARWALK DIR MAX``), so it can only read
  what that user can; the operator checks the stream it returns (member types and names,
  size) before passing it on. :class:`~atoll.core.errors.PermissionDeniedError` when sudo
  does not allow it.
- Several other users: refused (PermissionDeniedError); copy from a directory you own.

At most :data:`MAX_BYTES` (2 GiB) of file data: bigger projects should be granted
(``--grant DIR``); UsageError says so. Every refusal is one line naming the path.
"""

from __future__ import annotations

import errno
import io
import os
import pwd
import stat
import tarfile
from dataclasses import dataclass

from atoll.core.errors import AtollError, PermissionDeniedError, UsageError
from atoll.exec.process import run_capped
from atoll.exec.runner import Runner, Sudo
from atoll.islands import tarwalk

MAX_BYTES = 2 << 30
MAX_LINKS = 40
"""Symbolic links followed while resolving the project path (as Linux, path_resolution(7))."""
HEADER_ROOM = 256 << 20
"""Room for tar headers on top of MAX_BYTES in a stream another user produced."""


class CopyError(AtollError):
    """The project cannot be copied (unreadable, changed during the copy, not a tree)."""


@dataclass
class Project:
    """A resolved project directory: ``fd`` (open, O_DIRECTORY) and the uids of root, the
    operator and anyone else who owns a directory or link on the way to it."""

    path: str
    fd: int
    owners: frozenset[int]

    def others(self) -> set[int]:
        return set(self.owners) - {0, os.getuid()}

    def close(self) -> None:
        os.close(self.fd)


def open_project(path: str) -> Project:
    """Resolve absolute ``path`` component by component (see the module rules).

    Raises UsageError when it does not exist or is not a directory, CopyError on a symlink
    loop or a component that changes while it is resolved.
    """
    if not path.startswith("/"):
        raise UsageError(f"project directory {path!r} is not absolute")
    parts = [p for p in path.split("/") if p]
    stack = [os.open("/", tarwalk.DIR_FLAGS)]
    owners = {os.fstat(stack[0]).st_uid}
    links = 0
    try:
        while parts:
            name = parts.pop(0)
            if name == ".":
                continue
            if name == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            try:
                st = os.stat(name, dir_fd=stack[-1], follow_symlinks=False)
            except FileNotFoundError:
                raise UsageError(f"project directory {path!r} does not exist") from None
            owners.add(st.st_uid)
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if links > MAX_LINKS:
                    raise CopyError(f"project directory {path!r}: too many symbolic links")
                target = os.readlink(name, dir_fd=stack[-1])
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                parts[:0] = [p for p in target.split("/") if p]
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise UsageError(f"project directory {path!r} is not a directory")
            fd = os.open(name, tarwalk.DIR_FLAGS, dir_fd=stack[-1])
            opened = os.fstat(fd)
            stack.append(fd)
            if (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino):
                raise CopyError(f"project directory {path!r} changed while it was opened")
        top = stack.pop()
    except OSError as exc:
        for fd in stack:
            os.close(fd)
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise PermissionDeniedError(f"cannot open project directory {path!r}: "
                                        "permission denied") from None
        raise CopyError(f"cannot open project directory {path!r}: {exc.strerror}") from None
    except BaseException:
        for fd in stack:
            os.close(fd)
        raise
    for fd in stack:
        os.close(fd)
    return Project(path, top, frozenset(owners))


def _walk_error(exc: tarwalk.WalkError, project: str) -> AtollError:
    text = f"cannot copy project {project!r}: {exc}"
    if exc.kind == "TOO_BIG":
        return UsageError(f"{text}: grant it instead of copying it (--grant DIR)")
    if exc.kind == "DENIED":
        return PermissionDeniedError(text)
    return CopyError(text)


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _as_owner(user: str, path: str, max_bytes: int, timeout: float) -> bytes:
    """The stream built by ``user`` (tarwalk run as a script through sudo), checked."""
    with open(tarwalk.__file__, encoding="utf-8") as fh:
        source = fh.read()
    argv = Sudo(user).wrap(["python3", "-I", "-S", "-c", source, path, str(max_bytes)])
    res = run_capped(argv, timeout=timeout, max_stdout=max_bytes + HEADER_ROOM)
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or ["?"])[-1]
        kinds = {code: kind for kind, code in tarwalk.EXIT_CODES.items()}
        kind = kinds.get(res.returncode or -1)
        if kind is not None:
            raise _walk_error(tarwalk.WalkError(kind, last.partition(": ")[2] or last), path)
        if res.truncated:
            raise UsageError(f"project {path!r} is too big to copy: grant it instead")
        if "sudo" in last or "password" in last:
            raise PermissionDeniedError(
                f"project {path!r} belongs to {user}, so it is copied with {user}'s rights, "
                f"and sudo does not let you act as {user} ({last})")
        raise CopyError(f"copying project {path!r} as {user} failed: {last}")
    return checked_stream(res.stdout, path, max_bytes)


def checked_stream(data: bytes, project: str, max_bytes: int = MAX_BYTES) -> bytes:
    """Re-emit a tar stream another user produced, keeping regular files, directories and
    symlinks with relative names free of ``..``; CopyError on anything else."""
    out = io.BytesIO()
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r|") as src, \
                tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as dst:
            for m in src:
                parts = m.name.split("/")
                if m.name.startswith("/") or ".." in parts or not (
                        m.isfile() or m.isdir() or m.issym()):
                    raise CopyError(f"cannot copy project {project!r}: the stream its owner "
                                    f"produced holds {m.name!r}, which is not allowed")
                m.mode &= 0o777
                m.uid = m.gid = 0
                m.uname = m.gname = ""
                total += m.size if m.isfile() else 0
                if total > max_bytes:
                    raise UsageError(f"project {project!r} holds more than {max_bytes >> 20} "
                                     "MiB: grant it instead of copying it (--grant DIR)")
                dst.addfile(m, src.extractfile(m) if m.isfile() else None)
    except tarfile.TarError as exc:
        raise CopyError(f"cannot copy project {project!r}: bad stream ({exc})") from None
    return out.getvalue()


def project_tar(project_dir: str, max_bytes: int = MAX_BYTES, timeout: float = 600) -> bytes:
    """The project's contents as an uncompressed tar, built with the owner's rights (see
    the module rules). Raises UsageError, PermissionDeniedError or CopyError (one line)."""
    project = open_project(project_dir)
    try:
        others = project.others()
        if len(others) > 1:
            names = ", ".join(sorted(_user_name(u) for u in others))
            raise PermissionDeniedError(
                f"project {project_dir!r} is reached through directories or links of several "
                f"users ({names}): copy it from a directory you own")
        if others and os.geteuid() not in others:
            return _as_owner(_user_name(others.pop()), project_dir, max_bytes, timeout)
        buf = io.BytesIO()
        try:
            tarwalk.write_tar(project.fd, buf, max_bytes)
        except tarwalk.WalkError as exc:
            raise _walk_error(exc, project_dir) from None
        return buf.getvalue()
    finally:
        project.close()


def extract_argv(dest: str) -> list[str]:
    """The ``tar`` argv that unpacks stdin into ``dest`` as the unprivileged agent."""
    return ["tar", "-x", "-f", "-", "-C", dest, "--no-same-owner", "--no-same-permissions",
            "--delay-directory-restore"]


def copy_in(runner: Runner, project_dir: str, dest: str, timeout: float = 600) -> int:
    """Copy ``project_dir`` into ``dest`` through ``runner`` (which must pass stdin on).

    Returns the archive size in bytes. Raises the errors of :func:`project_tar`, and
    ExternalCommandError when the unpacking tar fails.
    """
    data = project_tar(project_dir, timeout=timeout)
    runner.run(extract_argv(dest), input=data, timeout=timeout).check()
    return len(data)
