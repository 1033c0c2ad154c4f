"""``atoll purge TARGET``: destroy an island (registered by cli/main.py as ``purge``).

Refuses when the island holds uncommitted, stashed or unpushed git work unless ``--force``;
on a terminal it asks the operator to type the island's name first (``--yes`` skips that).
The ledger event (``island.purge``) is written before anything acts, the git check (which
may start a stopped container) included; a refusal is its ``error`` record.
Exit codes: 0 purged, 1 refused or failed, 2 bad usage or ambiguous, 3 not found.
"""

from __future__ import annotations

import sys

import click

from atoll.core.errors import AtollError, NotFoundError, UsageError
from atoll.core.names import parse_target, validate_user_name

EPILOG = (
    "Exit codes: 0 ok, 1 error (refused: git work, or something was left), 2 bad usage or "
    "ambiguous, 3 not found, 4 permission denied, 130 interrupted."
)


class PurgeCancelledError(AtollError):
    """The operator did not confirm by typing the name."""


@click.command("purge", epilog=EPILOG)
@click.argument("target", metavar="TARGET")
@click.option("--force", is_flag=True,
              help="Purge even when the workspace holds uncommitted or unpushed git work.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask to type the name on a terminal.")
@click.option("--as", "as_user", metavar="USER", help="Only look at this agent user's islands.")
@click.option("--kind", type=click.Choice(["user", "bwrap", "docker", "podman"]), default=None,
              help="Only islands of this kind (when the name is ambiguous).")
def purge_cmd(target: str, force: bool, yes: bool, as_user: str | None,
              kind: str | None) -> None:
    """Destroy island TARGET: its sessions, container, volume, workspace and worktree.

    Afterwards nothing of the island remains. Granted host directories and a user island's
    project directory are never deleted.
    """
    from atoll.cli.main import make_context
    from atoll.fleet.users import visible_agent_users
    from atoll.islands.purge import find_islands, purge
    from atoll.service import audit

    host, name = parse_target(target)
    if host not in (None, "local"):
        raise UsageError(f"purge runs on the island's host: ssh {host} atoll purge {name}")
    ctx = make_context()  # config included: its ledger_path and agent users
    if as_user is not None:
        users = [validate_user_name(as_user)]
    else:
        users = visible_agent_users(ctx.candidates())
    found = find_islands(name, operator=ctx.operator, agent_users=users, socket=ctx.socket)
    if not found:  # a --worktree session that was killed: its worktree is still there
        from atoll.islands.worktrees import recorded

        found = recorded(name, users, ctx.operator)
    if kind is not None:
        found = [f for f in found if f.kind == kind]
    if not found:  # an ended (or lost) session whose island is gone: only its spec is left
        from atoll.service.resume import purge_specs

        if purge_specs(ctx, name, [as_user] if as_user else None):
            click.echo(f"atoll: purged the spec of {name}", err=True)
            return
        raise NotFoundError(f"no island {name!r} of {ctx.operator}")
    if len(found) > 1:
        listed = "; ".join(f.where for f in found)
        raise UsageError(f"{name!r} names several islands ({listed}); choose with --kind, "
                         "--as USER, or the island id")
    island = found[0]
    from atoll.islands.worktrees import forget, worktree_problems

    if sys.stdin.isatty() and not yes:
        click.echo(f"This destroys {island.where} and everything in it.", err=True)
        typed = click.prompt(f"Type {name} to confirm", default="", show_default=False,
                             err=True)
        if typed.strip() != name:
            raise PurgeCancelledError("purge cancelled: the name did not match")
    # Ledger first: the git check may start a stopped container, so it runs inside the
    # action (intent before it, error record when it refuses).
    tgt = {"island": island.island.island_id, "kind": island.kind, "session": name}
    with audit.action(ctx, "island.purge", tgt, {"force": force, "where": island.where}):
        if island.kind == "user":
            # a user island's only workspace atoll removes is its worktree (the branch stays)
            try:
                problems = worktree_problems(island)
            except AtollError:
                if not force:
                    raise
                problems = []
            if problems and not force:
                from atoll.islands.purge import PurgeRefusedError

                raise PurgeRefusedError(f"{island.where} holds {', '.join(problems)}: commit "
                                        "and push it, or purge with --force")
            purge(island, force=True, socket=ctx.socket, check=False)
            overridden = problems
        else:
            overridden = purge(island, force=force, socket=ctx.socket)
    if island.kind == "user" and island.session_user:
        forget(island.session_user, name)
    from atoll.service.resume import purge_specs

    owner = island.session_user if island.kind in ("user", "bwrap") else \
        f"{island.kind}:{island.island.island_id}"
    purge_specs(ctx, name, [owner] if owner else None)
    note = f" (forced over: {', '.join(overridden)})" if overridden else ""
    click.echo(f"atoll: purged {island.where}{note}", err=True)
