"""Grant use cases: grant, revoke, grants, and the broker's start for each island kind.

A target session is resolved once (:func:`atoll.service.sessions.resolve_target`) into its
island's :class:`~atoll.core.broker.BrokerPlace` (:func:`place_of`). Each use case writes its
ledger record before it acts (``grant.add`` / ``grant.revoke`` with outcome ``intent``, then
``ok`` or ``error``); the broker itself writes the ``crossing.*`` records of files opened
through a grant (:mod:`atoll.broker.state`).

The broker of a ``user`` island starts on its first grant (its mount is in the host's view,
so it appears in every running session of that agent user at once). bwrap and container
islands start theirs when the island is created (:func:`start_island_broker`), because the
mount must exist before the sandbox or container binds it; a grant to one whose broker is
not running is refused with a message saying to restart the island.
"""

from __future__ import annotations

import os
from typing import Any

from atoll.broker import control
from atoll.core.broker import BrokerPlace
from atoll.core.errors import NotFoundError, UsageError
from atoll.fleet.servers import Server
from atoll.islands import brokermount
from atoll.service import audit
from atoll.service.context import Context


def start_broker(ctx: Context, place: BrokerPlace) -> None:
    """Make the mountpoint and start the broker of ``place`` (nothing when it runs)."""
    from atoll.ledger import Actor, ledger_path, this_host

    if control.running(place.key):
        return
    if place.mount_as:
        brokermount.prepare_agent_mountpoint(place)
    else:
        brokermount.prepare_operator_mountpoint(place)
    control.start_broker(place, ledger=str(ledger_path(ctx.ledger_path)), host=this_host(),
                         actor=Actor.current().to_json())


def start_island_broker(ctx: Context, kind: str, *, agent: str | None, island_id: str,
                        engine_uid: int | None = None) -> BrokerPlace:
    """Start the broker of a new island (bwrap, docker, podman) and return its place."""
    if kind == "bwrap":
        assert agent is not None
        place = brokermount.bwrap_place(agent, island_id)
    elif kind in ("docker", "podman"):
        place = brokermount.container_place(kind, island_id)
    else:
        raise UsageError(f"no broker for island kind {kind!r}")
    start_broker(ctx, place)
    return place


def place_of_server(server: Server, ref: str) -> BrokerPlace:
    """The broker place of the island session ``ref`` on ``server`` lives in."""
    if ":" in server.user:  # ENGINE:CONTAINER
        engine, container = server.user.split(":", 1)
        return brokermount.container_place(engine, container)
    island = server.client.session_option(ref, "@atoll_island") or "user"
    if island == "none":
        raise UsageError("that session runs as you: it sees your files already, there is "
                         "nothing to grant")
    if island == "bwrap":
        island_id = server.client.session_option(ref, "@atoll_island_id") or ""
        if not island_id:
            raise NotFoundError("that bwrap session does not name its island")
        return brokermount.bwrap_place(server.user, island_id)
    return brokermount.user_place(server.user)


def resolve_session(ctx: Context, target: str, as_user: str | None = None
                    ) -> tuple[Server, str]:
    """The server and tmux reference of session ``target`` on this host
    (:func:`atoll.service.place.resolve_local`)."""
    from atoll.service.place import Target, resolve_local

    place = resolve_local(ctx, Target(target, None, as_user))
    return place.server, place.ref


def place_of(ctx: Context, target: str, as_user: str | None = None) -> BrokerPlace:
    """Resolve ``target`` (a session) into its island's broker place."""
    server, ref = resolve_session(ctx, target, as_user)
    return place_of_server(server, ref)


def _ensure_running(ctx: Context, place: BrokerPlace) -> None:
    if place.key.startswith("user:"):
        start_broker(ctx, place)
        return
    if not control.running(place.key):
        raise control.BrokerError(
            f"the broker of {place.key} is not running (it starts with the island): "
            "restart the island to grant to it")


def grant(ctx: Context, target: str, path: str, *, rw: bool = False,
          name: str | None = None, as_user: str | None = None) -> dict[str, Any]:
    """Grant host directory ``path`` to ``target``'s island; returns the grant's fields
    (``inside``: the path the island sees it at). UsageError for a refused path or name,
    BrokerError when the broker cannot be had, LedgerWriteError (nothing granted) when the
    ledger cannot be written."""
    place = place_of(ctx, target, as_user)
    _ensure_running(ctx, place)
    return add_grant(ctx, place, os.path.abspath(path), rw=rw, name=name)


def add_grant(ctx: Context, place: BrokerPlace, path: str, *, rw: bool = False,
              name: str | None = None) -> dict[str, Any]:
    """Record ``grant.add`` and have the running broker of ``place`` add ``path``."""
    details = {"rw": rw, "name": name, "inside": place.inside}
    target = {"host": ctx.host, "island": place.key, "path": path}
    with audit.auditor(ctx).action("grant.add", target, details) as intent:
        reply = control.call(place.key, {"op": "grant", "path": path, "rw": rw, "name": name,
                                         "by": intent.get("actor"), "seq": intent.get("seq")})
    out: dict[str, Any] = reply["grant"]
    out["island"] = place.key
    return out


def revoke(ctx: Context, target: str, what: str, as_user: str | None = None
           ) -> dict[str, Any]:
    """Revoke a grant of ``target``'s island by name or host path."""
    place = place_of(ctx, target, as_user)
    if not control.running(place.key):
        raise NotFoundError(f"no grant {what!r}: no broker runs for {place.key}")
    key = what if "/" not in what else os.path.abspath(what)
    found = [g for g in control.call(place.key, {"op": "list"})["grants"]
             if key in (g["name"], g["path"])]
    if not found:
        raise NotFoundError(f"no grant {what!r} in {place.key}")
    g = found[0]
    record = {"host": ctx.host, "island": place.key, "path": g["path"]}
    with audit.action(ctx, "grant.revoke", record,
                      {"name": g["name"], "crossings": g["crossings"]}):
        reply = control.call(place.key, {"op": "revoke", "grant": g["name"]})
    out: dict[str, Any] = reply["grant"]
    out["island"] = place.key
    return out


def live_paths(place: BrokerPlace) -> set[str]:
    """Host paths the running broker of ``place`` serves (empty when none runs)."""
    if not control.running(place.key):
        return set()
    return {str(g["path"]) for g in control.call(place.key, {"op": "list"})["grants"]}


def grants(ctx: Context, target: str, as_user: str | None = None) -> dict[str, Any]:
    """``{"island": KEY, "running": BOOL, "grants": [...]}`` for ``target``'s island."""
    place = place_of(ctx, target, as_user)
    if not control.running(place.key):
        return {"island": place.key, "running": False, "grants": []}
    reply = control.call(place.key, {"op": "list"})
    return {"island": place.key, "running": True, "grants": reply["grants"]}
