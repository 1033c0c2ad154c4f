"""Session actions on other hosts: ``HOST:NAME`` targets and ``atoll new --host``.

The peer runs its own ``atoll`` (so its sudoers decide, and its ledger records the action);
this side records the same action first, with a correlation id the peer receives, so both
ledgers can be joined later (shared/DESIGN.md decision 4, issue "Fleet across hosts").
"""

from __future__ import annotations

import msgspec

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
                            corr)
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
