"""Session actions on other hosts: ``HOST:NAME`` targets and ``atoll new --host``.

The peer runs its own ``atoll`` (so its sudoers decide, and its ledger records the action);
this side records the same action first, with a correlation id the peer receives, so both
ledgers can be joined later (shared/DESIGN.md decision 4, issue "Fleet across hosts").
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import msgspec

from atoll.core.errors import AtollError
from atoll.core.names import validate_host_name, validate_user_name
from atoll.core.sessionref import validate_session_target
from atoll.service import audit
from atoll.service.context import Context


def _correlation(ctx: Context) -> str:
    """The id of one remote action: the one this process was given, else a fresh one (so
    every action of a long-lived process, such as the fleet view, gets its own)."""
    if ctx.correlation_id is not None:
        return ctx.correlation_id
    from atoll.ledger import new_correlation_id

    return new_correlation_id()


def _argv(action: str, name: str, as_user: str | None, args: list[str]) -> list[str]:
    validate_session_target(name)  # a label of a hand-made session too: never an option
    argv = ["atoll", action, name]
    if as_user is not None:
        argv += ["--as", validate_user_name(as_user)]
    return argv + args


def _target(host: str, name: str, as_user: str | None) -> dict[str, str]:
    return {"host": host, "session": name, **({"agent_user": as_user} if as_user else {})}


class RemoteAttachPlan(msgspec.Struct, frozen=True):
    """An attach to a session on another host: ``argv`` is ``ssh -t ALIAS atoll attach ...``
    (run it with this terminal; its status is the peer's, 255 when ssh failed)."""

    argv: list[str]
    host: str
    name: str
    as_user: str | None
    read_only: bool
    correlation: str | None = None  # the attach's id; its detach record carries it too
    switch: bool = False  # never a switch-client: the session is on another machine
    nested: bool = True  # always on atoll's relay, detached with its key
    filtered: bool = True  # a peer's bytes are hostile: always filtered
    alias: str = ""  # the SSH alias, and the peer's argv: what a reconnect runs again
    remote_argv: list[str] = msgspec.field(default_factory=list)


def attach_plan(
    ctx: Context, host: str, name: str, *, as_user: str | None, read_only: bool
) -> RemoteAttachPlan:
    """Plan an attach to ``name`` on configured host (or SSH alias) ``host`` and record it
    in the ledger, with the correlation id the peer's ledger gets too, before it runs."""
    from atoll.fleet.remote import attach_argv

    validate_host_name(host)
    argv = _argv("attach", name, as_user, ["--read-only"] if read_only else [])
    corr = _correlation(ctx)
    alias = ctx.host_alias(host)
    plan = RemoteAttachPlan(attach_argv(alias, argv, corr), host, name, as_user, read_only,
                            corr, alias=alias, remote_argv=argv)
    audit.event(ctx, "session.attach", _target(host, name, as_user), "intent",
                {"remote": True, "read_only": read_only, "via": alias}, corr)
    return plan


def record_detach(ctx: Context, plan: RemoteAttachPlan, status: int) -> None:
    """The remote attach's outcome and its end (``status``: the ssh exit status)."""
    audit.event(ctx, "session.attach", _target(plan.host, plan.name, plan.as_user),
                "ok" if status == 0 else "error", {"remote": True, "status": status},
                plan.correlation)
    audit.event(ctx, "session.detach", _target(plan.host, plan.name, plan.as_user), "ok",
                {"remote": True, "status": status}, plan.correlation)


def run(
    ctx: Context, host: str, action: str, name: str, args: list[str], *,
    as_user: str | None = None, tty: bool = False, details: dict[str, object] | None = None,
) -> str:
    """Run ``atoll ACTION NAME ARGS...`` on ``host`` and return its stdout.

    ``action`` is one of kill, peek, type, attach, new. Raises the peer's error class
    (exit codes 2-5 keep their meaning) or HostUnreachableError.
    """
    from atoll.fleet.remote import remote_action

    validate_host_name(host)
    argv = _argv(action, name, as_user, args)
    corr = _correlation(ctx)
    alias = ctx.host_alias(host)
    target = _target(host, name, as_user)
    with audit.action(ctx, f"session.{action}", target,
                      {"remote": True, "via": alias, **(details or {})}, corr):
        res = remote_action(alias, argv, corr, tty=tty)
    return res.text()


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
    plan: RemoteAttachPlan, foreground: Foreground, notice: Callable[[str], None], *,
    sleep: Callable[[float], None] = time.sleep,
    reconnected: Callable[[int], None] | None = None,
) -> int:
    """Run ``plan`` (``ssh -t HOST atoll attach ...``) on atoll's filtering relay with
    ``foreground`` (:func:`atoll.exec.process.run_foreground`'s signature) and, each time
    the connection drops after it was up (ssh exits 255), say so in one line through
    ``notice``, wait (:data:`BACKOFF`) and run it again, with a fresh master connection.
    Ends when ssh ends any other way: the user detached (C-b d, the relay's key: 0), the
    session ended, or the peer refused; Ctrl-C while waiting raises KeyboardInterrupt.
    A first run that fails before it was ever connected returns 255 at once (the host is
    unreachable: an error, not a drop). ``reconnected(n)`` is called before the n-th
    reconnect (the ledger's ``session.reconnect``). Returns the last exit status."""
    from atoll.core.termfilter import EscapeFilter
    from atoll.exec.relay import DETACH_KEY_NAME, Relay
    from atoll.fleet.remote import attach_argv

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
        notice(f"atoll: connection to {plan.host} lost; reconnecting to {plan.name} in "
               f"{delay:g}s (Ctrl-C, or {DETACH_KEY_NAME} while connecting, stops)")
        if reconnected is not None:
            reconnected(attempt)
        sleep(delay)
        if plan.alias:
            with contextlib.suppress(AtollError):
                argv = attach_argv(plan.alias, plan.remote_argv, plan.correlation)


def attach(
    ctx: Context, host: str, name: str, *, as_user: str | None, read_only: bool,
    notice: Callable[[str], None],
) -> None:
    """``atoll attach HOST:NAME``: plan and record it, run it with reconnects
    (:func:`attach_loop`), record the detach. Raises HostUnreachableError (ssh failed
    before it ever connected), or the peer's error class for its exit status."""
    from atoll.core.errors import HostUnreachableError
    from atoll.exec.process import run_foreground
    from atoll.fleet.remote import error_for

    plan = attach_plan(ctx, host, name, as_user=as_user, read_only=read_only)
    target = _target(host, name, as_user)

    def reconnected(n: int) -> None:
        audit.event(ctx, "session.reconnect", target, "intent",
                    {"remote": True, "attempt": n}, plan.correlation)

    status = SSH_FAILED
    try:
        status = attach_loop(plan, run_foreground, notice, reconnected=reconnected)
    finally:
        record_detach(ctx, plan, status)
    if status == SSH_FAILED:
        raise HostUnreachableError(f"{plan.alias}: ssh failed")
    if status:
        raise error_for(status, f"{plan.alias}: atoll exited with status {status}")
