"""The tmux adapter: one client per (runner, socket)."""

from atoll.tmux.client import DEFAULT_SOCKET, TmuxClient

__all__ = ["DEFAULT_SOCKET", "TmuxClient"]
