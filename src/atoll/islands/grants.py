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
"""

from __future__ import annotations

import os
import pwd
import stat

from atoll.core.errors import UsageError
from atoll.core.islands import Grant, is_within, parse_grant

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
