"""Validation of names that reach tmux, sudo, git and the file system.

Rules:
- session names: 1-64 characters of ``[A-Za-z0-9._-]``, not starting with ``-`` or ``.``
  (so a name is never an option, a hidden file or a tmux target modifier; tmux itself
  forbids ``:`` and ``.`` in targets, see tmux(1) "COMMANDS", target-session);
- Linux user names: the portable subset of useradd(8): ``[a-z_][a-z0-9_-]{0,31}``;
- git branch names: a conservative subset of git-check-ref-format(1).
"""

from __future__ import annotations

import re

from atoll.core.errors import UsageError

_SESSION_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}")
_USER_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_BRANCH_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/-]{0,199}")
_HOST_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,252}")


def _shown(value: str) -> str:
    """Render untrusted text for an error message: repr, truncated."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def validate_session_name(name: str) -> str:
    """Return ``name`` if it is a valid session name, else raise :class:`UsageError`."""
    if not _SESSION_RE.fullmatch(name):
        raise UsageError(
            f"invalid session name {_shown(name)}: use 1-64 characters of A-Z a-z 0-9 . _ -, "
            "not starting with '-' or '.'"
        )
    return name


def validate_user_name(name: str) -> str:
    """Return ``name`` if it is a valid Linux user name, else raise :class:`UsageError`."""
    if not _USER_RE.fullmatch(name):
        raise UsageError(f"invalid user name {_shown(name)}")
    return name


def validate_branch_name(name: str) -> str:
    """Return ``name`` if it is an acceptable git branch name, else raise :class:`UsageError`."""
    bad = (
        not _BRANCH_RE.fullmatch(name)
        or ".." in name
        or "//" in name
        or name.endswith((".", "/", ".lock"))
        or "/." in name
    )
    if bad:
        raise UsageError(f"invalid branch name {_shown(name)}")
    return name


def validate_host_name(name: str) -> str:
    """Return ``name`` if it is an acceptable host name or SSH alias, else raise UsageError."""
    if not _HOST_RE.fullmatch(name):
        raise UsageError(f"invalid host name {_shown(name)}")
    return name


def has_control_chars(text: str) -> bool:
    """True if ``text`` holds a C0/C1 control character or DEL."""
    return any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text)


def validate_path_text(path: str) -> str:
    """Refuse paths carrying control characters (they would forge lines in tmux formats)."""
    if not path or has_control_chars(path):
        raise UsageError(f"invalid path {_shown(path)}: empty or holds control characters")
    return path


def parse_target(target: str) -> tuple[str | None, str]:
    """Split ``[HOST:]NAME`` into ``(host or None, name)``; both parts validated. NAME may
    also be the listed label of a session atoll did not name (atoll.core.sessionref)."""
    from atoll.core.sessionref import validate_session_target

    if ":" in target:
        host, _, name = target.partition(":")
        return validate_host_name(host), validate_session_target(name)
    return None, validate_session_target(target)
