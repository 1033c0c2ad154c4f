"""``atoll admin`` (root): people, agent users, leads, limits, policy and the host ledger;
and ``atoll reap``. Thin: plans and changes live in :mod:`atoll.service.admin`.

Output: each change made (or, with ``--dry-run``, that would be made) is one line on stdout;
nothing when the host already matches (then ``atoll: no changes`` on stderr). ``--json``
prints ``{"changes": [{"kind", "subject", "summary"}], "dry_run": BOOL}`` instead, which
is what the Ansible role reads to report "changed".
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import click
import msgspec

from atoll.cli.main import EPILOG
from atoll.service.admin import Change

dry_opt = click.option("--dry-run", "-n", is_flag=True,
                       help="Print what would change; change nothing.")
json_opt = click.option("--json", "as_json", is_flag=True,
                        help="Print the changes as one JSON object.")


def _apply(plan: Callable[[], list[Change]], dry_run: bool, as_json: bool) -> None:
    from atoll.service import admin

    admin.require_root()
    changes = plan()
    done: list[Change] = []

    def report(change: Change) -> None:
        done.append(change)
        if not as_json:
            click.echo(f"{'would: ' if dry_run else ''}{change.summary}")

    admin.apply(changes, dry_run=dry_run, report=report)
    if as_json:
        body = {"changes": [c.to_json() for c in done], "dry_run": dry_run}
        sys.stdout.buffer.write(msgspec.json.encode(body) + b"\n")
    elif not done:
        click.echo("atoll: no changes", err=True)


@click.group("admin", epilog=EPILOG)
def admin_group() -> None:
    """Administer this host's team (root): people and their agent users, leads, resource
    limits, the host policy and the host ledger.

    Every command is idempotent, validates sudoers with visudo before installing it, writes
    each change to the host ledger, and with --dry-run only prints what it would change.

    \b
    Examples:
      atoll admin init
      atoll admin add-person wes
      atoll admin lead marcus --over wes-agent --over nadia-agent
      atoll admin limits wes-agent --cpus 2 --memory 4g --pids 512
      atoll admin check
    """


@admin_group.command("add-person", epilog=EPILOG,
                     short_help="A person, their agent user, and the rule between them.")
@click.argument("person")
@click.option("--agent-user", metavar="NAME", help="The agent user (default: PERSON-agent).")
@dry_opt
@json_opt
def add_person_cmd(person: str, agent_user: str | None, dry_run: bool, as_json: bool) -> None:
    """Make PERSON a user (if missing) with a private home, their agent user (private home,
    group atoll-agents), and the sudoers rule letting PERSON act as it."""
    from atoll.service import admin

    _apply(lambda: admin.ledger_base() + admin.plan_person(person, agent_user), dry_run,
           as_json)


@admin_group.command("lead", epilog=EPILOG,
                     short_help="Let a lead act as (and see) agent users here.")
@click.argument("lead")
@click.option("--over", "over", multiple=True, required=True, metavar="AGENT_USER",
              help="An agent user LEAD may see and act as (repeatable).")
@dry_opt
@json_opt
def lead_cmd(lead: str, over: tuple[str, ...], dry_run: bool, as_json: bool) -> None:
    """Let LEAD see and act as the agent users named with --over (on this host only)."""
    from atoll.service import admin

    _apply(lambda: admin.ledger_base() + admin.plan_lead(lead, list(over)), dry_run, as_json)


@admin_group.command("unlead", epilog=EPILOG,
                     short_help="Take agent users from a lead here.")
@click.argument("lead")
@click.option("--over", "over", multiple=True, required=True, metavar="AGENT_USER",
              help="An agent user LEAD loses (repeatable).")
@dry_opt
@json_opt
def unlead_cmd(lead: str, over: tuple[str, ...], dry_run: bool, as_json: bool) -> None:
    """Take from LEAD the agent users named with --over (its rule file goes with the last)."""
    from atoll.service import admin

    _apply(lambda: admin.ledger_base() + admin.plan_lead(lead, list(over), remove=True),
           dry_run, as_json)


@admin_group.command("limits", epilog=EPILOG,
                     short_help="Kernel caps (cgroups) on an agent user's sessions.")
@click.argument("agent_user", required=False)
@click.option("--cpus", type=float, default=None, help="CPU cap in cores (e.g. 1.5).")
@click.option("--memory", metavar="SIZE", default=None, help="Memory cap (e.g. 4g).")
@click.option("--pids", type=int, default=None, help="Cap on processes and threads.")
@click.option("--clear", is_flag=True, help="Remove AGENT_USER's limits.")
@click.option("--restore", is_flag=True,
              help="Make every configured agent user's cgroups again (after a reboot).")
@dry_opt
@json_opt
def limits_cmd(agent_user: str | None, cpus: float | None, memory: str | None,
               pids: int | None, clear: bool, restore: bool, dry_run: bool,
               as_json: bool) -> None:
    """Cap the sum of all of AGENT_USER's sessions, enforced by the kernel (cgroups).

    Supported on the cgroup v1/hybrid layout; refused with a clear message on a pure cgroup
    v2 host. New sessions' tmux servers join the agent's cgroups; its running processes are
    moved in when the limit is set.
    """
    from atoll.core.errors import UsageError
    from atoll.core.islands import parse_size
    from atoll.service import admin, limits

    if restore:
        if agent_user or cpus is not None or memory or pids is not None or clear:
            raise UsageError("--restore takes no agent user or values")
        _apply(limits.plan_restore, dry_run, as_json)
        return
    if not agent_user:
        raise UsageError("name the agent user (or give --restore)")
    size = parse_size(memory) if memory else None
    _apply(lambda: admin.ledger_base() + limits.plan_limits(agent_user, cpus, size, pids,
                                                            clear=clear), dry_run, as_json)


@admin_group.command("policy", epilog=EPILOG,
                     short_help="Install /etc/atoll/policy.toml after checking it.")
@click.argument("source", metavar="FILE|-")
@dry_opt
@json_opt
def policy_cmd(source: str, dry_run: bool, as_json: bool) -> None:
    """Install FILE (or stdin with -) as /etc/atoll/policy.toml after checking it; an empty
    input removes the policy (no restrictions)."""
    from atoll.service import admin

    data = (sys.stdin.buffer.read((1 << 16) + 1) if source == "-"
            else open(source, "rb").read((1 << 16) + 1))  # noqa: SIM115 - read once
    if len(data) > 1 << 16:
        from atoll.core.errors import UsageError

        raise UsageError("policy larger than 64 KiB")
    _apply(lambda: admin.ledger_base() + admin.plan_policy(data if data.strip() else None),
           dry_run, as_json)


@admin_group.command("init", epilog=EPILOG,
                     short_help="The host ledger and the reap schedule.")
@dry_opt
@json_opt
def init_cmd(dry_run: bool, as_json: bool) -> None:
    """Create the host ledger (owned by system user atoll-ledger, readable by group
    atoll-ops, appendable through one sudoers-allowed command) and schedule `atoll reap`.

    Refused (exit 4) when the code of the append command is not root's alone."""
    from atoll.service import admininit

    _apply(admininit.plan_init, dry_run, as_json)


@admin_group.command("show", epilog=EPILOG,
                     short_help="This host's people, leads and limits.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def show_cmd(as_json: bool) -> None:
    """Print this host's people, leads and limits as atoll admin manages them."""
    from atoll.service import admin

    admin.require_root()
    team = admin.team()
    if as_json:
        sys.stdout.buffer.write(msgspec.json.encode(team) + b"\n")
        return
    people = team["people"]
    leads = team["leads"]
    caps = team["limits"]
    assert isinstance(people, dict) and isinstance(leads, dict) and isinstance(caps, dict)
    for person, agent in sorted(people.items()):
        click.echo(f"person {person}: agent user {agent}")
    for lead, over in sorted(leads.items()):
        click.echo(f"lead {lead}: over {', '.join(over) or '-'}")
    for user, values in sorted(caps.items()):
        click.echo(f"limits {user}: " + ", ".join(f"{k} {v}" for k, v in values.items()))


@admin_group.command("check", epilog=EPILOG,
                     short_help="Every problem of the team setup, with its fix.")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"problems": [{"subject", "problem", "fix"}]}.')
@click.pass_context
def check_cmd(ctx: click.Context, as_json: bool) -> None:
    """List every problem of this host's team setup, each with its fix. Exit 1 if any."""
    from atoll.service import admin, admincheck

    admin.require_root()
    found = admincheck.problems()
    if as_json:
        sys.stdout.buffer.write(msgspec.json.encode({"problems": found}) + b"\n")
    else:
        for p in found:
            click.echo(f"{p['subject']}: {p['problem']}\n  fix: {p['fix']}")
        if not found:
            click.echo("atoll: no problems found", err=True)
    if found:
        ctx.exit(1)


@click.command("reap", epilog=EPILOG)
@dry_opt
@click.option("--json", "as_json", is_flag=True, help="Print the stopped sessions as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing (for cron).")
def reap_cmd(dry_run: bool, as_json: bool, quiet: bool) -> None:
    """Stop every session past the host policy's max_idle or max_age (root; run by cron or
    the systemd timer `atoll admin init` installs). Stopped sessions stay listed as exited;
    their worktrees stay."""
    from atoll.cli.main import make_context
    from atoll.service.policy import read_policy
    from atoll.service.reap import reap

    found = reap(make_context(), read_policy(), dry_run=dry_run)
    if as_json:
        body = {"reaped": [r.to_json() for r in found], "dry_run": dry_run}
        sys.stdout.buffer.write(msgspec.json.encode(body) + b"\n")
    elif not quiet:
        for r in found:
            click.echo(f"{'would stop' if dry_run else 'stopped'} {r.user}:{r.session} "
                       f"({r.rule})")
