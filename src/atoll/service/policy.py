"""The host policy (``/etc/atoll/policy.toml``, :mod:`atoll.core.policy`) as the use cases
apply it: read it (root's alone, else refused), refuse a new session it forbids (recorded in
the ledger as ``policy.refuse``, outcome ``denied``, before the error is raised).

Operators cannot loosen it: the file is root's, and their own or a project's config cannot
hold its keys (:func:`atoll.core.config.parse_config` refuses them by name).
"""

from __future__ import annotations

from atoll.core.errors import PermissionDeniedError
from atoll.core.policy import NO_POLICY, Policy, parse_policy
from atoll.exec.rootfile import read_root_file
from atoll.service import audit
from atoll.service.context import Context

POLICY_PATH = "/etc/atoll/policy.toml"
MAX_POLICY_BYTES = 1 << 16


def read_policy(path: str | None = None) -> Policy:
    """This host's policy (``path``, default :data:`POLICY_PATH`); :data:`NO_POLICY` when
    there is no file. ConfigError (exit 2) for a file that is not root's alone, too large,
    or invalid: a policy that cannot be trusted is not silently ignored."""
    path = POLICY_PATH if path is None else path
    data = read_root_file(path, MAX_POLICY_BYTES)
    return NO_POLICY if data is None else parse_policy(data, path)


def enforce_new(ctx: Context, island: str, as_user: str | None, argv: list[str],
                session: str, path: str | None = None) -> None:
    """Refuse (PermissionDeniedError, exit 4, naming the policy) a session the policy does
    not allow: ``island`` is the requested kind, ``as_user`` whom it runs as (``island``
    ``user`` as the operator is kind ``none``), ``argv`` the agent's command."""
    from atoll.core.policy import refusal

    path = POLICY_PATH if path is None else path
    policy = read_policy(path)
    if policy.empty:
        return
    kind = "none" if island == "user" and as_user in (None, ctx.operator) else island
    refused = refusal(policy, kind, argv)
    if refused is None:
        return
    rule, reason = refused
    details: dict[str, object] = {"policy": path, "rule": rule, "island": kind,
                                  "command": argv}
    audit.event(ctx, "policy.refuse", {"session": session, "agent_user": as_user or ""},
                "denied", details)
    raise PermissionDeniedError(f"refused by host policy {path} ({rule}): {reason}")
