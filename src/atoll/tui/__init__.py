"""atoll's fleet TUI (Textual): every visible session with status, owner and load.

:func:`run_tui` is the entry point (``atoll`` on a terminal, ``atoll tui``, or
``python -m atoll.tui``).
"""

from __future__ import annotations


def run_tui(read_only: bool = False) -> None:
    """Run the fleet view on this terminal until the user quits.

    ``read_only`` hides and refuses every action that changes something (attach, type,
    new, kill); watching and previews stay available."""
    from atoll.tui.app import FleetApp
    from atoll.tui.backend import Backend, make_context
    from atoll.tui.settings import load_settings

    settings, problem = load_settings()
    app = FleetApp(Backend(make_context()), read_only=read_only, settings=settings,
                   startup_message=problem)
    app.run()


__all__ = ["run_tui"]
