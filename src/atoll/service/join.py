"""``atoll new NAME --join OTHER``: another session in the island session OTHER runs in.

The new session gets exactly OTHER's island: the same container (a new tmux session on
the container's own server, started by ``ENGINE exec``, so the container's dropped
capabilities, no-new-privileges, limits, mounts and network apply unchanged), the same bwrap
island (a new sandbox with the same workspace, home, grants, limits and allow-list: bwrap
cannot enter another sandbox's namespaces without privileges, so each session has its own
process and network namespaces, sharing the island's files and its egress proxy), or the
same agent user and project (a ``user`` island). Nothing from the request can widen it:
``--island``, ``--as``, ``--dir``, limits, grants, ``--net`` and ``--allow`` are refused with
``--join``.

The island is found through OTHER's own session options (``@atoll_island``,
``@atoll_island_id``), checked against what atoll made (the container's labels, the bwrap
island's ``meta.json``): a session that claims an island it is not in is refused. The new
session's ``@atoll_island_id`` is the island's, so ``purge`` of the island ends it too;
``kill`` ends one session.
"""

from __future__ import annotations

from atoll.core.errors import NotFoundError, UsageError
from atoll.fleet.servers import Server
from atoll.islands.base import Island
from atoll.service.context import Context


def island_of(ctx: Context, other: str) -> tuple[Island | None, Server, str, str]:
    """``(island, server, kind, ref)`` of session ``other`` on this host: the island object
    for bwrap and container islands, None for a ``user`` island (then ``server`` is its
    agent user's); ``ref``: how tmux addresses ``other``."""
    from atoll.service.place import Target, resolve_local

    place = resolve_local(ctx, Target(other, None, None))
    server, ref = place.server, place.ref
    kind = server.client.session_option(ref, "@atoll_island") or ""
    island_id = server.client.session_option(ref, "@atoll_island_id") or ""
    if kind in ("docker", "podman"):
        from atoll.islands.container import open_container_island

        engine, _, container = server.user.partition(":")
        if engine != kind or container != island_id:
            raise UsageError(f"session {other!r} does not say which island it is in")
        island, _info = open_container_island(engine, container)
        return island, server, kind, ref
    if kind == "bwrap":
        from atoll.islands.bwrap import list_bwrap_islands

        for isl in list_bwrap_islands(server.user):
            if isl.island_id == island_id and isl.spec.operator == ctx.operator:
                return isl, server, kind, ref
        raise NotFoundError(f"the bwrap island of session {other!r} is gone")
    if kind in ("user", "none", ""):
        return None, server, "user", ref
    raise UsageError(f"session {other!r} is in an island atoll does not know ({kind[:32]!r})")


def refuse_widening(req: object) -> None:
    """UsageError when a --join request also asks for island settings (they are OTHER's)."""
    asked = [flag for flag, value in (
        ("--as", getattr(req, "as_user", None)), ("--dir", getattr(req, "directory", None)),
        ("--worktree", getattr(req, "worktree", None)), ("--cpus", getattr(req, "cpus", None)),
        ("--memory", getattr(req, "memory", None)), ("--pids", getattr(req, "pids", None)),
        ("--net", getattr(req, "net", False) or None),
        ("--grant", getattr(req, "grants", None) or None),
        ("--allow", getattr(req, "allow", None) or None),
    ) if value is not None]
    if getattr(req, "island", "user") != "user":
        asked.insert(0, "--island")
    if asked:
        raise UsageError(f"{', '.join(asked)} cannot be given with --join: the session "
                         "joins the other session's island as it is")
