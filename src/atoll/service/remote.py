"""Session actions on other hosts: ``HOST:NAME`` targets and ``atoll new --host``.

The peer runs its own ``atoll`` (so its sudoers decide, and its ledger records the action);
this side records the same action first, with a correlation id the peer receives, so both
ledgers can be joined later (shared/DESIGN.md decision 4, issue "Fleet across hosts").
"""

from __future__ import annotations

from atoll.core.names import validate_host_name, validate_session_name, validate_user_name
from atoll.service import audit
from atoll.service.context import Context


def _correlation(ctx: Context) -> str:
    if ctx.correlation_id is None:
        from atoll.ledger import new_correlation_id

        ctx.correlation_id = new_correlation_id()
    return ctx.correlation_id


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
    validate_session_name(name)
    argv = ["atoll", action, name]
    if as_user is not None:
        argv += ["--as", validate_user_name(as_user)]
    argv += args
    corr = _correlation(ctx)
    alias = ctx.host_alias(host)
    target = {"host": host, "session": name, **({"agent_user": as_user} if as_user else {})}
    ledger_action = {"attach": "session.attach"}.get(action, f"session.{action}")
    with audit.action(ctx, ledger_action, target, {"remote": True, **(details or {})}):
        res = remote_action(alias, argv, corr, tty=tty)
    return res.text()
