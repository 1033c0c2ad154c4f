"""Where a session target lives, resolved once: a local island or a peer host.

Every session use case (new, kill, peek, type, key, logs, attach, purge and the MCP tools)
takes a :class:`Target` (what the operator or a listed row named), calls :func:`resolve`
once, and acts on the :class:`Place` it gets:

- :class:`LocalPlace`: a tmux session on this host: the island kind it runs in, the Linux
  user (or ``ENGINE:CONTAINER``) whose tmux server holds it, that server (client, runner,
  attach argv), how tmux addresses the session, and its pane as listed;
- :class:`PeerPlace`: a session on another host: its configured name, the SSH alias the
  action goes through, and the correlation id the peer's ledger records too.

Each place writes the same ledger target, ``{"host", "session", "agent_user"}`` (``host``
is the host acted on: ``local`` or the peer's configured name; ``agent_user`` is empty
when the peer decides it), and its ``details`` carry ``via`` (the SSH alias) for a peer;
docs/ledger.md lists the shape of each action.

A target with a *key* (:class:`atoll.core.sessionref.SessionKey`, from a listed row) is
that very session or none: a session killed and made again under the same name since the
listing is refused with :class:`StaleTargetError`, and nothing is done.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

import msgspec

from atoll.core.errors import AmbiguousTargetError, NotFoundError, UsageError
from atoll.core.models import SessionRow
from atoll.core.names import parse_target as parse_host_name
from atoll.core.names import validate_host_name, validate_user_name
from atoll.core.sessionref import (
    SessionKey,
    is_atoll_name,
    key_of,
    matches,
    validate_session_target,
)
from atoll.core.tmuxfmt import PaneRecord
from atoll.fleet.servers import Server
from atoll.service.context import Context

_ISLAND_OWNER = re.compile(r"[a-z][a-z0-9-]{0,31}:[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")


def validate_owner(owner: str) -> str:
    """``owner`` if it is a Linux user name or ``KIND:ISLAND`` (a container island as
    listed, ``docker:atoll-1a2b3c4d-fix``); UsageError else."""
    if ":" in owner:
        if not _ISLAND_OWNER.fullmatch(owner):
            raise UsageError(f"invalid island owner {owner[:80]!r} (KIND:ISLAND)")
        return owner
    return validate_user_name(owner)


class StaleTargetError(NotFoundError):
    """The listed session is gone or was made again since it was listed (exit 3)."""


class Target(msgspec.Struct, frozen=True):
    """A session as named: ``name`` (an atoll name, a listed label or ``$N``), ``host``
    (None for this one), ``as_user`` (the agent user, ``ENGINE:CONTAINER`` of a container
    island, or None to search every visible server) and ``key`` (a listed row's identity:
    act on exactly that session)."""

    name: str
    host: str | None = None
    as_user: str | None = None
    key: SessionKey | None = None

    def text(self) -> str:
        """``[HOST:]NAME`` as the operator would type it."""
        return f"{self.host}:{self.name}" if self.host else self.name


def parse_target(text: str, as_user: str | None = None,
                 key: SessionKey | None = None) -> Target:
    """The target written ``[HOST:]NAME`` (``local:NAME`` is this host); UsageError for a
    bad host, name or user."""
    host, name = parse_host_name(text)
    if as_user is not None:
        validate_owner(as_user)
    return Target(name, None if host in (None, "local") else host, as_user, key)


def row_target(ctx: Context, row: SessionRow) -> Target:
    """The target of a listed row: its host, its server's user and its key, so acting on
    it never reaches a session made again under the same name since (a row of a peer of
    schema 0 has no key: its name is all there is)."""
    host = None if row.host == ctx.host else row.host
    return Target(row.name, host, row.agent_user or None,
                  key_of(row.server_pid, row.session_id, row.session_created))


def fresh_correlation(ctx: Context) -> str:
    """The id of one action: the one this process was given by a peer, else a fresh one
    (16 hex, as :func:`atoll.ledger.new_correlation_id`), so every action of a long-lived
    process (the fleet view, the MCP server) has its own."""
    return ctx.correlation_id or secrets.token_hex(8)


@dataclass(frozen=True)
class LocalPlace:
    """A session on this host. ``server.user`` is its owner (the Linux user its tmux
    server runs as, or ``ENGINE:CONTAINER``); ``island`` its kind (``none`` when it runs as
    the operator); ``ref`` how tmux addresses it (the name, or ``$N``); ``pane`` its first
    pane as listed (``session_name`` raw, as tmux keeps it)."""

    target: Target
    server: Server
    island: str
    ref: str
    pane: PaneRecord
    host: str = "local"
    correlation: str = field(default="", compare=False)

    @property
    def owner(self) -> str:
        return self.server.user

    @property
    def name(self) -> str:
        return self.target.name

    @property
    def session_name(self) -> str:
        return self.pane.session_name

    @property
    def key(self) -> SessionKey | None:
        return key_of(self.pane.server_pid, self.pane.session_id, self.pane.session_created)

    def record(self) -> dict[str, str]:
        """The ledger target of an action on this session."""
        return {"host": self.host, "session": self.target.name, "agent_user": self.owner}

    def details(self, extra: dict[str, object] | None = None) -> dict[str, object]:
        return dict(extra or {})


@dataclass(frozen=True)
class PeerPlace:
    """A session on another host, reached through its own atoll over SSH (``alias``)."""

    target: Target
    host: str
    alias: str
    correlation: str

    @property
    def owner(self) -> str:
        return self.target.as_user or ""

    @property
    def name(self) -> str:
        return self.target.name

    def record(self) -> dict[str, str]:
        return {"host": self.host, "session": self.target.name, "agent_user": self.owner}

    def details(self, extra: dict[str, object] | None = None) -> dict[str, object]:
        return {**(extra or {}), "via": self.alias}

    def argv(self, action: str, args: list[str]) -> list[str]:
        """``atoll ACTION NAME [--as USER] [--key KEY] ARGS...`` for the peer (options
        before ARGS, which may end in ``-- TEXT``)."""
        t = self.target
        validate_session_target(t.name)  # a label of a hand-made session too: never an option
        argv = ["atoll", action, t.name]
        if t.as_user is not None:
            argv += ["--as", validate_owner(t.as_user)]
        if t.key is not None:
            argv += ["--key", t.key.text()]
        return argv + args


Place = LocalPlace | PeerPlace


def peer(ctx: Context, target: Target) -> PeerPlace:
    """The place of a target on another host (nothing is asked yet)."""
    assert target.host is not None
    host = validate_host_name(target.host)
    return PeerPlace(target, host, ctx.host_alias(host), fresh_correlation(ctx))


def resolve(ctx: Context, target: Target) -> Place:
    """Where ``target`` lives. For this host: the one visible server that has the session
    (NotFoundError when none has it; AmbiguousTargetError, exit 2, listing the owners when
    several do and ``as_user`` does not choose; StaleTargetError when a key is given and
    that session is gone or was made again). For another host: its :class:`PeerPlace`."""
    if target.host is not None:
        return peer(ctx, target)
    return resolve_local(ctx, target)


def resolve_local(ctx: Context, target: Target) -> LocalPlace:
    """:func:`resolve` for a target on this host."""
    from atoll.fleet.local import query_servers

    name = validate_session_target(target.name)
    as_user = target.as_user
    if as_user is not None and ":" in validate_owner(as_user):  # ENGINE:CONTAINER, listed
        servers = [s for s in _island_servers(ctx, slow=True, running=False)
                   if s.user == as_user]
        if not servers:
            raise NotFoundError(f"no container island {as_user!r}")
    elif as_user is not None:  # a Linux user, or the owner another kind discovers
        validate_user_name(as_user)
        servers = [s for s in _island_servers(ctx, slow=False, users=(as_user,))
                   if s.user == as_user] or [_server(ctx, as_user)]
    else:
        servers = _island_servers(ctx, slow=None)
    results = [r for r in query_servers(servers, with_screens=False) if r.visible]
    hits = [(r.server, p) for r in results if (p := _first(target, r.panes)) is not None]
    if not hits:
        if target.key is not None:
            _stale(target, [p for r in results for p in r.panes])
        if as_user is not None and not results:
            raise NotFoundError(f"no session {name!r} visible as {as_user}")
        if as_user is not None:
            raise NotFoundError(f"no session {name!r} for {as_user}")
        raise NotFoundError(f"no session {name!r} visible to {ctx.operator}")
    if len(hits) > 1:
        raise AmbiguousTargetError(name, [s.user for s, _ in hits])
    server, pane = hits[0]
    if target.key is not None or not is_atoll_name(name):
        ref = pane.session_id  # by id: a name made again meanwhile is never reached
    else:
        ref = pane.session_name
    from atoll.fleet.local import island_of

    return LocalPlace(target, server, island_of(server.user, pane.island, ctx.operator), ref,
                      pane, ctx.host, fresh_correlation(ctx))


def _first(target: Target, panes: list[PaneRecord]) -> PaneRecord | None:
    """The first pane of the session ``target`` names (by key when it has one)."""
    key = target.key
    for p in panes:
        if key is not None:
            if (p.session_id, p.server_pid, p.session_created) == (
                    key.session_id, key.server_pid, key.created) \
                    and matches(target.name, p.session_name, p.session_id):
                return p
        elif matches(target.name, p.session_name, p.session_id):
            return p
    return None


def _stale(target: Target, panes: list[PaneRecord]) -> None:
    """Raise StaleTargetError for a keyed target no listed session has."""
    now = next((p for p in panes if matches(target.name, p.session_name, p.session_id)),
               None)
    if now is None:
        raise StaleTargetError(f"session {target.name!r} is gone since it was listed; "
                               "nothing was done")
    was = target.key
    assert was is not None
    raise StaleTargetError(
        f"session {target.name!r} was made again since it was listed (it was {was.session_id} "
        f"of tmux server {was.server_pid}, it is now {now.session_id} of server "
        f"{now.server_pid}); nothing was done: refresh and choose it again")


def _server(ctx: Context, user: str) -> Server:
    from atoll.fleet.servers import runner_for
    from atoll.tmux.client import TmuxClient

    return Server(user, TmuxClient(runner_for(user, ctx.operator), ctx.socket))


def _island_servers(ctx: Context, *, slow: bool | None, running: bool = True,
                    users: tuple[str, ...] | None = None) -> list[Server]:
    """The tmux servers every island kind discovers (atoll.islands.registry): the
    operator's, each agent user's (``users``, default the candidates), each container's
    (only running ones unless ``running`` is False)."""
    from atoll.fleet.containers import as_server
    from atoll.islands.base import Scope
    from atoll.islands.registry import discover

    scope = Scope(ctx.operator, tuple(ctx.candidates()) if users is None else users,
                  ctx.socket)
    return [as_server(s) for s in discover(scope, slow=slow) if s.running or not running]


__all__ = ["LocalPlace", "PeerPlace", "Place", "StaleTargetError", "Target", "parse_target",
           "resolve", "resolve_local", "row_target"]
