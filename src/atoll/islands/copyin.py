"""Copying a project into an island: a tar stream built here, unpacked inside by the agent.

The operator (who can read the project) builds the archive in memory with :mod:`tarfile`;
``tar -x`` then runs *inside* the island as the agent (``docker exec -i -u 1000 ... tar``,
or ``sudo -u AGENT tar`` into a bwrap workspace), so every file lands owned by the agent
and nothing is written with the operator's or root's rights.

What is copied: regular files, directories and symbolic links (as links, never followed),
including ``.git``. Sockets, FIFOs and device nodes are skipped; setuid/setgid/sticky bits
are cleared. The archive is limited to :data:`MAX_BYTES` (2 GiB) of file data: bigger
projects should be granted (bound) instead; :class:`~atoll.core.errors.UsageError` says so.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile

from atoll.core.errors import UsageError
from atoll.exec.runner import Runner

MAX_BYTES = 2 << 30


def _filter(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    if not (info.isfile() or info.isdir() or info.issym()):
        return None
    info.mode &= 0o777
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def project_tar(project_dir: str, max_bytes: int = MAX_BYTES) -> bytes:
    """The project's contents as an uncompressed tar (member names relative, ``./``-less).

    Raises UsageError when the project is not a directory or its files exceed ``max_bytes``.
    """
    if not os.path.isdir(project_dir):
        raise UsageError(f"project directory {project_dir!r} does not exist")
    total = 0
    for root, dirs, files in os.walk(project_dir):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
        for f in files:
            try:
                st = os.lstat(os.path.join(root, f))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
        if total > max_bytes:
            raise UsageError(
                f"project {project_dir!r} holds more than {max_bytes >> 20} MiB: grant it "
                "instead of copying it (--grant DIR)"
            )
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(os.listdir(project_dir)):
            tar.add(os.path.join(project_dir, entry), arcname=entry, recursive=True,
                    filter=_filter)
    return buf.getvalue()


def extract_argv(dest: str) -> list[str]:
    """The ``tar`` argv that unpacks stdin into ``dest`` as the unprivileged agent."""
    return ["tar", "-x", "-f", "-", "-C", dest, "--no-same-owner", "--no-same-permissions",
            "--delay-directory-restore"]


def copy_in(runner: Runner, project_dir: str, dest: str, timeout: float = 600) -> int:
    """Copy ``project_dir`` into ``dest`` through ``runner`` (which must pass stdin on).

    Returns the archive size in bytes. Raises ExternalCommandError when tar fails.
    """
    data = project_tar(project_dir)
    runner.run(extract_argv(dest), input=data, timeout=timeout).check()
    return len(data)
