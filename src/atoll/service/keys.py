"""``atoll key NAME KEY...``: press named keys in a session, for a human at the CLI."""

from __future__ import annotations

from typing import TYPE_CHECKING

from atoll.core.errors import UsageError
from atoll.core.keys import tmux_key
from atoll.service import audit
from atoll.service.context import Context

if TYPE_CHECKING:
    from atoll.service.place import Target

MAX_KEYS = 100


def press(ctx: Context, target: Target | str, keys: list[str], *,
          enter: bool = False) -> list[str]:
    """Press ``keys`` (names of :mod:`atoll.core.keys`) in the session, in order, in one
    tmux call (on a peer: its own ``atoll key``); returns the tmux key names pressed.
    Raises UsageError for an unknown or (without ``enter``) submitting key, before anything
    is resolved or recorded."""
    from atoll.service import remote
    from atoll.service.place import PeerPlace, resolve
    from atoll.service.sessions import as_target

    if not keys or len(keys) > MAX_KEYS:
        raise UsageError(f"give 1-{MAX_KEYS} keys")
    names = [tmux_key(k, enter=enter) for k in keys]
    place = resolve(ctx, as_target(target))
    details: dict[str, object] = {"keys": names, "enter": enter}
    if isinstance(place, PeerPlace):
        remote.run(ctx, place, "key", [*(["--enter"] if enter else []), "--", *keys],
                   details=details)
        return names
    with audit.action(ctx, "session.key", place.record(), place.details(details),
                      place.correlation):
        place.server.client.send_keys(place.ref, names)
    return names
