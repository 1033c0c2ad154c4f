"""``atoll mcp``: operator mode. The MCP server itself, and what a human opens to it."""

from __future__ import annotations

import os
import time

import click

from atoll.cli.main import EPILOG, corr_opt, make_context, place_target
from atoll.core.errors import UsageError


@click.group("mcp", invoke_without_command=True, epilog=EPILOG)
@click.pass_context
def mcp_group(ctx: click.Context) -> None:
    """Let an AI prepare commands in your terminal; only you press Enter.

    With no subcommand: a stdio MCP server (for `claude mcp add atoll -- atoll mcp` or a
    Codex `[mcp_servers]` entry) whose tools see only the sessions opened to the user it
    runs as. `atoll mcp open NAME --for AGENT_USER` opens one to an AI running as that agent
    user (the recommended setup); without --for, to an AI running as you.
    """
    if ctx.invoked_subcommand is None:
        from atoll.mcp.server import serve_stdio

        serve_stdio()


@mcp_group.command("open", epilog=EPILOG)
@click.argument("target", metavar="[HOST:]NAME")
@click.option("--for", "for_user", metavar="USER", default=None,
              help="The Linux user whose AI may use the session (default: you).")
@click.option("--as", "as_user", metavar="USER",
              help="Agent user whose session NAME is (when the name is ambiguous).")
@click.option("--json", "as_json", is_flag=True, help="Print the opening as JSON.")
@corr_opt
def open_cmd(target: str, for_user: str | None, as_user: str | None, as_json: bool,
             correlation_id: str | None) -> None:
    """Open session NAME to an AI: it may read the screen, type and edit, never submit.

    The opening is bound to this very tmux session: if it is killed and made again under
    the same name, it is closed. Every process of USER can use what is opened to USER.
    HOST:NAME opens a session on another host: that host's atoll opens it to your account
    there, and every tool call goes through it over SSH (its sudoers and ledger decide).
    """
    from atoll.service import bridge
    from atoll.service.operator import open_session

    ctx = make_context(correlation_id)
    where = place_target(target)
    host, name = where.host, where.name
    opening = open_session(ctx, name, as_user, for_user, host)
    if opening.for_user != ctx.operator:
        import pwd

        uid = pwd.getpwnam(opening.for_user).pw_uid
        bridge.ensure_running()
        path = bridge.socket_path(uid)
        deadline = time.monotonic() + 5
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not os.path.exists(path):
            raise UsageError("the bridge did not start; see "
                             f"{os.path.join(bridge.bridge_dir(), 'bridge.log')}")
    if as_json:
        import msgspec

        click.echo(msgspec.json.encode(opening).decode())
    click.echo(f"atoll: {opening.label} is open to the AI of {opening.for_user}; "
               "it can type but never submit", err=True)


@mcp_group.command("close", epilog=EPILOG)
@click.argument("target", metavar="[HOST:]NAME")
@click.option("--for", "for_user", metavar="USER", default=None,
              help="Close it to this user's AI only (default: to every AI).")
@corr_opt
def close_cmd(target: str, for_user: str | None, correlation_id: str | None) -> None:
    """Close session NAME to AIs: their tools no longer see it."""
    from atoll.service.operator import close_session

    where = place_target(target)
    host, name = where.host, where.name
    gone = close_session(make_context(correlation_id), name, for_user, host)
    users = ", ".join(sorted({o.for_user for o in gone}))
    click.echo(f"atoll: {target} is closed to the AI of {users}", err=True)


@mcp_group.command("call", hidden=True)
@click.argument("request")
@corr_opt
def call_cmd(request: str, correlation_id: str | None) -> None:
    """Run one tool for your own AI (what another host's atoll sends over SSH): REQUEST
    is one base64url JSON word; the answer is one JSON line. Only sessions opened here to
    you (`atoll mcp open NAME`) exist for it."""
    import msgspec

    from atoll.service.operator import Tools, client_of, decode_request, run_tool

    req = decode_request(request)
    ctx = make_context(correlation_id)
    result = run_tool(Tools(ctx, ctx.operator, client_of(req)), req.tool, req.args)
    click.echo(msgspec.json.encode(result).decode())


@mcp_group.command("ls", epilog=EPILOG)
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def ls_cmd(as_json: bool) -> None:
    """The sessions you have opened to AIs, and to whom."""
    import msgspec

    from atoll.service import openings

    every = openings.load()
    if as_json:
        click.echo(msgspec.json.encode({"openings": every}).decode())
        return
    if not every:
        click.echo("no session is open to an AI (atoll mcp open NAME --for USER)", err=True)
        return
    click.echo(f"{'NAME':<24} {'FOR':<16} {'SERVER':<16} SESSION")
    for o in every:
        click.echo(f"{o.label:<24} {o.for_user:<16} {o.server_user:<16} {o.session_id}")
