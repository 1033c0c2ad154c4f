"""The status classifier (shared/DESIGN.md decision 5). Pure: every input is an argument.

Evidence, strongest first:

1. the pane is dead (``remain-on-exit`` kept it): ``exited`` with its exit status;
2. the agent's own hook report (``@atoll_state`` set by ``atoll hook EVENT``);
3. the screen: per-agent waiting patterns, then running patterns (:mod:`atoll.core.patterns`);
4. output activity: a window that printed within ``active_window`` seconds is ``running``,
   otherwise ``idle`` for ``now - window_activity`` seconds;
5. nothing usable: ``unknown``.

``active_window`` defaults to 3 s: agent spinners redraw at least every second (seen in the
captured fixtures), and a prompt left alone prints nothing.
"""

from __future__ import annotations

import msgspec

from atoll.core.models import Status
from atoll.core.patterns import generic_waiting, patterns_for

HOOK_STATES: dict[str, Status] = {
    "waiting": "waiting",
    "running": "running",
    "idle": "idle",
}

# Events an agent's hooks may send to ``atoll hook EVENT`` and the state each one sets.
# ``clear`` removes the report so the screen and activity decide again.
HOOK_EVENTS: dict[str, str | None] = {
    "waiting": "waiting",
    "permission": "waiting",
    "notification": "waiting",
    "running": "running",
    "prompt": "running",
    "tool": "running",
    "start": "running",
    "idle": "idle",
    "stop": "idle",
    "done": "idle",
    "clear": None,
}

DEFAULT_ACTIVE_WINDOW = 3.0


class Evidence(msgspec.Struct, frozen=True):
    """What the classifier looks at, for one pane."""

    agent: str
    dead: bool = False
    dead_status: int | None = None
    hook_state: str = ""
    window_activity: int | None = None
    screen: str | None = None
    screen_match: Status | None = None  # an earlier match_screen() result, when screen is None


class Verdict(msgspec.Struct, frozen=True):
    """A status, the idle seconds when known, and which evidence decided it."""

    status: Status
    idle_seconds: int | None
    exit_status: int | None
    source: str


def screen_tail(screen: str, lines: int) -> str:
    """The last ``lines`` non-blank-trailing lines of ``screen``."""
    rows = screen.rstrip("\n").split("\n")
    while rows and not rows[-1].strip():
        rows.pop()
    return "\n".join(rows[-lines:])


def match_screen(agent: str, screen: str) -> Status | None:
    """``waiting`` or ``running`` if a pattern of ``agent`` matches the screen's tail."""
    pats = patterns_for(agent)
    tail = screen_tail(screen, pats.tail_lines)
    if any(p.search(tail) for p in pats.waiting) or any(p.search(tail) for p in generic_waiting()):
        return "waiting"
    if any(p.search(tail) for p in pats.running):
        return "running"
    return None


def classify(ev: Evidence, now: float, active_window: float = DEFAULT_ACTIVE_WINDOW) -> Verdict:
    """Decide the status of one pane at time ``now`` (seconds since the epoch)."""
    idle: int | None = None
    if ev.window_activity is not None:
        idle = max(0, int(now - ev.window_activity))
    if ev.dead:
        return Verdict("exited", idle, ev.dead_status, "dead")
    hook = HOOK_STATES.get(ev.hook_state)
    if hook is not None:
        return Verdict(hook, idle if hook == "idle" else None, None, "hook")
    seen = match_screen(ev.agent, ev.screen) if ev.screen is not None else ev.screen_match
    if seen is not None:
        return Verdict(seen, idle if seen == "waiting" else None, None, "screen")
    if idle is None:
        return Verdict("unknown", None, None, "none")
    if now - (ev.window_activity or 0) < active_window:
        return Verdict("running", None, None, "activity")
    return Verdict("idle", idle, None, "activity")
