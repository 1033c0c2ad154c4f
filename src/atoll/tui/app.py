"""The fleet TUI application: settings, backend and the fleet screen.

``FleetApp(backend=None)`` runs without any service calls: rows then come only through
:meth:`FleetApp.apply_listing` (snapshot tests and the benchmark use this seam).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from textual.app import App
from textual.screen import Screen

from atoll.core.models import Listing
from atoll.exec.process import run_foreground
from atoll.tui.backend import Backend
from atoll.tui.fleet import FleetScreen
from atoll.tui.settings import TuiSettings

Foreground = Callable[..., int]
"""``foreground(argv, *, unset_tmux) -> exit status``: runs argv with the terminal."""


class FleetApp(App[None]):
    """atoll's fleet view."""

    CSS_PATH = "fleet.tcss"
    TITLE = "atoll"
    ENABLE_COMMAND_PALETTE = False

    def __init__(
        self,
        backend: Backend | None,
        *,
        read_only: bool = False,
        settings: TuiSettings | None = None,
        clock: Callable[[], float] = time.time,
        foreground: Foreground = run_foreground,
        operator: str | None = None,
        cwd: str | None = None,
        agent_users: list[str] | None = None,
        live_refresh: bool = True,
        startup_message: str | None = None,
    ) -> None:
        super().__init__()
        self.backend = backend
        self.read_only = read_only
        self.settings = settings or TuiSettings()
        self.clock = clock
        self.foreground = foreground
        self.operator = operator or (backend.operator if backend else "unknown")
        self.cwd = cwd or (backend.cwd if backend else os.getcwd())
        self.agent_users = agent_users
        self.live_refresh = live_refresh
        self.startup_message = startup_message

    def get_default_screen(self) -> Screen[None]:
        return FleetScreen()

    @property
    def fleet(self) -> FleetScreen:
        """The fleet screen (the bottom of the screen stack)."""
        screen = self.screen_stack[0]
        assert isinstance(screen, FleetScreen)
        return screen

    def apply_listing(self, listing: Listing) -> None:
        """Feed a listing into the same update path a background refresh uses."""
        self.fleet.apply_listing(listing)
