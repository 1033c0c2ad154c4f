"""``atoll resume``: start lost sessions again from their specs (registered lazily by
cli/main.py). Exit codes: 0 resumed (``--all``: also when there was nothing to resume),
1 some failed, 2 bad usage or ambiguous, 3 not found, 4 permission denied."""

from __future__ import annotations

import sys

import click

from atoll.core.errors import UsageError

EPILOG = ("Exit codes: 0 ok, 1 error (with --all: some session did not resume), 2 bad usage "
          "or ambiguous, 3 not found, 4 permission denied, 130 interrupted.")


@click.command("resume", epilog=EPILOG)
@click.argument("name", required=False, metavar="[HOST:]NAME")
@click.option("--all", "every", is_flag=True, help="Every lost session you started.")
@click.option("--as", "as_user", metavar="USER",
              help="Only sessions of this agent user (when NAME is ambiguous).")
@click.option("--boot", is_flag=True,
              help="With --all: only sessions started with --restart always, re-checking "
                   "sudo first (what the @reboot line or systemd unit runs).")
@click.option("--correlation-id", hidden=True, default=None)
def resume_cmd(name: str | None, every: bool, as_user: str | None, boot: bool,
               correlation_id: str | None) -> None:
    """Start lost session NAME again from its spec (or --all of them); HOST:NAME asks
    that configured host to resume its session.

    A session is lost when its tmux server died (reboot, OOM, kill-server) but `atoll
    kill` never ended it. It comes back in the same island kind, as the same agent user,
    in the same directory and worktree, with the same limits and grants. Claude Code and
    Codex continue their own conversation (by the id their hooks reported, else their
    latest one in that directory); any other command starts again, and atoll says so.

    \b
    Examples:
      atoll resume fix-login
      atoll resume --all
      atoll resume --all --boot      (from `@reboot` in crontab; see docs/survive.md)
    """
    from atoll.cli.main import make_context
    from atoll.service import resume as resume_service

    if every == bool(name):
        raise UsageError("give NAME or --all (not both)")
    if boot and not every:
        raise UsageError("--boot goes with --all")
    ctx = make_context(correlation_id)  # a peer's resume HOST:NAME passes its id
    if name:
        from atoll.cli.main import place_target

        target = place_target(name, as_user)
        if target.host is not None:  # the peer resumes it: its specs, sudoers and ledger
            from atoll.service import remote
            from atoll.service.place import peer

            remote.run(ctx, peer(ctx, target), "resume", [])
            click.echo(f"atoll: resumed {target.text()}", err=True)
            return
        name = target.name
        done = resume_service.resume(ctx, name, as_user)
        click.echo(f"atoll: resumed {name} as {done.user}: {resume_service.said(done)}",
                   err=True)
        return
    resumed, failed = resume_service.resume_all(
        ctx, as_user, boot=boot, progress=lambda line: click.echo(line, err=True))
    for line in failed:
        click.echo(f"atoll: error: {line}", err=True)
    if not resumed and not failed:
        click.echo("atoll: no lost session to resume", err=True)
    if failed:
        sys.exit(1)
