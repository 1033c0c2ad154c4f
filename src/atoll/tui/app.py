"""The fleet TUI application: one screen, the fleet, built from :class:`FleetOptions`."""

from __future__ import annotations

from textual.app import App
from textual.screen import Screen

from atoll.core.models import Listing
from atoll.tui.fleet import FleetScreen
from atoll.tui.options import FleetOptions


class FleetApp(App[None]):
    """atoll's fleet view. Build it with :func:`atoll.tui.create_app`."""

    CSS_PATH = "fleet.tcss"
    TITLE = "atoll"
    ENABLE_COMMAND_PALETTE = False

    def __init__(self, options: FleetOptions) -> None:
        super().__init__()
        self.options = options

    def get_default_screen(self) -> Screen[None]:
        return FleetScreen(self.options)

    @property
    def fleet(self) -> FleetScreen:
        """The fleet screen (the bottom of the screen stack)."""
        screen = self.screen_stack[0]
        assert isinstance(screen, FleetScreen)
        return screen

    def apply_listing(self, listing: Listing) -> None:
        """Feed a listing into the same update path a background refresh uses."""
        self.fleet.apply_listing(listing)
