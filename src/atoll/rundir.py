"""Private per-operator directories for sockets: the ssh ControlMaster sockets
(:mod:`atoll.fleet.sshctl`) and the resident listing helper (:mod:`atoll.cli.resident`);
and the atomic private file write the listing caches share (:func:`replace_private`).

Standard library ``os`` only: the console script calls this before anything else is
imported.
"""

from __future__ import annotations

import os
import stat


def private_dir(path: str) -> str | None:
    """Create ``path`` as a 0700 directory (missing parents with the default mode), or
    verify the existing one: it must be a real directory (an ``lstat``, so never a symlink)
    owned by the real uid; group or other permission bits are taken away. None when that is
    impossible (for example a directory squatted by another user in ``/tmp``). Only the last
    component is checked: a parent that others can write must be checked by the caller."""
    try:
        parent = os.path.dirname(path)
        if parent and not os.path.isdir(parent):
            os.makedirs(parent, exist_ok=True)
        try:  # noqa: SIM105 - contextlib would be one more import before every listing
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        info = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        return None
    if info.st_mode & 0o077:
        try:
            os.chmod(path, 0o700)
        except OSError:
            return None
    return path


def replace_private(path: str, data: bytes) -> os.stat_result:
    """Replace ``path`` with ``data`` atomically: written to a 0600 temporary file beside it
    (created new, never through a symlink), then renamed over it (rename(2) is atomic), so
    a reader sees the old file or the new one, never a part. Returns the new file's
    ``fstat`` (its identity: each write is a new inode). Raises OSError; the temporary file
    is removed on failure."""
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            written = os.fstat(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:  # noqa: SIM105 - contextlib would be one more import before every listing
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return written


def runtime_base() -> str | None:
    """``$XDG_RUNTIME_DIR/atoll`` when the runtime directory (pam_systemd's ``/run/user/UID``)
    is set, absolute and a directory; else ``/tmp/atoll-UID``. Verified by
    :func:`private_dir`; None when neither can be had."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isabs(runtime) and os.path.isdir(runtime):
        found = private_dir(os.path.join(runtime, "atoll"))
        if found is not None:
            return found
    return private_dir(tmp_base())


def tmp_base() -> str:
    """``/tmp/atoll-UID``: the fallback when there is no runtime directory."""
    return f"/tmp/atoll-{os.getuid()}"
