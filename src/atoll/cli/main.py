"""The ``atoll`` command line: parse, call a service, render. No subprocess here.

Exit codes (shared/DESIGN.md): 0 ok, 1 error, 2 bad usage or input, 3 not found,
4 permission denied, 5 host unreachable, 130 interrupted. Errors are one line on stderr.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, ClassVar

import click

from atoll import __version__
from atoll.cli.argcheck import check_utf8_args
from atoll.core.errors import AtollError, ExitCode
from atoll.islands import registry as island_kinds
from atoll.service.context import Context

if TYPE_CHECKING:
    from atoll.service.place import Target

# Service modules are imported inside each command: `atoll ls` runs often (and on every
# peer over SSH), and importing only what a command needs keeps its start-up short.

EPILOG = (
    "Exit codes: 0 ok, 1 error, 2 bad usage or input, 3 not found, 4 permission denied, "
    "5 host unreachable, 130 interrupted."
)


def make_context(correlation_id: str | None = None) -> Context:
    """The Context for this invocation (config file, ``ATOLL_TMUX_SOCKET``)."""
    from atoll.service.context import context_from_environment

    return context_from_environment(correlation_id)


def place_target(target: str, as_user: str | None = None, key: str | None = None) -> Target:
    """The service's target for ``[HOST:]NAME`` (``--as``, and the hidden ``--key`` a peer
    receives for a row the fleet view listed)."""
    from atoll.core.sessionref import parse_session_key
    from atoll.service.place import parse_target

    return parse_target(target, as_user, parse_session_key(key) if key is not None else None)


def _fail(message: str, code: int) -> None:
    click.echo(f"atoll: error: {message}", err=True)
    sys.exit(code)


class LazyGroup(click.Group):
    """A click group whose heavier subcommands are imported only when used (the pattern of
    click's documentation, "Lazily Loading Subcommands"): ``atoll ls`` must not pay for the
    ledger's cryptography or Textual."""

    lazy: ClassVar[dict[str, str]] = {
        "admin": "atoll.cli.admin:admin_group",
        "audit": "atoll.cli.audit:audit_group",
        "doctor": "atoll.cli.doctor:doctor_cmd",
        "export": "atoll.cli.grants:export_cmd",
        "grant": "atoll.cli.grants:grant_cmd",
        "grants": "atoll.cli.grants:grants_cmd",
        "intake": "atoll.cli.grants:intake_cmd",
        "revoke": "atoll.cli.grants:revoke_cmd",
        "image": "atoll.cli.image:image_group",
        "mcp": "atoll.cli.mcp:mcp_group",
        "purge": "atoll.cli.purge:purge_cmd",
        "reap": "atoll.cli.admin:reap_cmd",
        "resume": "atoll.cli.resume:resume_cmd",
    }

    short: ClassVar[dict[str, str]] = {
        "admin": "Administer this host's team (root): people, leads, limits, policy.",
        "attach": "Attach this terminal to a session (detach: tmux prefix, then d).",
        "audit": "Show, verify and checkpoint the ledger of actions on this host.",
        "doctor": "Check each host: reachable, atoll and tmux there, agent users.",
        "export": "Copy a path out of an island to the host (hashed, never overwrites).",
        "grant": "Make a host folder visible in an island, live, read-only by default.",
        "grants": "List an island's grants: since when, by whom, how many crossings.",
        "intake": "Copy a host folder into an island (each file hashed in the ledger).",
        "revoke": "Take a grant away at once.",
        "hook": "Report agent state from the agent's own hooks (for agents).",
        "image": "Build the island image for docker and podman.",
        "key": "Press named keys in a session (Esc, arrows, Tab, C-c, ...).",
        "kill": "Kill a session and every process it started.",
        "logs": "Print a session's recent output and its transcript.",
        "ls": "List every session you may see: yours and your agent users'.",
        "new": "Start an agent session, detached, as your agent user.",
        "peek": "Print a session's screen; for an exited one, why it ended.",
        "purge": "Destroy an island: sessions, container, workspace, worktree.",
        "reap": "Stop sessions past the host policy's max_idle/max_age (root).",
        "resume": "Start lost sessions again from their specs (after a reboot).",
        "tui": "The fleet view: every session here and on your hosts, live.",
        "type": "Type text into a session, literally; Enter only with --enter.",
    }
    """One line per command in ``atoll --help``, each short enough to show whole (click
    cuts a docstring's first sentence at the terminal's width, mid-phrase)."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is None or cmd.hidden:
                continue
            rows.append((name, self.short.get(name) or cmd.get_short_help_str(limit=1000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.lazy.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        import importlib

        module, _, attr = target.partition(":")
        cmd = getattr(importlib.import_module(module), attr)
        assert isinstance(cmd, click.Command)
        return cmd


@click.group(cls=LazyGroup, invoke_without_command=True, epilog=EPILOG)
@click.version_option(__version__, prog_name="atoll")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """atoll: fleets of AI coding agents in tmux sessions inside islands.

    With no command: the fleet view on a terminal, `atoll ls` otherwise.
    """
    if ctx.invoked_subcommand is None:
        if sys.stdin.isatty() and sys.stdout.isatty():
            from atoll.tui import create_app

            create_app().run()
        else:
            ctx.invoke(ls_cmd)


target_arg = click.argument("target", metavar="TARGET")
as_opt = click.option("--as", "as_user", metavar="USER",
                      help="Agent user whose session TARGET is (when the name is ambiguous).")
corr_opt = click.option("--correlation-id", hidden=True, default=None)
key_opt = click.option("--key", "key", hidden=True, default=None,
                       help="PID/$N/CREATED: act on exactly this listed session.")


@cli.command("new", epilog=EPILOG)
@click.argument("name")
@click.option("--agent", "-a", default=None,
              help="claude, codex, gemini, opencode, aider or shell (default: shell, or the "
                   "program of -- CMD ARGS).")
@click.option("--dir", "-d", "directory", metavar="DIR",
              help="Working directory (default: the current one); its git top level is "
                   "the project.")
@click.option("--as", "as_user", metavar="USER",
              help="Run as this agent user (through sudo -n). Default: your agent user "
                   "(default_agent_user, /etc/atoll/agent-users.toml, or <you>-agent); "
                   "--as $USER runs as yourself (island none).")
@click.option("--worktree", "-w", metavar="BRANCH",
              help="Create or reuse a git worktree for BRANCH.")
@click.option("--island", type=click.Choice(island_kinds.names(creatable=True)),
              default="user", show_default=True,
              help="; ".join(f"{k.name}: {k.summary}" for k in island_kinds.KINDS
                             if k.creatable) + ".")
@click.option("--cpus", type=float, default=None, help="Island CPU limit in cores.")
@click.option("--memory", metavar="SIZE", default=None, help="Island memory limit (e.g. 2g).")
@click.option("--pids", type=int, default=None, help="Island process limit.")
@click.option("--net", is_flag=True, help="Give the island all network access (none by default).")
@click.option("--allow", "allow", multiple=True, metavar="HOST[:PORT]",
              help="Let the island reach HOST on PORT (default 443) through atoll's egress "
                   "proxy, and nothing else; every connection is in the ledger (repeatable).")
@click.option("--join", "join", metavar="OTHER", default=None,
              help="Start it in the island of session OTHER (same container, bwrap island "
                   "or agent user; its workspace, grants, limits and allow-list).")
@click.option("--grant", "grants", multiple=True, metavar="PATH[:rw]",
              help="Bind a host folder into the island, read-only unless :rw (repeatable).")
@click.option("--record/--no-record", default=False, help="Record the terminal output.")
@click.option("--attach", is_flag=True, help="Attach right after creating it.")
@click.option("--restart", type=click.Choice(["always", "never"]), default="never",
              show_default=True,
              help="always: `atoll resume --all --boot` (run at boot) starts it again.")
@click.option("--host", "-H", metavar="HOST",
              help="Start it on this configured host (or SSH alias) instead of here.")
@corr_opt
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def new_cmd(name: str, agent: str | None, directory: str | None, as_user: str | None,
            worktree: str | None, island: str, cpus: float | None, memory: str | None,
            pids: int | None, net: bool, allow: tuple[str, ...], join: str | None,
            grants: tuple[str, ...], record: bool, attach: bool,
            restart: str, host: str | None, correlation_id: str | None,
            command: tuple[str, ...]) -> None:
    """Start agent session NAME, detached, in tmux, as your agent user (or --as USER).

    \b
    Examples:
      atoll new fix-login --agent codex --dir /home/me-agent/app
      atoll new review --worktree review/123 --agent claude
      atoll new build --as $USER -- make -j2 test
      atoll new fix --island docker --allow api.openai.com --agent codex
      atoll new fix-2 --join fix --agent claude
    """
    from atoll.core.islands import parse_size
    from atoll.core.names import validate_session_name
    from atoll.service import sessions

    validate_session_name(name)  # the name first, before any other check or host
    ctx = make_context(correlation_id)
    req = sessions.NewSession(name=name, agent=agent, directory=directory, as_user=as_user,
                              worktree=worktree, command=list(command), island=island,
                              record=record, cpus=cpus,
                              memory=parse_size(memory) if memory else None, pids=pids,
                              net=net, grants=list(grants), allow=list(allow), join=join,
                              host=host, restart=restart)
    started = sessions.new_session(ctx, req, warn=lambda line: click.echo(line, err=True))
    if started.host is not None:
        click.echo(f"atoll: started {name} on {started.host}", err=True)
    else:
        click.echo(f"atoll: started {name} as {started.as_user}", err=True)
    if attach:
        status = sessions.attach(ctx, started, read_only=False,
                                 inside_tmux=os.environ.get("TMUX"))
        if status:
            sys.exit(1)


@cli.command("ls", epilog=EPILOG)
@click.option("--json", "as_json", is_flag=True, help="Print the listing as one JSON object.")
@click.option("--here", is_flag=True, help="Only this host (what peers ask over SSH).")
@click.option("--all-hosts", "-A", is_flag=True, help="This host and every configured host.")
@click.option("--host", "-H", "hosts", multiple=True, metavar="HOST",
              help="Only these configured hosts (repeatable; 'local' is this one).")
@click.option("--status", "-s", "statuses", multiple=True,
              type=click.Choice(["running", "waiting", "error", "idle", "exited", "lost",
                                 "unknown"]),
              help="Only sessions in this status (repeatable).")
@click.option("--user", "-u", "users", multiple=True, metavar="USER",
              help="Only sessions run as, or started by, USER (repeatable).")
@click.option("--watch", "-w", is_flag=True,
              help="List again every --interval seconds until Ctrl-C; with --json, one "
                   "JSON object per change (docs/watch.md).")
@click.option("--interval", type=float, default=2.0, show_default=True, metavar="SECONDS",
              help="Seconds between listings with --watch (0.5 to 3600).")
@click.option("--all", "-a", "show_ended", is_flag=True,
              help="Also sessions ended by `atoll kill` whose specs are kept.")
def ls_cmd(as_json: bool = False, here: bool = False, all_hosts: bool = False,
           hosts: tuple[str, ...] = (), statuses: tuple[str, ...] = (),
           users: tuple[str, ...] = (), watch: bool = False, interval: float = 2.0,
           show_ended: bool = False) -> None:
    """List every session you may see: yours and your agent users'.

    Columns: HOST NAME AGENT PROJECT USER BY STATUS IDLE CPU MEM AGE. CPU is percent of
    one core since the previous listing (or over 0.5 s on the first one). Other hosts are
    asked in parallel over SSH (`atoll ls --json --here` there); an unreachable one is
    reported, and its last good answer shown marked stale.

    BY, AGENT and PROJECT come from each session's spec, kept where the agent user cannot
    write it; a session whose tmux options claim otherwise is flagged. A session whose
    tmux server died is listed as `lost` (`atoll resume NAME` starts it again, `atoll
    kill NAME` forgets it).
    """
    from atoll.core.errors import UsageError
    from atoll.core.models import Listing, encode_listing
    from atoll.service import listing as listing_service

    if sum((here, all_hosts, bool(hosts))) > 1:
        raise UsageError("use only one of --here, --all-hosts and --host")
    ctx = make_context()

    def get() -> Listing:
        if all_hosts:
            got = listing_service.list_fleet(ctx, include_ended=show_ended)
        elif hosts:
            got = listing_service.list_fleet(ctx, list(hosts), include_ended=show_ended)
        else:
            got = listing_service.list_local(ctx, include_ended=show_ended)
        if statuses or users:
            from atoll.core.models import filter_sessions

            got = filter_sessions(got, statuses, users)
        return got

    if watch:
        from atoll.cli.watch import watch as run_watch

        run_watch(get, as_json=as_json, interval=interval)
        return
    listing = get()
    if as_json:
        sys.stdout.buffer.write(encode_listing(listing) + b"\n")
        return
    from atoll.cli.render import host_problems, row_reasons, table

    for line in host_problems(listing) + row_reasons(listing):
        click.echo(line, err=True)
    if not (all_hosts or hosts):  # resource caps of this host's agent users (issue 17)
        from atoll.service.limits import caps_of, describe

        agents = sorted({r.agent_user for r in listing.sessions} - {ctx.operator})
        for user, state in caps_of(agents).items():
            click.echo(f"atoll: caps: {describe(user, state)}", err=True)
    click.echo(table(listing, color=sys.stdout.isatty()))


@cli.command("tui", epilog=EPILOG)
@click.option("--read-only", is_flag=True,
              help="Hide and refuse every action that changes something.")
def tui_cmd(read_only: bool) -> None:
    """The fleet view: every session on this host and the configured hosts, live.

    Keys: Enter attach, w next waiting, r watch (read-only attach), p preview, t type, n new,
    ctrl-d kill, / filter, s sort, g group, R refresh, ? help, q quit.
    """
    from atoll.tui import create_app

    create_app(read_only=read_only).run()


@cli.command("attach", epilog=EPILOG)
@target_arg
@click.option("--read-only", "-r", is_flag=True, help="Watch without typing (tmux attach -r).")
@as_opt
@corr_opt
@key_opt
def attach_cmd(target: str, read_only: bool, as_user: str | None,
               correlation_id: str | None, key: str | None) -> None:
    """Attach this terminal to session TARGET (detach with the tmux prefix, then d).

    TARGET is NAME, or HOST:NAME for a session on a configured host (through ssh -t).
    When the SSH connection to HOST drops (network down, sshd restarted, laptop asleep),
    atoll says so in one line and connects again, waiting 1, 2, 4 ... up to 30 s between
    tries, until you detach or press Ctrl-C; the session on HOST is unaffected.
    """
    from atoll.service import sessions

    ctx = make_context(correlation_id)
    status = sessions.attach(ctx, place_target(target, as_user, key), read_only=read_only,
                             inside_tmux=os.environ.get("TMUX"))
    if status:
        sys.exit(1)


@cli.command("kill", epilog=EPILOG)
@target_arg
@as_opt
@corr_opt
@key_opt
def kill_cmd(target: str, as_user: str | None, correlation_id: str | None,
             key: str | None) -> None:
    """Kill session TARGET (its tmux session and every process in it)."""
    from atoll.service import sessions
    from atoll.service.place import LocalPlace

    place = sessions.kill_session(make_context(correlation_id), place_target(target, as_user,
                                                                             key))
    if not isinstance(place, LocalPlace):
        click.echo(f"atoll: killed {target}", err=True)
        return
    click.echo(f"atoll: killed {target} ({place.owner})", err=True)
    from atoll.islands.worktrees import remembered

    worktree = remembered(place.owner, place.name)
    if worktree:
        click.echo(f"atoll: its worktree {worktree} stays; `atoll purge {place.name}` removes "
                   "it when it holds no uncommitted or unpushed work", err=True)


@cli.command("peek", epilog=EPILOG)
@target_arg
@click.option("--lines", "-n", type=int, default=None,
              help="Also print up to N lines of scrollback.")
@as_opt
@corr_opt
@key_opt
def peek_cmd(target: str, lines: int | None, as_user: str | None,
             correlation_id: str | None, key: str | None) -> None:
    """Print the screen text of session TARGET."""
    from atoll.service import sessions

    text = sessions.peek(make_context(correlation_id), place_target(target, as_user, key),
                         lines)
    from atoll.core.text import plain_screen_text

    click.echo(plain_screen_text(text).rstrip("\n"))


@cli.command("logs", epilog=EPILOG)
@target_arg
@click.option("--lines", "-n", type=int, default=2000, show_default=True,
              help="Lines of scrollback, and of the transcript.")
@as_opt
@corr_opt
@key_opt
def logs_cmd(target: str, lines: int, as_user: str | None, correlation_id: str | None,
             key: str | None) -> None:
    """Print session TARGET's recent output (scrollback) and, if recorded, its transcript.

    An exited session also says why it ended; a killed session that was recorded
    (--record) still shows its transcript. Escape sequences are removed.
    """
    from atoll.service import logs

    click.echo(logs.logs(make_context(correlation_id), place_target(target, as_user, key),
                         lines))


@cli.command("type", epilog=EPILOG)
@target_arg
@click.argument("text")
@click.option("--enter", is_flag=True, help="Press Enter after the text (never by default).")
@as_opt
@corr_opt
@key_opt
def type_cmd(target: str, text: str, enter: bool, as_user: str | None,
             correlation_id: str | None, key: str | None) -> None:
    """Type TEXT into session TARGET, literally.

    Control characters (Enter, Ctrl-C, ESC, DEL and all other C0/C1 codes) are removed
    first, so typed text can never submit, interrupt or end a bracketed paste; Enter is
    pressed only with --enter.
    """
    from atoll.service import sessions

    typed = sessions.type_text(make_context(correlation_id), place_target(target, as_user, key),
                               text, enter=enter)
    removed = len(text) - len(typed)
    if removed:
        click.echo(f"atoll: removed {removed} control character(s) before typing", err=True)


@cli.command("key", epilog=EPILOG)
@target_arg
@click.argument("keys", nargs=-1, required=True, metavar="KEY...")
@click.option("--enter", is_flag=True, help="Allow Enter and its aliases (C-m, C-j, KPEnter).")
@as_opt
@corr_opt
@key_opt
def key_cmd(target: str, keys: tuple[str, ...], enter: bool, as_user: str | None,
            correlation_id: str | None, key: str | None) -> None:
    """Press named KEYs in session TARGET, in order (for a human at the CLI).

    Keys: Esc, Up, Down, Left, Right, Tab, BTab, Space, BSpace, Delete, Insert, Home, End,
    PageUp, PageDown, F1-F12, C-a ... C-z (also Ctrl-X, ^X). Enter, Return, KPEnter, C-m
    and C-j submit a line and are refused unless --enter.
    """
    from atoll.service import keys as keys_service

    keys_service.press(make_context(correlation_id), place_target(target, as_user, key),
                       list(keys), enter=enter)


@cli.command("hook", context_settings={"ignore_unknown_options": True})
@click.argument("event")
@click.argument("ignored", nargs=-1, type=click.UNPROCESSED)
def hook_cmd(event: str, ignored: tuple[str, ...]) -> None:
    """Report agent state from the agent's own hooks (waiting, running, idle, clear).

    Always exits 0, so that a problem here never blocks the agent (Claude Code treats exit
    status 2 from a hook as "block"); problems are printed on stderr.
    """
    from atoll.service import hook as hook_service

    try:
        payload = hook_service.read_payload(sys.stdin.fileno(), ignored)
        hook_service.report(event, os.environ.get("TMUX"), os.environ.get("TMUX_PANE"),
                            payload)
    except AtollError as exc:
        click.echo(f"atoll: warning: {exc}", err=True)


from atoll.cli.hooks_cmd import hooks as _hooks_group  # noqa: E402

cli.add_command(_hooks_group)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one-line errors and documented exit codes, never a traceback."""
    try:
        check_utf8_args(sys.argv[1:] if argv is None else argv)
        rv = cli.main(args=argv, prog_name="atoll", standalone_mode=False)
        sys.exit(rv if isinstance(rv, int) else 0)
    except AtollError as exc:
        _fail(str(exc), int(exc.exit_code))
    except click.exceptions.NoSuchOption as exc:
        _fail(f"{exc.format_message()} (see atoll --help)", ExitCode.USAGE)
    except click.ClickException as exc:
        _fail(f"{exc.format_message()} (see atoll --help)", ExitCode.USAGE)
    except click.exceptions.Abort:
        _fail("interrupted", ExitCode.INTERRUPTED)
    except KeyboardInterrupt:
        _fail("interrupted", ExitCode.INTERRUPTED)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:
        # A bug must still end in one line and a documented code (the CLI contract), not a
        # traceback that a peer's `atoll ls` would pass on; ATOLL_DEBUG=1 shows it.
        if os.environ.get("ATOLL_DEBUG") == "1":
            raise
        detail = " ".join(str(exc).split())[:200]
        _fail(f"internal error ({type(exc).__name__}: {detail}); ATOLL_DEBUG=1 shows where",
              ExitCode.ERROR)
