"""Operator mode: the use cases behind the ``atoll mcp`` tools, run as the operator.

``Tools(ctx, ai_user, client)`` acts for the AI of Linux user ``ai_user`` (the operator
itself, or an agent user whose requests came through the bridge) on exactly the sessions
opened to that user (:mod:`atoll.service.openings`), each checked to be the same tmux
session that was opened. It can read a screen, type sanitised literal text, press one key
of :data:`atoll.core.operator.MCP_KEYS`, and wait for the screen; nothing here can press
Enter or any other submitting key (see :mod:`atoll.core.operator`).

Every call is in the operator's ledger before it acts (``mcp.*`` records with the tool,
the session, the text and its SHA-256, the MCP client's name and version and the AI's
user); a refused call is recorded as ``denied``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping

import msgspec

from atoll.core.errors import AtollError, NotFoundError, UsageError
from atoll.core.operator import (
    MAX_TYPED,
    PaneInfo,
    screen_matches,
    validate_lines,
    validate_mcp_key,
    validate_wait,
)
from atoll.core.text import check_typable, sanitize_typed_text
from atoll.fleet.servers import Server
from atoll.service import audit, openings
from atoll.service.context import Context
from atoll.service.openings import Opening

#: How often ``wait_for_screen`` looks at the screen (seconds): a capture costs one tmux
#: call (~3-5 ms here), so four a second is cheap and feels immediate to a model.
POLL_S = 0.25
#: Pause after typing before the screen is read back, so the program has echoed it.
ECHO_S = 0.15


class ClientInfo(msgspec.Struct, frozen=True):
    """The MCP client's own name and version (from its initialize request), as reported."""

    name: str = "unknown"
    version: str = "unknown"

    def to_json(self) -> dict[str, str]:
        return {"name": self.name[:100], "version": self.version[:100]}


class SessionInfo(msgspec.Struct, frozen=True):
    """One session as ``list_sessions`` shows it to the AI."""

    session: str
    host: str
    status: str
    width: int
    height: int


class Screen(msgspec.Struct, frozen=True):
    """A screen as the AI reads it: plain text (no escape sequences), size, cursor."""

    session: str
    width: int
    height: int
    cursor_x: int
    cursor_y: int
    screen: str
    matched: bool | None = None


class Tools:
    """The MCP tools for the AI of ``ai_user``; every method raises AtollError subclasses
    (NotFoundError for a session not opened to it, UsageError for bad arguments)."""

    def __init__(self, ctx: Context, ai_user: str, client: ClientInfo | None = None) -> None:
        self.ctx = ctx
        self.ai_user = ai_user
        self.client = client or ClientInfo()

    # -- plumbing ------------------------------------------------------------------------
    def _details(self, tool: str, extra: Mapping[str, object] | None = None) -> dict[str, object]:
        return {"tool": tool, "ai_user": self.ai_user, "client": self.client.to_json(),
                **(extra or {})}

    def _target(self, session: str, opening: Opening | None = None) -> dict[str, str]:
        """The ledger target, the shape of every session action's (service.place)."""
        return {"host": self.ctx.host, "session": session[:100],
                "agent_user": opening.server_user if opening is not None else ""}

    def _deny(self, tool: str, session: str, why: str) -> None:
        audit.event(self.ctx, f"mcp.{tool}", self._target(session), "denied",
                    self._details(tool, {"reason": why[:200]}))

    def _open(self, tool: str, session: str) -> tuple[Opening, Server, PaneInfo]:
        """The opening, its server and the live pane, or a recorded refusal."""
        try:
            opening = openings.find(self.ai_user, session)
            server = self._server(opening)
            info = server.client.pane_info(opening.name)
        except AtollError as exc:
            self._deny(tool, session, str(exc))
            raise
        if (info.session_id, info.session_created) != (opening.session_id,
                                                        opening.session_created):
            why = (f"session {session!r} is not the one that was opened (it was killed and "
                   "made again): open it again")
            self._deny(tool, session, why)
            raise NotFoundError(why)
        return opening, server, info

    def _server(self, opening: Opening) -> Server:
        from atoll.service.place import Target, resolve_local

        return resolve_local(self.ctx, Target(opening.name, None, opening.server_user)).server

    def _screen(self, opening: Opening, server: Server, lines: int = 0,
                matched: bool | None = None) -> Screen:
        info = server.client.pane_info(opening.name)
        text = server.client.capture(opening.name, lines or None).rstrip("\n")
        return Screen(opening.name, info.width, info.height, info.cursor_x, info.cursor_y,
                      text, matched)

    # -- tools ---------------------------------------------------------------------------
    def list_sessions(self) -> list[SessionInfo]:
        """The sessions opened to this AI that still exist, with status and screen size."""
        from atoll.service.listing import list_local

        mine = openings.for_user(self.ai_user)
        audit.event(self.ctx, "mcp.list_sessions", {"session": "*"}, "ok",
                    self._details("list_sessions", {"opened": len(mine)}))
        if not mine:
            return []
        rows = {(r.agent_user, r.name): r for r in list_local(self.ctx).sessions}
        out: list[SessionInfo] = []
        for o in mine:
            row = rows.get((o.server_user, o.name))
            if row is None:
                continue
            try:
                info = self._server(o).client.pane_info(o.name)
            except AtollError:
                continue
            if (info.session_id, info.session_created) != (o.session_id, o.session_created):
                continue
            out.append(SessionInfo(o.name, "local", row.status, info.width, info.height))
        return out

    def read_screen(self, session: str, lines: int = 0) -> Screen:
        """The screen plus ``lines`` of scrollback, as plain text."""
        lines = validate_lines(lines)
        opening, server, _ = self._open("read_screen", session)
        with audit.action(self.ctx, "mcp.read_screen", self._target(session, opening),
                          self._details("read_screen", {"lines": lines})):
            return self._screen(opening, server, lines)

    def type_text(self, session: str, text: str) -> Screen:
        """Type ``text`` literally, sanitised as ``atoll type``, never submitted; returns
        the screen after."""
        if len(text) > MAX_TYPED:
            raise UsageError(f"text is longer than {MAX_TYPED} characters")
        clean = sanitize_typed_text(text)
        if not clean:
            raise UsageError("nothing to type after removing control characters")
        opening, server, _ = self._open("type_text", session)
        if not clean.isascii():  # the same locale and istrip probe as `atoll type`
            try:
                check_typable(clean,
                              eight_bit_safe=server.client.eight_bit_safe(opening.name))
            except UsageError as exc:
                self._deny("type_text", session, str(exc))
                raise
        details = self._details("type_text", {
            "text": clean, "sha256": hashlib.sha256(clean.encode()).hexdigest(),
            "removed": len(text) - len(clean)})
        with audit.action(self.ctx, "mcp.type_text", self._target(session, opening), details):
            server.client.send_literal(opening.name, clean)
        openings.note_typed(opening, clean)
        time.sleep(ECHO_S)
        return self._screen(opening, server)

    def send_key(self, session: str, key: str) -> Screen:
        """Press one key of the closed list; returns the screen after."""
        try:
            validate_mcp_key(key)
        except UsageError as exc:
            self._deny("send_key", session, str(exc))
            raise
        opening, server, _ = self._open("send_key", session)
        with audit.action(self.ctx, "mcp.send_key", self._target(session, opening),
                          self._details("send_key", {"key": key})):
            server.client.send_key(opening.name, key)
        time.sleep(ECHO_S)
        return self._screen(opening, server)

    def wait_for_screen(self, session: str, pattern: str | None, timeout_s: float) -> Screen:
        """Wait until the screen shows ``pattern`` (plain text) or, with no pattern, until
        it changes; at most ``timeout_s`` seconds. ``matched`` says which happened."""
        pattern, timeout_s = validate_wait(pattern, timeout_s)
        opening, server, _ = self._open("wait_for_screen", session)
        with audit.action(self.ctx, "mcp.wait_for_screen", self._target(session, opening),
                          self._details("wait_for_screen",
                                        {"pattern": pattern, "timeout_s": timeout_s})):
            first = server.client.capture(opening.name)
            deadline = time.monotonic() + timeout_s
            while True:
                now = server.client.capture(opening.name)
                hit = screen_matches(now, pattern) if pattern else now != first
                if hit or time.monotonic() >= deadline:
                    return self._screen(opening, server, matched=hit)
                time.sleep(POLL_S)


def open_session(ctx: Context, name: str, as_user: str | None,
                 for_user: str | None) -> Opening:
    """Open session ``name`` to the AI of ``for_user`` (default: the operator), bound to
    the tmux session as it is now. Recorded (``mcp.open``) before it takes effect."""
    from atoll.service.place import Target, resolve_local

    place = resolve_local(ctx, Target(name, None, as_user))
    server = place.server
    info = server.client.pane_info(place.ref)
    opening = openings.new_opening(ctx, name, server.user, info.session_id,
                                   info.session_created, for_user)
    target = place.record()
    with audit.action(ctx, "mcp.open", target,
                      {"for_user": opening.for_user, "session_id": info.session_id,
                       "session_created": info.session_created}):
        openings.add(ctx, opening)
    return opening


def close_session(ctx: Context, name: str, for_user: str | None) -> list[Opening]:
    """Close session ``name`` to every AI (or to ``for_user``'s only). Recorded first."""
    with audit.action(ctx, "mcp.close", {"host": ctx.host, "session": name, "agent_user": ""},
                      {"for_user": for_user or "*"}):
        return openings.remove(ctx, name, for_user)
