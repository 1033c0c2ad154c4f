"""``atoll mcp``: a stdio MCP server (the official ``mcp`` SDK) for operator mode.

Five tools and nothing more: ``list_sessions``, ``read_screen``, ``type_text``,
``send_key``, ``wait_for_screen``. None of them can submit a line (see
:mod:`atoll.core.operator`): the human presses Enter. The tools see only the sessions a
human opened to this user's AI (``atoll mcp open NAME [--for USER]``).

Run by the operator, the tools act in this process on the operator's own openings. Run
by an agent user (the recommended setup), they reach the sessions opened to it through
each operator's bridge (:mod:`atoll.service.bridge`); nothing to configure.
"""

from __future__ import annotations

import os
import pwd
from typing import Any

import anyio
import msgspec
from mcp.server.mcpserver import Context as ToolContext
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from atoll import __version__
from atoll.core.errors import AtollError, ExitCode
from atoll.core.operator import MAX_SCROLLBACK, MAX_WAIT_S, MCP_KEYS

INSTRUCTIONS = (
    "These tools let you PREPARE commands in a human's terminal (tmux sessions the human "
    "opened to you). You can read the screen, type text and press editing keys. You CANNOT "
    "submit anything: there is no Enter, no Ctrl-C, no Escape, and control characters in "
    "typed text are removed. The human reads what you typed and presses Enter themselves. "
    "Explain a command with a '# comment' typed after it when useful. Name a session "
    "exactly as list_sessions shows it (HOST:NAME for one on another host)."
)

NO_SUBMIT = " It never presses Enter: the human decides whether to run what you typed."


def _client(ctx: ToolContext[Any, Any] | None) -> dict[str, str]:
    try:
        params = ctx.session.client_params if ctx is not None else None
    except (AttributeError, ValueError, LookupError):
        params = None
    info = getattr(params, "client_info", None)
    if info is None:
        return {"name": "unknown", "version": "unknown"}
    return {"name": str(info.name)[:100], "version": str(info.version)[:100]}


class Router:
    """Sends each tool call to where this user's sessions are opened: this process (our
    own openings) and every operator's bridge opened to us."""

    def __init__(self) -> None:
        self.uid = os.getuid()
        self.user = pwd.getpwuid(self.uid).pw_name

    def _local(self, client: dict[str, str]) -> Any:
        from atoll.service.context import context_from_environment
        from atoll.service.operator import ClientInfo, Tools

        return Tools(context_from_environment(), self.user, ClientInfo(**client))

    def _has_local(self) -> bool:
        from atoll.service import openings

        try:
            return bool(openings.for_user(self.user))
        except AtollError:
            return False

    def call(self, tool: str, args: dict[str, Any], client: dict[str, str]) -> Any:
        """Run ``tool``; raises AtollError (the first refusal that is not "not found")."""
        from atoll.service import bridge

        results: list[Any] = []
        last: AtollError | None = None
        if self._has_local():
            try:
                got = msgspec.to_builtins(getattr(self._local(client), tool)(**args))
                if tool != "list_sessions":
                    return got
                results.extend(got)
            except AtollError as exc:
                if exc.exit_code != ExitCode.NOT_FOUND:
                    raise
                last = exc
        for path, owner in bridge.discover(self.uid):
            try:
                got = bridge.call(path, tool, args, client, owner)
            except AtollError as exc:
                if exc.exit_code != ExitCode.NOT_FOUND and tool != "list_sessions":
                    raise
                last = exc
                continue
            if tool != "list_sessions":
                return got
            results.extend(got)
        if tool == "list_sessions":
            return results
        raise last or AtollError(f"no session {args.get('session', '')!r} is open to this AI")


def build_server(router: Router | None = None) -> MCPServer[Any]:
    """The MCP server with its five tools (one factory for the CLI and the tests)."""
    router = router or Router()
    app: MCPServer[Any] = MCPServer(name="atoll", version=__version__,
                                    instructions=INSTRUCTIONS, log_level="WARNING")

    async def run(tool: str, args: dict[str, Any], ctx: ToolContext[Any, Any] | None) -> Any:
        client = _client(ctx)
        try:
            return await anyio.to_thread.run_sync(router.call, tool, args, client)
        except AtollError as exc:
            raise ToolError(str(exc)) from None

    @app.tool(description="List the terminal sessions a human opened to you: name, host, "
              "status and screen size. Sessions not opened to you are invisible.")
    async def list_sessions(ctx: ToolContext[Any, Any]) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await run("list_sessions", {}, ctx)
        return result

    @app.tool(description="Read a session's screen as plain text, plus `lines` lines of "
              f"scrollback above it (0 to {MAX_SCROLLBACK}); also the size and the cursor.")
    async def read_screen(session: str, ctx: ToolContext[Any, Any],
                          lines: int = 0) -> dict[str, Any]:
        result: dict[str, Any] = await run("read_screen",
                                           {"session": session, "lines": lines}, ctx)
        return result

    @app.tool(description="Type `text` literally into a session at the cursor, as if the "
              "human typed it; control characters (newlines, tabs, escapes) are removed and "
              "in a terminal that is not UTF-8 only plain ASCII is accepted. Returns the "
              "screen after." + NO_SUBMIT)
    async def type_text(session: str, text: str, ctx: ToolContext[Any, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await run("type_text", {"session": session, "text": text}, ctx)
        return result

    @app.tool(description="Press one editing or movement key in a session: "
              f"{', '.join(MCP_KEYS)} (tmux key names; C-u and C-w erase). Every other key "
              "is refused, Enter, Escape and Ctrl-C among them. Returns the screen after."
              + NO_SUBMIT)
    async def send_key(session: str, key: str, ctx: ToolContext[Any, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await run("send_key", {"session": session, "key": key}, ctx)
        return result

    @app.tool(description="Wait until the session's screen shows `pattern` (plain text, "
              "not a regular expression) or, with no pattern, until it changes at all; at "
              f"most `timeout_s` seconds (up to {MAX_WAIT_S:g}). Use it after the human "
              "presses Enter, to see the result. `matched` says whether it happened.")
    async def wait_for_screen(session: str, ctx: ToolContext[Any, Any],
                              pattern: str | None = None,
                              timeout_s: float = 10.0) -> dict[str, Any]:
        result: dict[str, Any] = await run(
            "wait_for_screen", {"session": session, "pattern": pattern,
                                "timeout_s": timeout_s}, ctx)
        return result

    return app


def serve_stdio() -> None:
    """Run the MCP server on stdin/stdout until the client goes away."""
    build_server().run("stdio")
