"""What a fleet view runs with: its backend (or none), settings, clock and terminal hand-over.

The screen reads these and nothing of the app, so ``app.py`` (which builds the screen) and
``fleet.py`` (the screen) do not import each other. :func:`atoll.tui.create_app` is the one
place that builds them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from atoll.exec.process import run_foreground
from atoll.tui.backend import Backend
from atoll.tui.settings import TuiSettings

Foreground = Callable[..., int]
"""``foreground(argv, *, unset_tmux, relay) -> exit status``: runs argv with the terminal."""


@dataclass
class FleetOptions:
    """``backend`` None runs without any service call: rows then come only through
    ``FleetApp.apply_listing`` (snapshot tests and the benchmark). ``operator`` and ``cwd``
    default to the backend's; ``agent_users`` None means "probe when the new-session form
    first needs them"; ``live_refresh`` False starts no background refresh timer."""

    backend: Backend | None
    read_only: bool = False
    settings: TuiSettings = field(default_factory=TuiSettings)
    clock: Callable[[], float] = time.time
    foreground: Foreground = run_foreground
    operator: str | None = None
    cwd: str | None = None
    agent_users: list[str] | None = None
    live_refresh: bool = True
    startup_message: str | None = None

    def __post_init__(self) -> None:
        if self.operator is None:
            self.operator = self.backend.operator if self.backend else "unknown"
        if self.cwd is None:
            self.cwd = self.backend.cwd if self.backend else "/"
