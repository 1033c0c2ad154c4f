"""``atoll key NAME KEY...``: press named keys in a session, for a human at the CLI."""

from __future__ import annotations

from atoll.core.errors import UsageError
from atoll.core.keys import tmux_key
from atoll.service import audit
from atoll.service.context import Context

MAX_KEYS = 100


def press(ctx: Context, name: str, keys: list[str], *, enter: bool = False,
          as_user: str | None = None) -> list[str]:
    """Press ``keys`` (names of :mod:`atoll.core.keys`) in session ``name``, in order, in
    one tmux call; returns the tmux key names pressed. Raises UsageError for an unknown or
    (without ``enter``) submitting key, before anything is resolved or recorded."""
    from atoll.service.sessions import resolve

    if not keys or len(keys) > MAX_KEYS:
        raise UsageError(f"give 1-{MAX_KEYS} keys")
    names = [tmux_key(k, enter=enter) for k in keys]
    server = resolve(ctx, name, as_user)
    target = {"agent_user": server.user, "session": name}
    with audit.action(ctx, "session.key", target, {"keys": names, "enter": enter}):
        server.client.send_keys(name, names)
    return names
