"""Whom ``atoll new`` runs an agent as when no ``--as`` is given (DESIGN decision 11:
isolation is the default).

In order: ``default_agent_user`` from the operator's config; the operator's entry in the
host's map :data:`AGENT_MAP_PATH` (root's, written by ``atoll admin``); the conventional
``<operator>-agent``. The first two are explicit choices, so an agent user sudo does not
grant is an error; the convention is only a guess, so when that account is missing or not
granted the agent runs as the operator, with a one-line warning saying what that exposes and
how to create an agent user.
"""

from __future__ import annotations

import pwd
from dataclasses import dataclass

from atoll.core.agentmap import parse_agent_map
from atoll.core.errors import PermissionDeniedError
from atoll.fleet.users import may_act_as
from atoll.service.context import Context

AGENT_MAP_PATH = "/etc/atoll/agent-users.toml"
MAX_MAP_BYTES = 1 << 20


@dataclass(frozen=True)
class DefaultUser:
    """``user`` the agent runs as; ``warning`` (one line) when that is the operator."""

    user: str
    warning: str | None = None


def read_agent_map(path: str = AGENT_MAP_PATH) -> dict[str, str]:
    """The host's ``{operator: agent_user}`` map; ``{}`` when the file does not exist.

    Only a root-owned regular file (not a symlink) that neither group nor others may write,
    in a directory with the same properties, of at most :data:`MAX_MAP_BYTES`, is read: any
    other account could otherwise pick the account operators' agents run as. Raises
    ConfigError (exit 2) naming the file otherwise.
    """
    from atoll.exec.rootfile import read_root_file

    data = read_root_file(path, MAX_MAP_BYTES)
    if data is None:
        return {}
    return parse_agent_map(data, path)


def _exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


def _granted(ctx: Context, user: str, source: str) -> DefaultUser:
    if user != ctx.operator and not may_act_as(user):
        raise PermissionDeniedError(
            f"{source} names {user}, but sudo does not let {ctx.operator} act as it "
            f"(sudo -n -u {user} true); give --as USER or fix sudoers"
        )
    return DefaultUser(user)


def no_agent_user_warning(operator: str) -> str:
    """The one line printed when an agent runs as the operator for want of an agent user."""
    agent = f"{operator}-agent"
    return (
        f"atoll: warning: no agent user visible, so the agent runs as {operator} and can "
        f"reach {operator}'s keys and files; create one (README: Agent users: useradd -m "
        f"{agent} and the sudoers line '{operator} ALL=({agent}) NOPASSWD: ALL') or pass "
        f"--as {operator} to run as yourself"
    )


def default_agent_user(ctx: Context, map_path: str = AGENT_MAP_PATH) -> DefaultUser:
    """Whom to run a new agent as when ``--as`` is not given (see the module doc).

    Raises PermissionDeniedError (exit 4) when the config or the host map names an agent
    user sudo does not grant, ConfigError (exit 2) for an untrusted or invalid map file.
    """
    if ctx.default_agent_user:
        return _granted(ctx, ctx.default_agent_user, "default_agent_user in your config")
    mapped = read_agent_map(map_path).get(ctx.operator)
    if mapped:
        return _granted(ctx, mapped, map_path)
    conventional = f"{ctx.operator}-agent"
    if _exists(conventional) and may_act_as(conventional):
        return DefaultUser(conventional)
    return DefaultUser(ctx.operator, no_agent_user_warning(ctx.operator))
