"""The broker, the pure part: grant names, paths inside the broker's filesystem, and the
rules a read-write grant and an export apply (issue 16, points 2 and 5).

The broker's filesystem (served by :mod:`atoll.broker.fs`) has one top-level directory per
live grant, named by the grant's *name*; below it the granted directory's tree. A path the
kernel hands the broker (``/NAME/a/b``) is split into the grant name and its components
here, and every component is checked: none is empty, ``.``, ``..`` or holds a NUL byte, so
the walk that opens it (:mod:`atoll.broker.resolve`) never climbs.

Read-write content is untrusted (point 5): by default a write, a create, a rename target or
a mode change is refused when it would make the operator's own tools run the agent's code:
``.git/config``, anything under ``.git/hooks``, ``.envrc`` (direnv), set-uid/set-gid/exec
bits, symlinks, FIFOs and device files. Export applies the same rules to what it copies out,
plus size and file-count caps.

Nothing here does I/O.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass

GRANTS_INSIDE = "/grants"
"""Where bwrap and container islands see the broker's filesystem."""

MAX_GRANT_NAME = 64
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

EXPORT_MAX_BYTES = 1 << 30
"""Default cap of ``atoll export``: 1 GiB in total."""
EXPORT_MAX_FILES = 10_000
"""Default cap of ``atoll export``: 10,000 entries."""

EXEC_BITS = stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH
SPECIAL_BITS = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX


class BrokerPathError(ValueError):
    """A path the broker refuses to resolve (it names no entry below a grant)."""


def validate_grant_name(name: str) -> str:
    """``name`` if it is 1-64 of ``[A-Za-z0-9._-]`` starting with a letter or digit, else
    ValueError (the name is a directory entry inside the island and a CLI argument)."""
    if not _NAME_RE.fullmatch(name):
        raise ValueError(
            f"invalid grant name {name[:80]!r}: use 1-{MAX_GRANT_NAME} letters, digits, '.', "
            "'_' or '-', starting with a letter or digit")
    return name


def default_grant_name(path: str, taken: set[str]) -> str:
    """A name for a grant of ``path``: its last component made valid (other characters
    become ``_``), with ``-2``, ``-3``... appended while it is in ``taken``."""
    base = path.rstrip("/").rsplit("/", 1)[-1]
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base)[:MAX_GRANT_NAME - 4].lstrip("._-") or "grant"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


def split_path(path: str) -> tuple[str, tuple[str, ...]]:
    """``/NAME/a/b`` -> ``("NAME", ("a", "b"))``; ``/`` -> ``("", ())``.

    Raises BrokerPathError for a path that is not absolute, or holds an empty, ``.`` or
    ``..`` component or a NUL byte (the kernel never sends those; a broker that got one
    must not walk it)."""
    if not path.startswith("/") or "\0" in path:
        raise BrokerPathError(f"not a broker path: {path[:80]!r}")
    if path == "/":
        return "", ()
    parts = path[1:].split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise BrokerPathError(f"not a broker path: {path[:80]!r}")
    return parts[0], tuple(parts[1:])


def protected_reason(components: tuple[str, ...]) -> str | None:
    """Why a read-write grant refuses to create, change, rename or remove the entry at
    ``components`` (relative to the granted root), or None when it may: ``.git/config``,
    anything in a ``.git/hooks`` directory (or that directory), ``.envrc``; at any depth,
    since a granted folder may hold several repositories."""
    for i, part in enumerate(components):
        nxt = components[i + 1] if i + 1 < len(components) else None
        if part == ".git" and nxt in ("config", "hooks"):
            return f".git/{nxt} runs code in your own git"
        if part == ".envrc" and nxt is None:
            return ".envrc runs code in your shell (direnv)"
    return None


def mode_reason(mode: int) -> str | None:
    """Why a read-write grant refuses a file mode (create, chmod), or None: set-uid,
    set-gid, sticky and execute bits are refused (only the permission bits 0o666 pass)."""
    if mode & SPECIAL_BITS:
        return "set-uid, set-gid and sticky bits are refused"
    if (stat.S_ISREG(mode) or stat.S_IFMT(mode) == 0) and mode & EXEC_BITS:
        return "execute bits are refused on files"
    return None


def shown_mode(mode: int, *, rw: bool) -> int:
    """The mode the island sees for an entry of host mode ``mode``: special bits dropped,
    write bits dropped on a read-only grant (so tools do not try and fail)."""
    shown = mode & ~SPECIAL_BITS
    if not rw:
        shown &= ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    return shown


@dataclass(frozen=True)
class ExportEntry:
    """One entry an export would write: ``rel`` path (``/``-separated), ``kind`` (``file``,
    ``dir``, ``symlink``, ``other``), ``mode`` (permission bits), ``size`` in bytes."""

    rel: str
    kind: str
    mode: int
    size: int


def export_refusal(entries: list[ExportEntry], *, max_bytes: int = EXPORT_MAX_BYTES,
                   max_files: int = EXPORT_MAX_FILES) -> str | None:
    """Why an export of ``entries`` is refused, or None: over the caps, a symlink, FIFO or
    device (not written: an island's symlink is data, never a path on the host), a protected
    path (:func:`protected_reason`), or a set-uid/set-gid/exec file (:func:`mode_reason`)."""
    if len(entries) > max_files:
        return f"{len(entries)} entries, over the cap of {max_files}"
    total = sum(e.size for e in entries if e.kind == "file")
    if total > max_bytes:
        return f"{total} bytes, over the cap of {max_bytes}"
    for e in entries:
        parts = tuple(p for p in e.rel.split("/") if p)
        if ".." in parts or e.rel.startswith("/"):
            return f"{e.rel!r} is not a relative path below the export"
        if e.kind not in ("file", "dir"):
            return f"{e.rel!r} is a {e.kind}: only files and directories are exported"
        why = protected_reason(parts)
        if why:
            return f"{e.rel!r}: {why}"
        if e.kind == "file" and (why := mode_reason(stat.S_IFREG | e.mode)):
            return f"{e.rel!r}: {why}"
    return None


@dataclass(frozen=True)
class BrokerPlace:
    """Where one island's broker mounts and whom it serves (from the island's kind,
    :mod:`atoll.islands.brokermount`).

    ``key``: names the island in ledger records and picks the control socket
    (``user:AGENT``, ``bwrap:AGENT:ISLAND_ID``, ``ENGINE:CONTAINER``); ``mountpoint``: the
    host directory the filesystem is mounted on; ``inside``: where the island sees it;
    ``uids``: the uids served; ``mount_as``: the agent user that mounts it (its own FUSE
    mount, handed to the broker), or None when the broker mounts it itself with
    ``allow_other`` (container islands)."""

    key: str
    mountpoint: str
    inside: str
    uids: tuple[int, ...]
    mount_as: str | None = None

    def inside_path(self, name: str) -> str:
        """Where the island sees grant ``name``."""
        return f"{self.inside.rstrip('/')}/{name}"


def socket_name(key: str) -> str:
    """The control socket's file name for ``key``: 16 hex of its SHA-256 plus ``.sock``
    (a key can be longer than a Unix socket path allows)."""
    import hashlib

    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:16] + ".sock"
