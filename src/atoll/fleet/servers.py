"""A tmux server as listings and actions use it (which servers there are: each island
kind's ``discover``, atoll.islands.registry).

Kept apart from :mod:`atoll.fleet.local` (status, load, screens) so that the listing's
tmux calls need not load status, load and screen code.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from atoll.exec.runner import Local, Runner, Sudo, current_user
from atoll.tmux.client import TmuxClient


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
