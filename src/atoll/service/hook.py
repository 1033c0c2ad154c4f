"""``atoll hook EVENT``: an agent's own hooks report its state onto its pane."""

from __future__ import annotations

import os

from atoll.core.errors import UsageError
from atoll.core.status import HOOK_EVENTS
from atoll.tmux.client import set_hook_state


def report(event: str, tmux_env: str | None, pane: str | None) -> str | None:
    """Set ``@atoll_state`` (and ``@atoll_state_time``) on the calling pane.

    ``tmux_env`` is ``$TMUX`` (``socket,pid,session``) and ``pane`` is ``$TMUX_PANE``; the
    command talks to that exact socket, which is the caller's own server. Returns the state
    set (None for ``clear``). Raises UsageError for an unknown event or outside tmux.
    """
    key = event.lower()
    if key not in HOOK_EVENTS:
        raise UsageError(f"unknown hook event {event!r}: use one of {', '.join(HOOK_EVENTS)}")
    if not tmux_env or not pane or not pane.startswith("%") or not pane[1:].isdigit():
        raise UsageError("atoll hook must run inside a tmux pane ($TMUX and $TMUX_PANE unset)")
    socket = tmux_env.split(",")[0]
    if not os.path.isabs(socket):
        raise UsageError("$TMUX does not name a socket path")
    state = HOOK_EVENTS[key]
    set_hook_state(socket, pane, state)
    return state
