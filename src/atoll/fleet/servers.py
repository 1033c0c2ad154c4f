"""The tmux servers a listing asks: the operator's own and one per agent user.

Kept apart from :mod:`atoll.fleet.local` (status, load, screens) so that the listing's
tmux calls can be started before the rest of the CLI has loaded (:mod:`atoll.fleet.early`).
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from atoll.exec.runner import Local, Runner, Sudo, current_user
from atoll.tmux.client import DEFAULT_SOCKET, TmuxClient


class Server(msgspec.Struct, frozen=True):
    """One tmux server: the Linux user it runs as (or ``ENGINE:CONTAINER`` for a container
    island) and a client for it. ``attach_argv(session, read_only=...)``, when set, builds
    the attach argv instead of ``client.attach_argv`` (containers need ``exec -it``)."""

    user: str
    client: TmuxClient
    attach_argv: Callable[..., list[str]] | None = None


def runner_for(user: str, operator: str | None = None) -> Runner:
    """Local for the operator's own user (default: the real uid's), Sudo otherwise."""
    return Local() if user == (operator or current_user()) else Sudo(user)


def servers_for(users: list[str], socket: str = DEFAULT_SOCKET) -> list[Server]:
    """The operator's own server first, then one per agent user candidate."""
    me = current_user()
    out = [Server(me, TmuxClient(Local(), socket))]
    out += [Server(u, TmuxClient(Sudo(u), socket)) for u in users if u != me]
    return out
