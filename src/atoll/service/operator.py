"""Operator mode: the use cases behind the ``atoll mcp`` tools, run as the operator.

``Tools(ctx, ai_user, client)`` acts for the AI of Linux user ``ai_user`` (the operator
itself, or an agent user whose requests came through the bridge) on exactly the sessions
opened to that user (:mod:`atoll.service.openings`), each checked to be the same tmux
session that was opened. It can read a screen, type sanitised literal text, press one key
of :data:`atoll.core.operator.MCP_KEYS`, and wait for the screen; nothing here can press
Enter or any other submitting key (see :mod:`atoll.core.operator`).

A session on another host (``HOST:NAME``, opened with ``atoll mcp open HOST:NAME``) is
reached through the peer's atoll over SSH (``atoll mcp call``, run as the operator there):
the peer's own opening decides, its ledger records the call with the same correlation id,
and its answer is decoded as hostile input (:func:`atoll.core.operator.decode_peer_screen`).

Every call is in the operator's ledger before it acts (``mcp.*`` records with the tool,
the session, the text and its SHA-256, the MCP client's name and version and the AI's
user); a refused call is recorded as ``denied``.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Mapping
from typing import Any

import msgspec

from atoll.core.errors import AtollError, NotFoundError, UsageError
from atoll.core.operator import (
    MAX_PEER_ANSWER,
    MAX_REQUEST,
    MAX_TYPED,
    TOOLS,
    PaneInfo,
    Request,
    Screen,
    SessionInfo,
    decode_peer_screen,
    decode_peer_sessions,
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
#: Longest a peer's tool call may take (``wait_for_screen``'s own cap plus margin), s.
PEER_TIMEOUT = 135.0

__all__ = ["TOOLS", "ClientInfo", "Screen", "SessionInfo", "Tools", "close_session",
           "open_session", "run_tool"]


class ClientInfo(msgspec.Struct, frozen=True):
    """The MCP client's own name and version (from its initialize request), as reported."""

    name: str = "unknown"
    version: str = "unknown"

    def to_json(self) -> dict[str, str]:
        return {"name": self.name[:100], "version": self.version[:100]}


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
        """The ledger target, the shape of every session action's (service.place): the
        host acted on (``local``, or the peer an opening lives on), the session, and the
        user whose server holds it (empty when not known yet)."""
        if opening is not None and opening.host:
            return {"host": opening.host, "session": opening.name,
                    "agent_user": opening.server_user}
        return {"host": self.ctx.host, "session": session[:100],
                "agent_user": opening.server_user if opening is not None else ""}

    def _deny(self, tool: str, session: str, why: str) -> None:
        audit.event(self.ctx, f"mcp.{tool}", self._target(session), "denied",
                    self._details(tool, {"reason": why[:200]}))

    def _find(self, tool: str, session: str) -> Opening:
        """The opening of ``session`` for this AI, or a recorded refusal."""
        try:
            return openings.find(self.ai_user, session)
        except AtollError as exc:
            self._deny(tool, session, str(exc))
            raise

    def _live(self, tool: str, session: str, opening: Opening) -> tuple[Server, PaneInfo]:
        """The server and live pane of a local opening, checked to be the very tmux
        session that was opened, or a recorded refusal."""
        try:
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
        return server, info

    def _server(self, opening: Opening) -> Server:
        from atoll.service.place import Target, resolve_local

        return resolve_local(self.ctx, Target(opening.name, None, opening.server_user)).server

    def _screen(self, opening: Opening, server: Server, lines: int = 0,
                matched: bool | None = None) -> Screen:
        info = server.client.pane_info(opening.name)
        text = server.client.capture(opening.name, lines or None).rstrip("\n")
        return Screen(opening.name, info.width, info.height, info.cursor_x, info.cursor_y,
                      text, matched)

    def _peer(self, opening: Opening, tool: str, args: dict[str, Any],
              details: Mapping[str, object]) -> bytes:
        """Run ``tool`` on the peer holding ``opening`` (recorded here first, with the
        correlation id the peer's record gets too); returns the peer's raw answer."""
        from atoll.fleet.remote import remote_action
        from atoll.ledger import new_correlation_id

        corr = self.ctx.correlation_id or new_correlation_id()
        alias = self.ctx.host_alias(opening.host)
        argv = ["atoll", "mcp", "call", encode_request(tool, {**args, "session": opening.name},
                                                       self.client)]
        with audit.action(self.ctx, f"mcp.{tool}", self._target(opening.label, opening),
                          {**details, "via": alias}, corr):
            res = remote_action(alias, argv, corr, timeout=PEER_TIMEOUT)
        if len(res.stdout) > MAX_PEER_ANSWER:
            raise UsageError(f"{opening.host}: answer larger than {MAX_PEER_ANSWER} bytes")
        return res.stdout

    def _peer_screen(self, opening: Opening, tool: str, args: dict[str, Any],
                     details: Mapping[str, object]) -> Screen:
        data = self._peer(opening, tool, args, details)
        try:
            return decode_peer_screen(data, opening.label)
        except UsageError as exc:
            raise UsageError(f"{opening.host}: {exc}") from None

    # -- tools ---------------------------------------------------------------------------
    def list_sessions(self) -> list[SessionInfo]:
        """The sessions opened to this AI that still exist, with status and screen size;
        another host's are asked of that host (one SSH call per host)."""
        from atoll.service.listing import list_local

        mine = openings.for_user(self.ai_user)
        audit.event(self.ctx, "mcp.list_sessions", {"session": "*"}, "ok",
                    self._details("list_sessions", {"opened": len(mine)}))
        if not mine:
            return []
        local = [o for o in mine if not o.host]
        out: list[SessionInfo] = []
        if local:
            out.extend(self._local_sessions(local, list_local(self.ctx).sessions))
        by_host: dict[str, list[Opening]] = {}
        for o in mine:
            if o.host:
                by_host.setdefault(o.host, []).append(o)
        for host, opened in by_host.items():
            try:
                data = self._peer(opened[0], "list_sessions", {},
                                  self._details("list_sessions"))
                out.extend(decode_peer_sessions(data, host, {o.name for o in opened}))
            except AtollError:
                continue  # an unreachable or failing host lists nothing; the call says so
        return out

    def _local_sessions(self, mine: list[Opening], listed: list[Any]) -> list[SessionInfo]:
        rows = {(r.agent_user, r.name): r for r in listed}
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
        opening = self._find("read_screen", session)
        details = self._details("read_screen", {"lines": lines})
        if opening.host:
            return self._peer_screen(opening, "read_screen", {"lines": lines}, details)
        server, _ = self._live("read_screen", session, opening)
        with audit.action(self.ctx, "mcp.read_screen", self._target(session, opening),
                          details):
            return self._screen(opening, server, lines)

    def type_text(self, session: str, text: str) -> Screen:
        """Type ``text`` literally, sanitised as ``atoll type``, never submitted; returns
        the screen after."""
        if len(text) > MAX_TYPED:
            raise UsageError(f"text is longer than {MAX_TYPED} characters")
        clean = sanitize_typed_text(text)
        if not clean:
            raise UsageError("nothing to type after removing control characters")
        opening = self._find("type_text", session)
        details = self._details("type_text", {
            "text": clean, "sha256": hashlib.sha256(clean.encode()).hexdigest(),
            "removed": len(text) - len(clean)})
        if opening.host:  # the peer sanitises again and probes its pane's locale itself
            return self._peer_screen(opening, "type_text", {"text": clean}, details)
        server, _ = self._live("type_text", session, opening)
        if not clean.isascii():  # the same locale and istrip probe as `atoll type`
            try:
                check_typable(clean,
                              eight_bit_safe=server.client.eight_bit_safe(opening.name))
            except UsageError as exc:
                self._deny("type_text", session, str(exc))
                raise
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
        opening = self._find("send_key", session)
        details = self._details("send_key", {"key": key})
        if opening.host:
            return self._peer_screen(opening, "send_key", {"key": key}, details)
        server, _ = self._live("send_key", session, opening)
        with audit.action(self.ctx, "mcp.send_key", self._target(session, opening), details):
            server.client.send_key(opening.name, key)
        time.sleep(ECHO_S)
        return self._screen(opening, server)

    def wait_for_screen(self, session: str, pattern: str | None, timeout_s: float) -> Screen:
        """Wait until the screen shows ``pattern`` (plain text) or, with no pattern, until
        it changes; at most ``timeout_s`` seconds. ``matched`` says which happened."""
        pattern, timeout_s = validate_wait(pattern, timeout_s)
        opening = self._find("wait_for_screen", session)
        details = self._details("wait_for_screen",
                                {"pattern": pattern, "timeout_s": timeout_s})
        if opening.host:
            return self._peer_screen(opening, "wait_for_screen",
                                     {"pattern": pattern, "timeout_s": timeout_s}, details)
        server, _ = self._live("wait_for_screen", session, opening)
        with audit.action(self.ctx, "mcp.wait_for_screen", self._target(session, opening),
                          details):
            first = server.client.capture(opening.name)
            deadline = time.monotonic() + timeout_s
            while True:
                now = server.client.capture(opening.name)
                hit = screen_matches(now, pattern) if pattern else now != first
                if hit or time.monotonic() >= deadline:
                    return self._screen(opening, server, matched=hit)
                time.sleep(POLL_S)


def encode_request(tool: str, args: dict[str, Any], client: ClientInfo) -> str:
    """One tool call as a single shell-safe word (base64url of its JSON) for the peer's
    ``atoll mcp call``: nothing in it can be read as an option or shell syntax."""
    data = msgspec.json.encode(Request(tool, args, client.to_json()))
    return base64.urlsafe_b64encode(data).decode("ascii")


def decode_request(word: str) -> Request:
    """The inverse of :func:`encode_request`; raises UsageError for anything else (too
    large, not base64url, not a request, an unknown tool)."""
    if len(word) > MAX_REQUEST * 4 // 3 + 4:
        raise UsageError("request too large")
    try:
        data = base64.urlsafe_b64decode(word.encode("ascii"))
        req = msgspec.json.decode(data, type=Request)
    except (ValueError, UnicodeEncodeError, msgspec.DecodeError,
            msgspec.ValidationError) as exc:
        raise UsageError("malformed request") from exc
    if req.tool not in TOOLS:
        raise UsageError(f"no tool {req.tool[:40]!r}")
    return req


def client_of(req: Request) -> ClientInfo:
    """The request's MCP client name and version (capped)."""
    return ClientInfo(**{k: str(v)[:100] for k, v in req.client.items()
                         if k in ("name", "version")})


def run_tool(tools: Tools, tool: str, args: Mapping[str, Any]) -> Any:
    """Call ``tool`` (one of :data:`TOOLS`) of ``tools`` with the JSON arguments ``args``;
    raises UsageError for an unknown tool or arguments of the wrong type."""
    session = str(args.get("session", ""))
    try:
        if tool == "list_sessions":
            return tools.list_sessions()
        if tool == "read_screen":
            return tools.read_screen(session, int(args.get("lines", 0)))
        if tool == "type_text":
            return tools.type_text(session, str(args.get("text", "")))
        if tool == "send_key":
            return tools.send_key(session, str(args.get("key", "")))
        if tool == "wait_for_screen":
            pattern = args.get("pattern")
            return tools.wait_for_screen(session, None if pattern is None else str(pattern),
                                         float(args.get("timeout_s", 10)))
    except (TypeError, ValueError, OverflowError) as exc:
        raise UsageError(f"bad arguments: {exc}"[:300]) from None
    raise UsageError(f"no tool {tool[:40]!r}")


class PeerOpening(msgspec.Struct, frozen=True):
    """What a peer's ``atoll mcp open NAME --json`` answers (checked before it is kept)."""

    name: str
    server_user: str
    session_id: str
    session_created: int
    for_user: str


def _peer_opening(data: bytes, host: str, name: str) -> PeerOpening:
    from atoll.core.names import validate_user_name

    try:
        got = msgspec.json.decode(data[:4096], type=PeerOpening)
        validate_user_name(got.server_user)
        validate_user_name(got.for_user)
    except (msgspec.DecodeError, msgspec.ValidationError, UsageError) as exc:
        raise UsageError(f"{host}: the peer's answer to `mcp open` is out of shape") from exc
    sid = got.session_id
    if (got.name != name or not (sid.startswith("$") and sid[1:].isdigit() and len(sid) <= 12)
            or not 0 <= got.session_created < 1 << 40):
        raise UsageError(f"{host}: the peer's answer to `mcp open` is out of shape")
    return got


def open_session(ctx: Context, name: str, as_user: str | None,
                 for_user: str | None, host: str | None = None) -> Opening:
    """Open session ``name`` (on ``host``; None for this one) to the AI of ``for_user``
    (default: the operator), bound to the tmux session as it is now. Recorded
    (``mcp.open``) before it takes effect. On another host the peer's atoll opens it to
    the operator's account there first (its own record, the same correlation id), and
    this side keeps the opening for ``for_user``."""
    if host is not None:
        return _open_remote(ctx, host, name, as_user, for_user)
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


def _open_remote(ctx: Context, host: str, name: str, as_user: str | None,
                 for_user: str | None) -> Opening:
    from atoll.core.names import validate_host_name, validate_user_name
    from atoll.fleet.remote import remote_action
    from atoll.ledger import new_correlation_id

    validate_host_name(host)
    user = validate_user_name(for_user or ctx.operator)
    corr = ctx.correlation_id or new_correlation_id()
    alias = ctx.host_alias(host)
    argv = ["atoll", "mcp", "open", name, "--json"]
    if as_user is not None:
        argv += ["--as", validate_user_name(as_user)]
    target = {"host": host, "session": name, **({"agent_user": as_user} if as_user else {})}
    with audit.action(ctx, "mcp.open", target, {"for_user": user, "via": alias}, corr):
        got = _peer_opening(remote_action(alias, argv, corr).stdout, host, name)
        opening = msgspec.structs.replace(
            openings.new_opening(ctx, name, got.server_user, got.session_id,
                                 got.session_created, user, host=host),
            peer_for=got.for_user)
        openings.add(ctx, opening)
    return opening


def close_session(ctx: Context, name: str, for_user: str | None,
                  host: str | None = None) -> list[Opening]:
    """Close session ``name`` (on ``host``) to every AI (or to ``for_user``'s only).
    Recorded first. On another host this side forgets it first (so the AI here loses it
    even when the peer cannot be reached), then the peer closes its own opening; raises
    the peer's error after the local close when that fails."""
    corr = ctx.correlation_id
    if host and corr is None:
        from atoll.ledger import new_correlation_id

        corr = new_correlation_id()
    target = {"session": name, **({"host": host} if host else {})}
    with audit.action(ctx, "mcp.close", target, {"for_user": for_user or "*"}, corr):
        gone = openings.remove(ctx, name, for_user, host=host or "")
    if host:
        _close_remote(ctx, host, name, gone, corr)
    return gone


def _close_remote(ctx: Context, host: str, name: str, gone: list[Opening],
                  corr: str | None) -> None:
    from atoll.fleet.remote import remote_action

    still = [o for o in openings.load() if (o.host, o.name) == (host, name)]
    if still:
        return  # another local AI still uses the peer's opening
    peer_for = sorted({o.peer_for for o in gone if o.peer_for})
    alias = ctx.host_alias(host)
    for user in peer_for or [""]:
        argv = ["atoll", "mcp", "close", name, *(["--for", user] if user else [])]
        remote_action(alias, argv, corr)
