"""``atoll purge TARGET``: destroy an island (registered by cli/main.py as ``purge``).

TARGET is ``[HOST:]NAME``: on another host, that host's own ``atoll purge`` decides (after
the confirmation here). Refuses when the island holds uncommitted, stashed or unpushed git
work unless ``--force``; on a terminal it asks the operator to type the island's name
first (``--yes`` skips that). The ledger event (``island.purge``) is written before
anything acts, the git check (which may start a stopped container) included; a refusal is
its ``error`` record (atoll.service.purge).
Exit codes: 0 purged, 1 refused or failed, 2 bad usage or ambiguous, 3 not found.
"""

from __future__ import annotations

import sys

import click

from atoll.core.errors import AtollError
from atoll.islands import registry as island_kinds

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
@click.option("--kind", type=click.Choice(island_kinds.names(creatable=True)), default=None,
              help="Only islands of this kind (when the name is ambiguous).")
def purge_cmd(target: str, force: bool, yes: bool, as_user: str | None,
              kind: str | None) -> None:
    """Destroy island TARGET: its sessions, container, volume, workspace and worktree.

    Afterwards nothing of the island remains. Granted host directories and a user island's
    project directory are never deleted.
    """
    from atoll.cli.main import make_context, place_target
    from atoll.service import purge

    ctx = make_context()  # config included: its ledger_path and agent users
    chosen = purge.plan(ctx, place_target(target, as_user), kind)
    if sys.stdin.isatty() and not yes:
        click.echo(f"This destroys {chosen.where} and everything in it.", err=True)
        typed = click.prompt(f"Type {chosen.target.name} to confirm", default="",
                             show_default=False, err=True)
        if typed.strip() != chosen.target.name:
            raise PurgeCancelledError("purge cancelled: the name did not match")
    overridden = purge.run(ctx, chosen, force=force)
    note = f" (forced over: {', '.join(overridden)})" if overridden else ""
    click.echo(f"atoll: purged {chosen.where}{note}", err=True)
