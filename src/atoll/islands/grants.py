"""Grant checks that need the file system (the pure ones are in :mod:`atoll.core.islands`).

A grant (``PATH`` read-only, ``PATH:rw``) must, at the moment it is checked:
- exist and be a directory (``lstat``: not a file, socket, device or symlink);
- have no symlink in any component (``os.path.realpath(path) == path``), so a link cannot
  redirect the bind to somewhere else (shared/DESIGN.md, "Security invariants");
- not be the operator's home or an ancestor of it (granting ``/home/op`` or ``/home`` would
  expose ``~/.ssh`` and shell history), nor inside a secret directory of it (``~/.ssh``,
  ``~/.gnupg``, ``~/.aws``, ``~/.config``, ``~/.local/share/atoll``, ...);
- not hold the engine sockets (their directories are system directories, refused by the
  pure checks).

Errors: :class:`~atoll.core.errors.UsageError` (exit 2), one line.

A container engine mounts a grant later, by path, in its own daemon, so a directory the agent
user can rename could be swapped for a symlink between the check and the mount. The engines
cannot mount a ``/proc/PID/fd/N`` of atoll's (runc fails with EINVAL: the fd's mount is in
another mount namespace; tried with docker 28.2 and podman 4.3), so :func:`hold_grant`
keeps the checked directory open and :func:`verify_mounts` compares its device and inode
with what is mounted inside the container before anything else runs there.
"""

from __future__ import annotations

import os
import pwd
import stat

from atoll.core.errors import AtollError, UsageError
from atoll.core.islands import Grant, is_within, parse_grant
from atoll.exec.runner import Runner

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

SECRET_DIRS = (
    ".ssh", ".gnupg", ".aws", ".azure", ".kube", ".docker", ".config", ".local/share/atoll",
    ".netrc", ".password-store", ".mozilla", ".cache/atoll",
)


def operator_home() -> str:
    """Home directory of the real uid (from the password database, never ``$HOME``)."""
    return os.path.normpath(pwd.getpwuid(os.getuid()).pw_dir)


def check_grant(grant: Grant, home: str | None = None) -> Grant:
    """Return ``grant`` if it passes the checks above, else raise UsageError."""
    path = grant.path
    home = os.path.normpath(home or operator_home())
    try:
        st = os.lstat(path)
    except FileNotFoundError as exc:
        raise UsageError(f"grant {path!r} does not exist") from exc
    except OSError as exc:
        raise UsageError(f"grant {path!r}: {exc.strerror}") from exc
    if stat.S_ISLNK(st.st_mode):
        raise UsageError(f"grant {path!r} is a symbolic link: grant its target instead")
    if not stat.S_ISDIR(st.st_mode):
        raise UsageError(f"grant {path!r} is not a directory")
    real = os.path.realpath(path)
    if real != path:
        raise UsageError(f"grant {path!r} goes through a symbolic link (it is {real!r})")
    if home != "/" and is_within(home, path):
        raise UsageError(f"grant {path!r} would expose your home directory {home}")
    for secret in SECRET_DIRS:
        if is_within(path, os.path.join(home, secret)):
            raise UsageError(f"grant {path!r} is inside {os.path.join(home, secret)}")
    return grant


def parse_and_check(texts: list[str], home: str | None = None) -> tuple[Grant, ...]:
    """``PATH[:rw]`` texts into checked grants; a path granted twice is refused."""
    out: list[Grant] = []
    seen: set[str] = set()
    for text in texts:
        g = check_grant(parse_grant(text), home)
        if g.path in seen:
            raise UsageError(f"grant {g.path!r} given twice")
        seen.add(g.path)
        out.append(g)
    return tuple(out)


class GrantChangedError(AtollError):
    """A granted directory was replaced between its check and its mount (exit 1)."""


def hold_grant(grant: Grant, home: str | None = None) -> int:
    """Open ``grant``'s directory (O_DIRECTORY|O_NOFOLLOW), check it, and return the fd
    (the caller closes it). UsageError as :func:`check_grant`; GrantChangedError when the
    path no longer names the directory that was opened."""
    try:
        fd = os.open(grant.path, DIR_FLAGS)
    except OSError:
        check_grant(grant, home)  # says why (missing, a link, not a directory)
        raise GrantChangedError(f"grant {grant.path!r} changed while it was checked") from None
    try:
        check_grant(grant, home)
        held, now = os.fstat(fd), os.lstat(grant.path)
        if (held.st_dev, held.st_ino) != (now.st_dev, now.st_ino):
            raise GrantChangedError(f"grant {grant.path!r} changed while it was checked")
    except BaseException:
        os.close(fd)
        raise
    return fd


def verify_mounts(runner: Runner, grants: tuple[Grant, ...], fds: list[int]) -> None:
    """Check that each grant mounted inside (``stat -c %d:%i PATH`` through ``runner``) is
    the directory held open in ``fds``; GrantChangedError naming the first that is not."""
    for g, fd in zip(grants, fds, strict=True):
        held = os.fstat(fd)
        res = runner.run(["stat", "-c", "%d:%i", g.path], timeout=30)
        seen = res.text().strip() if res.ok else ""
        if seen != f"{held.st_dev}:{held.st_ino}":
            raise GrantChangedError(
                f"grant {g.path!r} was replaced before the engine mounted it (inside it is "
                f"{seen or 'missing'}, the checked directory is {held.st_dev}:{held.st_ino}):"
                " refused, the island was removed")
