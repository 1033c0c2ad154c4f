"""The fleet view's settings: refresh interval, terminal bell, notify command.

They come from the operator's config (:func:`atoll.config.load_config`); an unreadable or
invalid config gives the defaults plus a one-line message for the status line, so a typo in
``config.toml`` never keeps the fleet view from opening.
"""

from __future__ import annotations

from dataclasses import dataclass

from atoll.core.errors import AtollError


@dataclass(frozen=True)
class TuiSettings:
    """``refresh_seconds`` between background refreshes; ``bell`` when a session turns to
    waiting; ``notify_command`` argv run then (the session's fields appended), or None."""

    refresh_seconds: float = 2.0
    bell: bool = True
    notify_command: tuple[str, ...] | None = None


def load_settings() -> tuple[TuiSettings, str | None]:
    """Settings from the config file, and a message when the defaults had to be used."""
    from atoll.config import load_config

    try:
        cfg = load_config()
    except AtollError as exc:
        return TuiSettings(), f"config ignored, using defaults: {exc}"
    return TuiSettings(cfg.refresh_seconds, cfg.bell, cfg.notify_command), None
