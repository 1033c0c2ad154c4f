"""``atoll peek`` for exited sessions, and ``atoll logs``: a session's recent output and,
when it was recorded (``--record``), its transcript."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from atoll.core.deadpane import LAST_LINES, explain, plain_terminal_text
from atoll.core.errors import NotFoundError, UsageError
from atoll.core.names import validate_session_name
from atoll.core.tmuxfmt import PaneRecord
from atoll.fleet.servers import Server
from atoll.service import audit
from atoll.service.context import Context

if TYPE_CHECKING:
    from atoll.service.place import Target

SCROLLBACK = 2000
"""Lines of scrollback ``atoll logs`` prints by default (tmux keeps 5000 per pane)."""
MAX_TRANSCRIPT_BYTES = 1 << 20
"""Bytes read from the end of a transcript (the whole file may be gigabytes)."""


def first_pane(server: Server, name: str) -> PaneRecord | None:
    for pane in server.client.list_panes():
        if pane.session_name == name:
            return pane
    return None


def screen_text(server: Server, name: str, lines: int | None,
                pane: PaneRecord | None = None) -> str:
    """The screen (plus ``lines`` of scrollback) of a live session; for an exited one, its
    last output (``lines`` of it, default :data:`LAST_LINES`) and why it ended. ``name`` is
    how tmux addresses it (a name or ``$N``); ``pane``, its first pane as already listed
    (else it is listed here)."""
    pane = pane or first_pane(server, name)
    if pane is None or not pane.pane_dead:
        return server.client.capture(name, lines)
    screen = server.client.capture(name, max(lines or 0, 200))
    return explain(name, screen, pane.exit_status, pane.command, lines or LAST_LINES)


def _trim(text: str) -> str:
    rows = text.rstrip().split("\n")
    while rows and not rows[0].strip():
        rows.pop(0)
    return "\n".join(rows)


def _transcript(ctx: Context, name: str, lines: int) -> str | None:
    from atoll.ledger import Ledger, ledger_path
    from atoll.ledger.transcript import check_transcript

    try:
        path, sha, matches = check_transcript(name, Ledger(ledger_path(ctx.ledger_path)))
    except NotFoundError:
        return None
    state = {True: "matches its ledger record", None: "still recording"}.get(
        matches, "DOES NOT MATCH its ledger record")
    head = f"--- transcript {path} (sha256 {sha or '-'}, {state})"
    try:
        data = _tail(path)
    except OSError as exc:
        return f"{head}\natoll: cannot read it: {exc.strerror}"
    body = plain_terminal_text(data).rstrip("\n").split("\n")[-lines:]
    return "\n".join([head, *body])


def _tail(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        os.lseek(fd, max(0, size - MAX_TRANSCRIPT_BYTES), os.SEEK_SET)
        return os.read(fd, MAX_TRANSCRIPT_BYTES)
    finally:
        os.close(fd)


def logs(ctx: Context, target: Target | str, lines: int = SCROLLBACK) -> str:
    """The session's scrollback (``lines`` lines, trailing blank lines trimmed; for an exited
    session with why it ended), then its transcript's last ``lines`` lines when it was
    recorded. A session that is gone but was recorded shows its transcript alone. Raises
    NotFoundError when there is neither. On a peer, the peer's own ``atoll logs``."""
    from atoll.service import remote
    from atoll.service.place import PeerPlace, StaleTargetError, fresh_correlation, resolve
    from atoll.service.sessions import as_target

    target = as_target(target)
    name = target.name
    if not 1 <= lines <= 100_000:
        raise UsageError("--lines must be between 1 and 100000")
    if target.host is None:
        validate_session_name(name)
    parts: list[str] = []
    try:
        place = resolve(ctx, target)
    except StaleTargetError:
        raise
    except NotFoundError:
        place = None
    if isinstance(place, PeerPlace):
        return remote.run(ctx, place, "logs", ["--lines", str(lines)],
                          details={"lines": lines}).rstrip("\n")
    record = place.record() if place is not None else {
        "host": ctx.host, "session": name, "agent_user": target.as_user or ""}
    corr = place.correlation if place is not None else fresh_correlation(ctx)
    with audit.action(ctx, "session.logs", record, {"lines": lines}, corr):
        if place is not None:
            parts.append(_trim(screen_text(place.server, place.ref, lines, place.pane)))
        transcript = _transcript(ctx, name, lines)
    if transcript is not None:
        parts.append(transcript)
    if not parts:
        raise NotFoundError(f"no session {name!r} visible to {ctx.operator}, and no transcript")
    return "\n".join(parts)
