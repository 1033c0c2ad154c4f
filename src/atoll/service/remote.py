"""Session actions on a peer: the :class:`~atoll.service.place.PeerPlace` half of every
use case.

The peer runs its own ``atoll`` (so its sudoers decide, and its ledger records the action);
this side records the same action first, with the place's correlation id, which the peer
receives (``--correlation-id``), so both ledgers can be joined later (shared/DESIGN.md
decision 4). The records are those of the same action done here, with ``target.host`` the
peer's name and ``details.via`` the SSH alias (docs/ledger.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from atoll.core.errors import AtollError, HostUnreachableError
from atoll.service import audit
from atoll.service.context import Context
from atoll.service.place import PeerPlace

if TYPE_CHECKING:
    from atoll.service.sessions import NewSession


def run(
    ctx: Context, place: PeerPlace, action: str, args: list[str], *,
    details: dict[str, object] | None = None, record: bool = True,
    ledger_action: str | None = None,
) -> str:
    """Run ``atoll ACTION NAME [--as U] [--key K] ARGS...`` on the peer and return its
    stdout, recorded as ``ledger_action`` (default ``session.ACTION``) with ``details``
    unless ``record`` is False (a live preview: the peer still records its own).

    Raises the peer's error class (exit codes 2-5 keep their meaning) or
    HostUnreachableError.
    """
    from atoll.fleet.remote import remote_action

    argv = place.argv(action, args)
    if not record:
        return remote_action(place.alias, argv, place.correlation).text()
    with audit.action(ctx, ledger_action or f"session.{action}", place.record(),
                      place.details(details), place.correlation):
        res = remote_action(place.alias, argv, place.correlation)
    return res.text()


def new(ctx: Context, place: PeerPlace, req: NewSession) -> None:
    """``atoll new`` on the peer with the same request (its own default agent user, its
    own checks); recorded here as ``session.new`` with the command and agent asked for."""
    args: list[str] = []
    for flag, value in (("--agent", req.agent), ("--dir", req.directory),
                        ("--worktree", req.worktree), ("--island", req.island),
                        ("--cpus", req.cpus), ("--memory", req.memory), ("--pids", req.pids)):
        if value is not None:
            args += [flag, str(value)]
    for grant in req.grants:
        args += ["--grant", grant]
    args += ["--record"] if req.record else []
    args += ["--net"] if req.net else []
    for entry in req.allow:
        args += ["--allow", entry]
    args += ["--join", req.join] if req.join else []
    if req.command:
        args += ["--", *req.command]
    run(ctx, place, "new", args, details={"command": list(req.command), "agent": req.agent,
                                          "island": req.island})


def status_error(alias: str, status: int) -> AtollError:
    """The error of an ``ssh -t ALIAS atoll ...`` that ended with ``status``: ssh's own
    failure (255) is HostUnreachableError; the peer's exit codes keep their class."""
    from atoll.fleet.remote import error_for

    if status == 255:
        return HostUnreachableError(f"{alias}: ssh failed")
    return error_for(status, f"{alias}: atoll exited with status {status}")
