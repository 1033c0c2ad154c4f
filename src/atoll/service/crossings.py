"""Intake and export: copies across an island's boundary, each file's SHA-256 in the ledger.

``intake`` builds a tar stream of the host folder with :func:`atoll.islands.copyin.project_tar`
(a no-follow directory-fd walk with the owner's rights, FIFOs and devices skipped, special
bits cleared) and unpacks it inside the island as the agent. ``export`` has the agent tar
the island path (its output is hostile: capped in size, parsed member by member), checks
every member against :func:`atoll.core.broker.export_refusal` (no symlinks, FIFOs or
devices, no protected paths, no exec or set-uid files, size and count caps) and writes the
files below HOSTDEST through directory fds with ``O_NOFOLLOW`` (``O_EXCL`` unless
``--force``), so nothing is written outside HOSTDEST whatever the island holds.

Records: ``crossing.intake`` / ``crossing.export`` with outcome ``intent`` before anything
is written, carrying ``files`` (``[path, bytes, sha256]``, at most
:data:`FILES_PER_RECORD` per record; more files add ``ok`` records with ``part`` N), then
``ok``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import posixpath
import stat
import tarfile
from typing import Any

from atoll.core.broker import EXPORT_MAX_BYTES, EXPORT_MAX_FILES, ExportEntry, export_refusal
from atoll.core.errors import AtollError, PermissionDeniedError, UsageError
from atoll.exec.runner import Runner, Sudo
from atoll.fleet.servers import Server
from atoll.service import audit
from atoll.service.context import Context

FILES_PER_RECORD = 200


def _island_runner(ctx: Context, target: str, as_user: str | None
                   ) -> tuple[Server, str, Runner, str, str]:
    """(server, tmux ref, a runner inside the island, its key, the default directory)."""
    from atoll.service.grants import place_of_server, resolve_session

    server, ref = resolve_session(ctx, target, as_user)
    place = place_of_server(server, ref)
    if place.key.startswith("bwrap:"):
        from atoll.islands.bwrap import list_bwrap_islands

        island_id = place.key.split(":", 2)[2]
        for isl in list_bwrap_islands(server.user):
            if isl.island_id == island_id:
                return server, ref, isl.runner(), place.key, isl.workdir
        raise AtollError(f"bwrap island {island_id} is gone")
    if place.key.startswith("user:"):
        import pwd

        home = pwd.getpwnam(server.user).pw_dir
        return server, ref, Sudo(server.user), place.key, home
    from atoll.core.islands import CONTAINER_WORKSPACE

    return server, ref, server.client.runner, place.key, CONTAINER_WORKSPACE


def tar_manifest(data: bytes) -> list[list[Any]]:
    """``[path, bytes, sha256]`` of every regular file in tar stream ``data``."""
    out: list[list[Any]] = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|") as tar:
        for m in tar:
            if m.isfile():
                fh = tar.extractfile(m)
                digest = hashlib.sha256(fh.read() if fh else b"").hexdigest()
                out.append([m.name, m.size, digest])
    return out


def _record_files(ctx: Context, action: str, target: dict[str, str],
                  details: dict[str, Any], files: list[list[Any]]) -> Any:
    first, rest = files[:FILES_PER_RECORD], files[FILES_PER_RECORD:]
    cm = audit.auditor(ctx).action(action, target, {**details, "count": len(files),
                                                    "bytes": sum(f[1] for f in files),
                                                    "files": first})
    return cm, rest


def intake(ctx: Context, target: str, hostpath: str, dest: str | None,
           as_user: str | None = None) -> str:
    """Copy host folder ``hostpath`` into ``target``'s island at ``dest`` (default: a new
    folder named like it in the island's default directory); returns where it landed.
    UsageError when ``dest`` exists or is not absolute."""
    from atoll.islands.copyin import extract_argv, project_tar

    src = os.path.abspath(hostpath)
    _server, _ref, runner, key, base = _island_runner(ctx, target, as_user)
    where = dest or posixpath.join(base, posixpath.basename(src.rstrip("/")) or "intake")
    if not where.startswith("/") or ".." in where.split("/"):
        raise UsageError(f"--to {where!r}: give an absolute path inside the island")
    if runner.run(["test", "-e", where], timeout=30).ok:
        raise UsageError(f"{where} exists in the island: pick another --to")
    data = project_tar(src)
    files = tar_manifest(data)
    cm, rest = _record_files(ctx, "crossing.intake", {"island": key, "path": src},
                             {"from": src, "to": where}, files)
    with cm:
        for i in range(0, len(rest), FILES_PER_RECORD):
            audit.event(ctx, "crossing.intake", {"island": key, "path": src}, "ok",
                        {"part": i // FILES_PER_RECORD + 2,
                         "files": rest[i:i + FILES_PER_RECORD]})
        runner.run(["mkdir", "-p", "--", where], timeout=30).check()
        runner.run(extract_argv(where), input=data, timeout=600).check()
    return where


def _entries(data: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
    out = []
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r|") as tar:
            for m in tar:
                body = b""
                if m.isfile():
                    fh = tar.extractfile(m)
                    body = fh.read() if fh else b""
                out.append((m, body))
    except tarfile.TarError as exc:
        raise AtollError(f"the island's copy is not a tar stream ({exc})") from None
    return out


def _kind(m: tarfile.TarInfo) -> str:
    return "file" if m.isfile() else "dir" if m.isdir() else "symlink" if m.issym() \
        else "other"


def _open_dir_at(fd: int, parts: list[str]) -> int:
    """An fd of directory ``parts`` below ``fd``, making missing ones (0755), never
    following a symlink (ELOOP refuses an existing one)."""
    cur = os.dup(fd)
    try:
        for part in parts:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o755, dir_fd=cur)
            try:
                nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
                              | os.O_CLOEXEC, dir_fd=cur)
            except NotADirectoryError:  # O_DIRECTORY|O_NOFOLLOW on a symlink says ENOTDIR
                if stat.S_ISLNK(os.stat(part, dir_fd=cur, follow_symlinks=False).st_mode):
                    raise OSError(errno.ELOOP, "a symlink") from None
                raise
            os.close(cur)
            cur = nxt
    except BaseException:
        os.close(cur)
        raise
    return cur


def export(ctx: Context, target: str, path: str, hostdest: str, *, force: bool = False,
           as_user: str | None = None, max_bytes: int = EXPORT_MAX_BYTES,
           max_files: int = EXPORT_MAX_FILES) -> int:
    """Copy ``path`` (inside the island) into directory ``hostdest`` (made unless it
    exists), as ``hostdest/BASENAME``; returns the entries written.
    UsageError when ``hostdest`` exists (without ``force``) or the copy is refused,
    PermissionDeniedError when a write would leave ``hostdest``."""
    from atoll.exec.process import run_capped

    if not path.startswith("/") or ".." in path.split("/"):
        raise UsageError(f"{path!r}: give an absolute path inside the island")
    _server, _ref, runner, key, _base = _island_runner(ctx, target, as_user)
    parent, name = posixpath.split(path.rstrip("/"))
    res = run_capped(runner.wrap(["tar", "-c", "-f", "-", "-C", parent or "/", "--", name]),
                     timeout=600, max_stdout=max_bytes + (64 << 20))
    if res.truncated:
        raise UsageError(f"{path} is over the export cap of {max_bytes} bytes")
    if res.returncode != 0:
        raise AtollError(f"cannot read {path} in the island: "
                         f"{(res.stderr.strip().splitlines() or ['?'])[-1]}")
    members = _entries(res.stdout)
    entries = []
    for m, _body in members:
        rel = m.name.rstrip("/")
        if rel != name and not rel.startswith(name + "/"):
            raise UsageError(f"the island's copy holds {m.name!r}, outside {name!r}")
        entries.append(ExportEntry(rel, _kind(m), m.mode & 0o7777, m.size))
    why = export_refusal(entries, max_bytes=max_bytes, max_files=max_files)
    if why:
        raise UsageError(f"export refused: {why}")
    dest = os.path.abspath(hostdest)
    try:
        os.mkdir(dest, 0o755)
    except FileExistsError:
        if not force:
            raise UsageError(f"{dest} exists: give --force to write into it") from None
    root = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    files = [[e.rel, len(body), hashlib.sha256(body).hexdigest()]
             for e, (_m, body) in zip(entries, members, strict=True) if e.kind == "file"]
    cm, rest = _record_files(ctx, "crossing.export", {"island": key, "path": path},
                             {"to": dest, "force": force}, files)
    try:
        with cm:
            for i in range(0, len(rest), FILES_PER_RECORD):
                audit.event(ctx, "crossing.export", {"island": key, "path": path}, "ok",
                            {"part": i // FILES_PER_RECORD + 2,
                             "files": rest[i:i + FILES_PER_RECORD]})
            for e, (_m, body) in zip(entries, members, strict=True):
                _write_entry(root, e, body, force)
    finally:
        os.close(root)
    return len(entries)


def _write_entry(root: int, e: ExportEntry, body: bytes, force: bool) -> None:
    parts = [p for p in e.rel.split("/") if p]
    try:
        if e.kind == "dir":
            os.close(_open_dir_at(root, parts))
            return
        dfd = _open_dir_at(root, parts[:-1])
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
            flags |= os.O_TRUNC if force else os.O_EXCL
            fd = os.open(parts[-1], flags, e.mode & 0o666, dir_fd=dfd)
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise OSError(errno.EACCES, "not a regular file")
                os.write(fd, body)
            finally:
                os.close(fd)
        finally:
            os.close(dfd)
    except FileExistsError:
        raise UsageError(f"{e.rel} exists in the destination: give --force") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PermissionDeniedError(
                f"{e.rel}: the destination holds a symlink there; nothing is written "
                "through it") from None
        raise AtollError(f"cannot write {e.rel}: {exc.strerror}") from None
