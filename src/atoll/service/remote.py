"""Session actions on other hosts: ``HOST:NAME`` targets and ``atoll new --host``.

The peer runs its own ``atoll`` (so its sudoers decide, and its ledger records the action);
this side records the same action first, with a correlation id the peer receives, so both
ledgers can be joined later (shared/DESIGN.md decision 4, issue "Fleet across hosts").
"""

from __future__ import annotations

import msgspec

from atoll.core.names import validate_host_name, validate_session_name, validate_user_name
from atoll.service import audit
from atoll.service.context import Context


def _correlation(ctx: Context) -> str:
    if ctx.correlation_id is None:
        from atoll.ledger import new_correlation_id

        ctx.correlation_id = new_correlation_id()
    return ctx.correlation_id


def _argv(action: str, name: str, as_user: str | None, args: list[str]) -> list[str]:
    validate_session_name(name)
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
    switch: bool = False  # never a switch-client: the session is on another machine


def attach_plan(
    ctx: Context, host: str, name: str, *, as_user: str | None, read_only: bool
) -> RemoteAttachPlan:
    """Plan an attach to ``name`` on configured host (or SSH alias) ``host`` and record it
    in the ledger, with the correlation id the peer's ledger gets too, before it runs."""
    from atoll.fleet.remote import attach_argv

    validate_host_name(host)
    argv = _argv("attach", name, as_user, ["--read-only"] if read_only else [])
    ctx.correlation_id = None  # one id per attach
    corr = _correlation(ctx)
    plan = RemoteAttachPlan(attach_argv(ctx.host_alias(host), argv, corr), host, name, as_user,
                            read_only)
    audit.event(ctx, "session.attach", _target(host, name, as_user), "intent",
                {"remote": True, "read_only": read_only})
    return plan


def record_detach(ctx: Context, plan: RemoteAttachPlan, status: int) -> None:
    """The remote attach's outcome and its end (``status``: the ssh exit status)."""
    audit.event(ctx, "session.attach", _target(plan.host, plan.name, plan.as_user),
                "ok" if status == 0 else "error", {"remote": True, "status": status})
    audit.event(ctx, "session.detach", _target(plan.host, plan.name, plan.as_user), "ok",
                {"remote": True, "status": status})


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
    with audit.action(ctx, f"session.{action}", target, {"remote": True, **(details or {})}):
        res = remote_action(alias, argv, corr, tty=tty)
    return res.text()
