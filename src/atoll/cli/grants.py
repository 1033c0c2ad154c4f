"""``atoll grant``, ``revoke``, ``grants``, ``intake``, ``export``: host folders and files
crossing into and out of an island, each in the ledger (logic in :mod:`atoll.service.grants`
and :mod:`atoll.service.crossings`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click

from atoll.cli.main import EPILOG, as_opt, make_context
from atoll.core.errors import UsageError

SCHEMA_VERSION = 1


def _local(target: str) -> str:
    """The session name of a local TARGET; UsageError for HOST:NAME (not served yet)."""
    from atoll.core.names import parse_target

    host, name = parse_target(target)
    if host not in (None, "local"):
        raise UsageError(f"{target}: grants, intake and export work on this host's islands "
                         "only (run atoll on that host)")
    return name


def _since(epoch: object) -> str:
    if not isinstance(epoch, (int, float)):
        return ""
    return datetime.fromtimestamp(float(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _by(actor: object) -> str:
    if not isinstance(actor, dict):
        return "?"
    user = str(actor.get("user", "?"))
    via = actor.get("sudo_user")
    return f"{user} (sudo by {via})" if via else user


@click.command("grant", epilog=EPILOG)
@click.argument("target", metavar="TARGET")
@click.argument("path", type=click.Path(file_okay=False))
@click.option("--rw", is_flag=True,
              help="Let the island write (content is then untrusted: .git/config, hooks, "
                   ".envrc, exec bits and symlinks stay refused).")
@click.option("--name", "-n", metavar="N", default=None,
              help="Name the island sees it under (default: PATH's last component).")
@click.option("--json", "as_json", is_flag=True, help="Print the grant as a JSON object.")
@as_opt
def grant_cmd(target: str, path: str, rw: bool, name: str | None, as_json: bool,
              as_user: str | None) -> None:
    """Make host directory PATH visible in TARGET's island, read-only unless --rw.

    Served live by the island's broker (a FUSE filesystem run by atoll as you): every file
    the island opens through it is in the ledger with its SHA-256. Prints the path where
    the island sees it. A grant to a `user` island reaches every session of that agent
    user.

    \b
    Example:
      atoll grant fix-bug ~/src/docs --name docs     # -> /grants/docs
    """
    from atoll.service.grants import grant

    g = grant(make_context(), _local(target), path, rw=rw, name=name, as_user=as_user)
    if as_json:
        click.echo(json.dumps({**g, "schema_version": SCHEMA_VERSION}))
    else:
        click.echo(g["inside"])


@click.command("revoke", epilog=EPILOG)
@click.argument("target", metavar="TARGET")
@click.argument("grant_ref", metavar="PATH|NAME")
@as_opt
def revoke_cmd(target: str, grant_ref: str, as_user: str | None) -> None:
    """Take a grant away at once; files already open through it stop reading too."""
    from atoll.service.grants import revoke

    g = revoke(make_context(), _local(target), grant_ref, as_user=as_user)
    click.echo(f"revoked {g['name']} ({g['path']}), {g['crossings']} crossings", err=True)


@click.command("grants", epilog=EPILOG)
@click.argument("target", metavar="TARGET")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@as_opt
def grants_cmd(target: str, as_json: bool, as_user: str | None) -> None:
    """List what TARGET's island is granted: since when, by whom, how many crossings."""
    from atoll.core.display import aligned
    from atoll.service.grants import grants

    out: dict[str, Any] = grants(make_context(), _local(target), as_user=as_user)
    if as_json:
        click.echo(json.dumps({**out, "schema_version": SCHEMA_VERSION}))
        return
    cols = ("NAME", "MODE", "PATH", "INSIDE", "SINCE", "BY", "CROSSINGS")
    rows: list[tuple[str, ...]] = []
    for g in out["grants"]:
        rows.append((str(g["name"]), "rw" if g["rw"] else "ro", str(g["path"]), str(g["inside"]),
                     _since(g["since"]), _by(g["by"]), str(g["crossings"])))
    for line in aligned(cols, rows, right=frozenset({"CROSSINGS"})):
        click.echo(line)


@click.command("intake", epilog=EPILOG)
@click.argument("target", metavar="TARGET")
@click.argument("hostpath", type=click.Path(file_okay=False))
@click.option("--to", "dest", metavar="PATH", default=None,
              help="Where in the island (default: a new folder named like HOSTPATH in the "
                   "island's working directory, or the agent's home for a user island).")
@as_opt
def intake_cmd(target: str, hostpath: str, dest: str | None, as_user: str | None) -> None:
    """Copy host folder HOSTPATH into TARGET's island (each file's SHA-256 in the ledger).

    Read with no-follow, race-free walks and your rights only. Prints where it landed.
    """
    from atoll.service.crossings import intake

    click.echo(intake(make_context(), _local(target), hostpath, dest, as_user=as_user))


@click.command("export", epilog=EPILOG)
@click.argument("target", metavar="TARGET")
@click.argument("path", metavar="PATH")
@click.argument("hostdest", type=click.Path())
@click.option("--force", is_flag=True, help="Write into an existing HOSTDEST, replacing files.")
@as_opt
def export_cmd(target: str, path: str, hostdest: str, force: bool,
               as_user: str | None) -> None:
    """Copy PATH out of TARGET's island into HOSTDEST (each file's SHA-256 in the ledger).

    Never overwrites without --force and never writes outside HOSTDEST: what the island
    holds is data, so a symlink, FIFO or device there is refused, not followed, and so are
    .git/config, .git/hooks, .envrc and set-uid or executable files; at most 1 GiB and
    10,000 entries.
    """
    from atoll.service.crossings import export

    n = export(make_context(), _local(target), path, hostdest, force=force, as_user=as_user)
    click.echo(f"exported {n} entries into {hostdest}", err=True)
