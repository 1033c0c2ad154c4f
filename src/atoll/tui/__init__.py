"""atoll's fleet TUI (Textual): every visible session with status, owner and load.

:func:`create_app` is the one way to build it: for ``atoll`` on a terminal, ``atoll tui``,
``python -m atoll.tui``, the snapshot tests and bench/tui_bench.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from atoll.tui.app import FleetApp
    from atoll.tui.options import FleetOptions


def create_app(options: FleetOptions | None = None, *, read_only: bool = False) -> FleetApp:
    """The fleet view app. ``options`` None: live, on this operator's context and config
    (a config problem becomes a status-line message, not an error). ``read_only`` hides and
    refuses every action that changes something (attach, type, new, kill); it applies to
    the live app only (given ``options`` carry their own)."""
    from atoll.tui.app import FleetApp

    if options is None:
        from atoll.tui.backend import Backend, make_context
        from atoll.tui.options import FleetOptions
        from atoll.tui.settings import load_settings

        settings, problem = load_settings()
        options = FleetOptions(Backend(make_context()), read_only=read_only,
                               settings=settings, startup_message=problem)
    return FleetApp(options)


__all__ = ["create_app"]
