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

import os
import pwd
import stat
from dataclasses import dataclass

from atoll.core.agentmap import parse_agent_map
from atoll.core.config import ConfigError
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


def _trusted(st: os.stat_result) -> bool:
    return st.st_uid == 0 and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def read_agent_map(path: str = AGENT_MAP_PATH) -> dict[str, str]:
    """The host's ``{operator: agent_user}`` map; ``{}`` when the file does not exist.

    Only a root-owned regular file (not a symlink) that neither group nor others may write,
    in a directory with the same properties, of at most :data:`MAX_MAP_BYTES`, is read: any
    other account could otherwise pick the account operators' agents run as. Raises
    ConfigError (exit 2) naming the file otherwise.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        st = os.fstat(fd)
        parent = os.stat(os.path.dirname(path) or ".")
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"{path}: not a regular file")
        if not (_trusted(st) and _trusted(parent)):
            raise ConfigError(f"{path}: refusing it: it and its directory must be root's and "
                              "writable by nobody else")
        data = os.read(fd, MAX_MAP_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_MAP_BYTES:
        raise ConfigError(f"{path}: file larger than {MAX_MAP_BYTES} bytes")
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
