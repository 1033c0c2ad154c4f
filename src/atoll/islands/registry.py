"""Every island kind, by name: one line each in :data:`KINDS`.

A kind is a module implementing :class:`atoll.islands.base.KindModule` (``make``,
``discover``, ``find``) whose islands implement :class:`atoll.islands.base.Island`. Adding
a kind is its module plus one line here: ``atoll new --island`` and ``atoll purge --kind``
offer it, listings and target resolution ask its servers, purge looks for its islands.

Modules are imported only when a kind is used (``importlib``): ``atoll ls`` on a host
without containers must not pay for the container plumbing (tar, hashing, engines).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import cast

from atoll.core.errors import UsageError
from atoll.core.islands import IslandSpec
from atoll.islands.base import Found, Island, IslandServer, KindModule, Scope


@dataclass(frozen=True)
class Kind:
    """One island kind: its ``name`` (``@atoll_island``, ``--island``), one line of help,
    the module that implements it, whether ``atoll new --island`` offers it, whether
    discovering it asks an outside program (an engine; a listing asks it in the background
    while the tmux calls run), whether its sessions run in the project directory itself
    (``in_place``: no copy, ``--worktree`` applies), whether its tmux server runs on
    the host (``host_tmux``: a transcript's FIFO is in reach) and whether it has tmux
    servers of its own to discover (``own_servers``: bwrap's sessions live on its agent
    user's server, so a listing need not even import its module)."""

    name: str
    summary: str
    module: str
    creatable: bool = True
    slow_discovery: bool = False
    in_place: bool = False
    host_tmux: bool = True
    own_servers: bool = True


KINDS: tuple[Kind, ...] = (
    Kind("none", "you, on your own tmux server (atoll new --as $USER)", "atoll.islands.user",
         creatable=False, in_place=True),
    Kind("user", "an agent user (--as) or, without one, you", "atoll.islands.user",
         in_place=True),
    Kind("bwrap", "a bubblewrap sandbox as an agent user", "atoll.islands.bwrap",
         own_servers=False),
    Kind("docker", "a hardened docker container on a copy of the project",
         "atoll.islands.containerkind", slow_discovery=True, host_tmux=False),
    Kind("podman", "a hardened podman container on a copy of the project",
         "atoll.islands.containerkind", slow_discovery=True, host_tmux=False),
)


def names(*, creatable: bool = False) -> list[str]:
    """Kind names in registry order (only those ``atoll new`` offers with ``creatable``)."""
    return [k.name for k in KINDS if k.creatable or not creatable]


def kind(name: str) -> Kind:
    """The registered kind ``name``; UsageError naming the known ones otherwise."""
    for k in KINDS:
        if k.name == name:
            return k
    raise UsageError(f"unknown island kind {name!r}: use one of {', '.join(names())}")


def module(name: str) -> KindModule:
    """The module implementing kind ``name`` (imported now)."""
    return cast(KindModule, importlib.import_module(kind(name).module))


def make_island(spec: IslandSpec) -> Island:
    """The :class:`~atoll.islands.base.Island` for ``spec.kind`` (nothing is created yet)."""
    return module(spec.kind).make(spec)


def discover(scope: Scope, *, slow: bool | None = None) -> list[IslandServer]:
    """The tmux servers of every kind (``slow`` True/False: only the kinds that do / do not
    ask an engine), in registry order; a kind whose sessions live on another kind's
    servers (bwrap: its agent user's) contributes none."""
    out: list[IslandServer] = []
    for k in KINDS:
        if k.own_servers and (slow is None or k.slow_discovery == slow):
            out += module(k.name).discover(k.name, scope)
    return out


def find(target: str, scope: Scope, kinds: list[str] | None = None) -> list[Found]:
    """Every island named ``target`` (or with that island id) of every kind (of ``kinds``)."""
    return [f for k in KINDS if kinds is None or k.name in kinds
            for f in module(k.name).find(k.name, target, scope)]


__all__ = ["KINDS", "Kind", "discover", "find", "kind", "make_island", "module", "names"]
