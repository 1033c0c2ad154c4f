"""What an attach does with the operator's terminal: the relay and the way back.

An attach runs on atoll's pty relay (:mod:`atoll.exec.relay`) when it is nested in the
operator's tmux or reaches a tmux server the operator does not own. There, the relay's
detach key (Ctrl-]) always brings the operator back, whatever either tmux binds: the outer
tmux would take its own prefix, and a server the agent owns may rebind or unbind its detach
key. Output from a server the operator does not own passes
:class:`atoll.core.termfilter.EscapeFilter` (issue 11.5).
"""

from __future__ import annotations

import os
import sys
from typing import Protocol

from atoll.core.termfilter import EscapeFilter
from atoll.exec.relay import DETACH_KEY_NAME, Relay


class _Plan(Protocol):
    @property
    def nested(self) -> bool: ...
    @property
    def filtered(self) -> bool: ...
    @property
    def switch(self) -> bool: ...


NESTED_WAY_BACK = f"press {DETACH_KEY_NAME} to come back here"


def relay_for(plan: _Plan) -> Relay | None:
    """A fresh relay for one run of ``plan`` (a filter holds state), or None to hand the
    terminal to tmux directly."""
    if not plan.nested:
        return None
    return Relay(EscapeFilter().feed if plan.filtered else None)


def way_back(plan: _Plan) -> str:
    """One line: how the operator gets back from this attach."""
    if plan.switch:
        return "prefix, then L (last session) or s (choose) switches back"
    if plan.nested:
        return NESTED_WAY_BACK
    return "prefix (C-b), then d detaches"


def announce(name: str, plan: _Plan, inside_tmux: str | None) -> None:
    """Say how to come back: one line on stderr (it stays on the screen tmux restores on
    detach) and, inside tmux, for a few seconds in the operator's own status line."""
    line = f"atoll: attaching to {name}: {way_back(plan)}"
    print(line, file=sys.stderr, flush=True)
    pane = os.environ.get("TMUX_PANE", "")
    if inside_tmux and plan.nested and pane.startswith("%") and pane[1:].isdigit():
        from atoll.tmux.client import display_on_client

        display_on_client(inside_tmux.split(",")[0], pane, line)
