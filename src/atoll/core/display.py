"""Labels shared by every renderer of a listing (CLI table, fleet view)."""

from __future__ import annotations

import posixpath

from atoll.core.models import SessionRow


def project_label(row: SessionRow) -> str:
    """``repo`` or ``repo@worktree`` (the project's last path component)."""
    base = posixpath.basename(row.project.rstrip("/")) or row.project or "-"
    return f"{base}@{row.worktree}" if row.worktree else base


#: tmux caps atoll's ``@atoll_command`` option at this many bytes (core.tmuxfmt FIELD_CAPS)
COMMAND_CAP = 4096


def command_label(argv: list[str]) -> str:
    """The session's command as one line for ``@atoll_command``: ``shlex.join(argv)`` with
    control characters escaped (``\\n``), cut to COMMAND_CAP bytes. A multi-line
    ``python3 -c`` argument must not make atoll's own option fail its bounds check."""
    import shlex

    text = "".join(c.encode("unicode_escape").decode("ascii") if not c.isprintable() else c
                   for c in shlex.join(argv))
    data = text.encode("utf-8")
    if len(data) <= COMMAND_CAP:
        return text
    return data[: COMMAND_CAP - 3].decode("utf-8", "ignore") + "..."


def name_label(row: SessionRow) -> str:
    """The session name, marked ``[ai]`` when it is open to an AI (``atoll mcp open``)."""
    return f"{row.name} [ai]" if row.opened_to else row.name


def status_label(row: SessionRow) -> str:
    """The status, with the exit status for an exited session (``exited(3)``) and the
    reason of a waiting or error one (``waiting(permission)``, ``error(login)``); ``ended``
    for a session ``kill`` ended (listed by ``ls --all``)."""
    if row.ended is not None:  # `ls --all`: ended by kill, only its spec is left
        return "ended"
    if row.status == "exited" and row.exit_status is not None:
        return f"exited({row.exit_status})"
    if row.status in ("waiting", "error") and row.reason:
        return f"{row.status}({row.reason})"
    return row.status


def aligned(columns: tuple[str, ...], rows: list[tuple[str, ...]],
            right: frozenset[str] = frozenset()) -> list[str]:
    """Header and rows as text lines: each column as wide as its widest cell, two spaces
    apart, columns named in ``right`` right-aligned, trailing spaces dropped. Widths are
    ``len()`` (the callers have replaced control characters already)."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(columns)]

    def fmt(cells: tuple[str, ...]) -> str:
        parts = [c.rjust(w) if h in right else c.ljust(w)
                 for c, w, h in zip(cells, widths, columns, strict=True)]
        return "  ".join(parts).rstrip()

    return [fmt(columns), *(fmt(r) for r in rows)]
