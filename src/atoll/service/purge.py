"""``atoll purge TARGET``: destroy an island, here or on a peer (docs/islands.md, "Purge").

:func:`plan` resolves the target once: the one island of this operator it names here
(:func:`atoll.islands.purge.find_islands`, or the worktree a killed ``--worktree`` session
left), or the peer whose own ``atoll purge`` decides. :func:`run` writes ``island.purge``
before anything acts (the git check, which may start a stopped container, included) and
then checks, destroys and verifies; a refusal is its ``error`` record.
"""

from __future__ import annotations

from dataclasses import dataclass

from atoll.core.errors import AtollError, NotFoundError, UsageError
from atoll.islands.purge import Found
from atoll.service import audit, remote
from atoll.service.context import Context
from atoll.service.place import PeerPlace, Target, fresh_correlation, peer


@dataclass(frozen=True)
class PurgePlan:
    """What a purge will destroy: ``found`` here, or ``place`` on a peer; ``where`` says
    it in words (for the confirmation and the outcome line)."""

    target: Target
    where: str
    found: Found | None = None
    place: PeerPlace | None = None
    kind: str | None = None


def plan(ctx: Context, target: Target, kind: str | None = None) -> PurgePlan:
    """The island ``target`` names. Raises NotFoundError when none, UsageError (exit 2)
    when several match and neither ``kind`` nor ``target.as_user`` chooses."""
    if target.host is not None:
        place = peer(ctx, target)
        return PurgePlan(target, f"island {target.name} on {place.host}", place=place,
                         kind=kind)
    from atoll.fleet.users import visible_agent_users
    from atoll.islands.purge import find_islands

    name = target.name
    users = [target.as_user] if target.as_user else visible_agent_users(ctx.candidates())
    found = find_islands(name, operator=ctx.operator, agent_users=users, socket=ctx.socket,
                         kinds=[kind] if kind is not None else None)
    if not found:  # a --worktree session that was killed: its worktree is still there
        from atoll.islands.worktrees import recorded

        found = recorded(name, users, ctx.operator)
    if kind is not None:
        found = [f for f in found if f.kind == kind]
    if not found:
        raise NotFoundError(f"no island {name!r} of {ctx.operator}")
    if len(found) > 1:
        listed = "; ".join(f.where for f in found)
        raise UsageError(f"{name!r} names several islands ({listed}); choose with --kind, "
                         "--as USER, or the island id")
    return PurgePlan(target, found[0].where, found=found[0], kind=kind)


def run(ctx: Context, chosen: PurgePlan, *, force: bool) -> list[str]:
    """Purge what ``chosen`` names; returns the problems ``force`` overrode (a peer's are
    in its own output). Raises PurgeRefusedError (git work, no ``force``) or AtollError
    when something is left."""
    details: dict[str, object] = {"force": force, "where": chosen.where}
    if chosen.place is not None:
        args = ["--yes", *(["--force"] if force else []),
                *(["--kind", chosen.kind] if chosen.kind else [])]
        remote.run(ctx, chosen.place, "purge", args, details=details,
                   ledger_action="island.purge")
        return []
    found = chosen.found
    assert found is not None
    from atoll.islands.purge import purge

    tgt = {"host": ctx.host, "island": found.island.island_id, "kind": found.kind,
           "session": chosen.target.name}
    with audit.action(ctx, "island.purge", tgt, details, fresh_correlation(ctx)):
        overridden = purge(found, force=force, socket=ctx.socket)
    if found.session_user:
        from atoll.islands.worktrees import forget

        forget(found.session_user, chosen.target.name)
    return overridden


__all__ = ["AtollError", "PurgePlan", "plan", "run"]
