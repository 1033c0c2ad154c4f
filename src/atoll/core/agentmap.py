"""The host's person-to-agent-user map (``/etc/atoll/agent-users.toml``), parsed.

The file is written by root (``atoll admin`` writes it; an admin may write it by hand):

    [agent_users]
    ana = "ana-agent"
    marcus = "marcus-bot"

Each key is an operator's login name, each value the agent user ``atoll new`` runs that
operator's agents as by default. Reading the file (ownership, size cap) is
:mod:`atoll.service.defaultuser`'s job; this is the pure part.
"""

from __future__ import annotations

from atoll.core.config import ConfigError, _load_toml
from atoll.core.errors import UsageError
from atoll.core.names import validate_user_name

MAX_ENTRIES = 10_000


def parse_agent_map(data: bytes, source: str) -> dict[str, str]:
    """``{operator: agent_user}`` from the file's bytes. Raises ConfigError (exit 2) naming
    ``source`` for invalid TOML, unknown keys, or names that are not Linux user names."""
    raw = _load_toml(data, source)
    for key in raw:
        if key != "agent_users":
            raise ConfigError(f"{source}: unknown key {key[:64]!r}")
    table = raw.get("agent_users", {})
    if not isinstance(table, dict) or len(table) > MAX_ENTRIES:
        raise ConfigError(f"{source}: agent_users must be a table of at most {MAX_ENTRIES} "
                          "operator = \"agent-user\" entries")
    out: dict[str, str] = {}
    for person, agent in table.items():
        if not isinstance(agent, str):
            raise ConfigError(f"{source}: agent_users.{person[:64]} must be a user name")
        try:
            validate_user_name(person)
            validate_user_name(agent)
        except UsageError as exc:
            raise ConfigError(f"{source}: agent_users: {exc}") from exc
        out[person] = agent
    return out
