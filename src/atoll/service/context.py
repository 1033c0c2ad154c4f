"""What every use case needs to know about where and as whom it runs."""

from __future__ import annotations

import msgspec

from atoll.core.config import HostConfig
from atoll.exec.runner import current_user
from atoll.fleet.users import DEFAULT_GROUP, DEFAULT_PATTERNS, candidates
from atoll.tmux.client import DEFAULT_SOCKET


class Context(msgspec.Struct, frozen=True):
    """Operator identity (from the real uid), tmux socket name and agent-user discovery.

    Frozen: one is built per command (:func:`context_from_environment`) and shared by worker
    threads. ``correlation_id`` is the id this process was given by a peer
    (``--correlation-id``); actions of their own get a fresh one each."""

    socket: str = DEFAULT_SOCKET
    agent_users: tuple[str, ...] = ()
    agent_user_patterns: tuple[str, ...] = DEFAULT_PATTERNS
    agent_group: str | None = DEFAULT_GROUP
    host: str = "local"
    operator: str = msgspec.field(default_factory=current_user)
    correlation_id: str | None = None
    ledger_path: str | None = None
    record: bool = False
    hosts: tuple[HostConfig, ...] = ()
    host_timeout: float = 5.0
    default_agent_user: str | None = None
    allow: tuple[str, ...] = ()

    def host_alias(self, name: str) -> str:
        """The SSH alias of configured host ``name``; an unconfigured name is taken as an
        SSH alias itself (the operator typed it; it is validated and passed as one argv)."""
        for h in self.hosts:
            if h.name == name:
                return h.ssh
        return name

    def candidates(self) -> list[str]:
        """Agent-user candidates on this host (not yet probed with sudo)."""
        return candidates(self.agent_users, self.agent_user_patterns, self.agent_group)


def context_from_environment(correlation_id: str | None = None) -> Context:
    """The Context of a CLI or TUI run, from the operator's config file (if any).

    ``ATOLL_TMUX_SOCKET`` overrides the socket name (tests use throwaway sockets). A bad
    config file is a UsageError naming the file and key (exit 2).
    """
    import os

    from atoll.config import load_config

    cfg = load_config()
    return Context(
        socket=os.environ.get("ATOLL_TMUX_SOCKET") or DEFAULT_SOCKET,
        correlation_id=correlation_id,
        agent_users=tuple(cfg.agent_users),
        agent_user_patterns=tuple(cfg.agent_user_patterns),
        agent_group=cfg.agent_group or None,
        ledger_path=cfg.ledger_path,
        record=cfg.record,
        hosts=tuple(cfg.hosts),
        default_agent_user=cfg.default_agent_user,
        allow=tuple(cfg.allow),
    )
