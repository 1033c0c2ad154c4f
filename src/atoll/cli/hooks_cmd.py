"""``atoll hooks install|status``: wire the agents' own hooks to ``atoll hook``."""

from __future__ import annotations

import sys

import click
import msgspec

from atoll.core import hookcfg

AGENT_CHOICE = click.Choice(list(hookcfg.HOOKABLE))


@click.group("hooks")
def hooks() -> None:
    """Wire each agent's own hooks to `atoll hook` (docs/hooks.md)."""


def _report(rows: list[object], as_json: bool) -> None:
    from atoll.service.hooks_install import Wiring

    items = [r for r in rows if isinstance(r, Wiring)]
    if as_json:
        sys.stdout.buffer.write(msgspec.json.encode(items) + b"\n")
        return
    for w in items:
        what = f"added {', '.join(w.changed)}" if w.changed else (
            f"missing {', '.join(w.missing)}" if w.missing else "")
        line = f"{w.agent:9} {w.state:8} {w.path}" + (f"  ({what})" if what else "")
        click.echo(line)
        if w.note and (w.changed or w.state == "conflict"):
            click.echo(f"          note: {w.note}")


def _run(install: bool, agents: tuple[str, ...], user: str | None, as_json: bool) -> None:
    from atoll.service import hooks_install

    if user:
        argv = ["install" if install else "status", *(f"--agent={a}" for a in agents)]
        if as_json:
            argv.append("--json")
        code, out, err = hooks_install.run_as(user, argv)
        sys.stdout.write(out)
        sys.stderr.write(err)
        if code:
            raise SystemExit(code)
        return
    _report(list(hooks_install.run(list(agents), install)), as_json)


@hooks.command("install")
@click.option("--agent", "agents", multiple=True, type=AGENT_CHOICE,
              help="Only this agent (repeatable; default: every agent with hooks).")
@click.option("--as", "user", metavar="USER", help="In USER's home, as USER (sudo -n -u).")
@click.option("--json", "as_json", is_flag=True, help="Print what was wired as JSON.")
def install_cmd(agents: tuple[str, ...], user: str | None, as_json: bool) -> None:
    """Add atoll's hooks to each agent's user configuration, keeping the user's own
    hooks; running it again changes nothing."""
    _run(True, agents, user, as_json)


@hooks.command("status")
@click.option("--agent", "agents", multiple=True, type=AGENT_CHOICE,
              help="Only this agent (repeatable).")
@click.option("--as", "user", metavar="USER", help="USER's home, read as USER (sudo -n -u).")
@click.option("--json", "as_json", is_flag=True, help="Print the wiring as JSON.")
def status_cmd(agents: tuple[str, ...], user: str | None, as_json: bool) -> None:
    """Say, per agent, whether its hooks report to atoll: wired, partly, missing, conflict."""
    _run(False, agents, user, as_json)
