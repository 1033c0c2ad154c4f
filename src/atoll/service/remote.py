"""Session actions on a peer: the :class:`~atoll.service.place.PeerPlace` half of every
use case.

The peer runs its own ``atoll`` (so its sudoers decide, and its ledger records the action);
this side records the same action first, with the place's correlation id, which the peer
receives (``--correlation-id``), so both ledgers can be joined later (shared/DESIGN.md
decision 4). The records are those of the same action done here, with ``target.host`` the
peer's name and ``details.via`` the SSH alias (docs/ledger.md).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from atoll.core.errors import AtollError, HostUnreachableError
from atoll.service import audit
from atoll.service.context import Context
from atoll.service.place import PeerPlace

if TYPE_CHECKING:
    from atoll.service.sessions import AttachPlan, NewSession


def run(
    ctx: Context, place: PeerPlace, action: str, args: list[str], *,
    details: dict[str, object] | None = None, record: bool = True,
    ledger_action: str | None = None,
) -> str:
    """Run ``atoll ACTION NAME [--as U] [--key K] ARGS...`` on the peer and return its
    stdout, recorded as ``ledger_action`` (default ``session.ACTION``) with ``details``
    unless ``record`` is False (a live preview: the peer still records its own).

    Raises the peer's error class (exit codes 2-5 keep their meaning) or
    HostUnreachableError.
    """
    from atoll.fleet.remote import remote_action

    argv = place.argv(action, args)
    if not record:
        return remote_action(place.alias, argv, place.correlation).text()
    with audit.action(ctx, ledger_action or f"session.{action}", place.record(),
                      place.details(details), place.correlation):
        res = remote_action(place.alias, argv, place.correlation)
    return res.text()


def new(ctx: Context, place: PeerPlace, req: NewSession) -> None:
    """``atoll new`` on the peer with the same request (its own default agent user, its
    own checks); recorded here as ``session.new`` with the command and agent asked for."""
    args: list[str] = []
    for flag, value in (("--agent", req.agent), ("--dir", req.directory),
                        ("--worktree", req.worktree), ("--island", req.island),
                        ("--cpus", req.cpus), ("--memory", req.memory), ("--pids", req.pids)):
        if value is not None:
            args += [flag, str(value)]
    for grant in req.grants:
        args += ["--grant", grant]
    args += ["--record"] if req.record else []
    args += ["--net"] if req.net else []
    args += ["--restart", req.restart] if req.restart != "never" else []
    for entry in req.allow:
        args += ["--allow", entry]
    args += ["--join", req.join] if req.join else []
    if req.command:
        args += ["--", *req.command]
    run(ctx, place, "new", args, details={"command": list(req.command), "agent": req.agent,
                                          "island": req.island})


def status_error(alias: str, status: int) -> AtollError:
    """The error of an ``ssh -t ALIAS atoll ...`` that ended with ``status``: ssh's own
    failure (255) is HostUnreachableError; the peer's exit codes keep their class."""
    from atoll.fleet.remote import error_for

    if status == 255:
        return HostUnreachableError(f"{alias}: ssh failed")
    return error_for(status, f"{alias}: atoll exited with status {status}")


# -- an attach that reconnects -----------------------------------------------------------

SSH_FAILED = 255
"""ssh's own exit status when the connection failed or dropped (ssh(1), EXIT STATUS); a
peer's atoll exits 0-5 or 130, and tmux's client 0 or 1."""
BACKOFF = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
"""Seconds before each reconnect attempt in a row; the last repeats. Reset once a
connection held (it brought the session's screen)."""
ESTABLISHED_BYTES = 512
"""Output bytes after which an ssh run counts as connected: tmux's first redraw of a
session is several KiB, ssh's own error lines are under 200 bytes."""

Foreground = Callable[..., int]


def attach_loop(
    ctx: Context | None, plan: AttachPlan, foreground: Foreground,
    notice: Callable[[str], None], *, sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Run a peer's attach ``plan`` (``ssh -t HOST atoll attach ...``) on atoll's filtering
    relay with ``foreground`` (:func:`atoll.exec.process.run_foreground`'s signature) and,
    each time the connection drops after it was up (ssh exits 255), say so in one line
    through ``notice``, wait (:data:`BACKOFF`) and run it again, over a fresh master
    connection. Ends when ssh ends any other way: the user detached (C-b d, the relay's
    key: 0), the session ended, or the peer refused; Ctrl-C while waiting raises
    KeyboardInterrupt. A first run that fails before it ever connected returns 255 at once
    (the host is unreachable: an error, not a drop). With ``ctx``, each reconnect is a
    ``session.reconnect`` ledger record. Returns the last exit status."""
    from atoll.core.termfilter import EscapeFilter
    from atoll.exec.relay import DETACH_KEY_NAME, Relay
    from atoll.fleet.remote import attach_argv

    place = plan.place
    assert isinstance(place, PeerPlace)
    argv, ever_up, failures, attempt = plan.argv, False, 0, 0
    while True:
        seen = [0]
        escape = EscapeFilter()

        def feed(chunk: bytes, seen: list[int] = seen, escape: EscapeFilter = escape) -> bytes:
            seen[0] += len(chunk)
            return escape.feed(chunk)

        status = foreground(argv, unset_tmux=True, relay=Relay(feed))
        up = seen[0] >= ESTABLISHED_BYTES
        if status != SSH_FAILED or not (ever_up or up):
            return status
        ever_up = True
        failures = 0 if up else failures + 1
        attempt += 1
        delay = BACKOFF[min(failures, len(BACKOFF) - 1)]
        # Ctrl-C stops the wait; while ssh connects it goes to ssh (which fails, so the
        # loop would go on): the relay's detach key stops it then
        notice(f"atoll: connection to {place.host} lost; reconnecting to {place.name} in "
               f"{delay:g}s (Ctrl-C, or {DETACH_KEY_NAME} while connecting, stops)")
        if ctx is not None:
            audit.event(ctx, "session.reconnect", place.record(), "intent",
                        place.details({"attempt": attempt}), place.correlation)
        sleep(delay)
        if place.alias:
            with contextlib.suppress(AtollError):
                argv = attach_argv(place.alias, place.argv(
                    "attach", ["--read-only"] if plan.read_only else []), place.correlation)
