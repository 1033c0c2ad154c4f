"""The status classifier (shared/DESIGN.md decision 5). Pure: every input is an argument.

Evidence and precedence (docs/status.md has the table and the reasons for each rule):

1. the pane is dead (``remain-on-exit`` kept it): ``exited`` with its exit status;
2. a screen that needs a human: a ``waiting`` dialog, then an ``error`` banner (with a
   ``reason``). It beats any hook report: a dialog does not redraw, and the hooks miss
   states (Claude Code fires no Stop when a turn is interrupted, none between "approved"
   and "tool finished");
3. a busy marker where the CLI draws it (footer, status or spinner line): ``running``
   whatever the age of the last output, unless the pane's process tree used less than
   ``QUIET_CPU`` % CPU and printed nothing for ``STUCK_AFTER`` seconds (a frozen program):
   then ``idle`` (source ``cpu``). It beats a hook ``waiting`` (Claude Code reports
   nothing between "approved" and "tool finished") but not a hook ``idle`` (the agent's
   own word that its turn ended);
4. the agent's own hook report (``@atoll_state`` set by ``atoll hook EVENT``), except a
   ``running`` report on a pane that printed nothing for ``STUCK_AFTER`` seconds at under
   ``QUIET_CPU`` % CPU (a missed Stop), which falls through to 5;
5. output activity: a window that printed within ``active_window`` seconds is ``running``;
   a silent pane whose processes use at least ``BUSY_CPU`` % CPU is ``running`` (source
   ``cpu``); otherwise ``idle`` for ``now - window_activity`` seconds;
6. nothing usable: ``unknown``.

``active_window`` defaults to 3 s: agent spinners redraw at least every second (seen in the
captured fixtures), and a prompt left alone prints nothing.
"""

from __future__ import annotations

import re

import msgspec

from atoll.core.models import Status
from atoll.core.patterns import GENERIC_REASONS, generic_waiting, patterns_for
from atoll.core.screen import regions, tail_rows

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
# A busy marker or a hook "running" is not believed once the pane printed nothing for this
# long while its process tree used (almost) no CPU: Claude Code's spinner redraws several
# times a second and Codex's status line every second while a turn runs (seen in the
# captures), so ten minutes of silence at no CPU is a frozen program or a missed Stop,
# not a long model call (those stream tokens or pings within a minute).
STUCK_AFTER = 600.0
QUIET_CPU = 1.0
# A silent pane above this CPU share (percent of one core) is working (a build, a test run
# with its output redirected): an idle agent at its prompt uses ~0-2 % (measured with
# fleet/procs.py on the captured CLIs).
BUSY_CPU = 20.0


class Evidence(msgspec.Struct, frozen=True):
    """What the classifier looks at, for one pane. ``cpu_percent``: CPU of the pane's
    process tree between the last two samples (percent of one core; None = unmeasured).
    ``screen_reason``: the reason of an earlier :func:`read_screen` (with ``screen_match``).
    """

    agent: str
    dead: bool = False
    dead_status: int | None = None
    hook_state: str = ""
    window_activity: int | None = None
    screen: str | None = None
    screen_match: Status | None = None  # an earlier match_screen() result, when screen is None
    screen_reason: str = ""
    cpu_percent: float | None = None


class Verdict(msgspec.Struct, frozen=True):
    """A status, the idle seconds when known, which evidence decided it, and for
    ``waiting``/``error`` a short machine-readable ``reason`` (see atoll.core.patterns)."""

    status: Status
    idle_seconds: int | None
    exit_status: int | None
    source: str
    reason: str | None = None


class ScreenRead(msgspec.Struct, frozen=True):
    """What a screen says: ``status`` (None = nothing decisive) and its ``reason``."""

    status: Status | None
    reason: str = ""


def screen_tail(screen: str, lines: int) -> str:
    """The last ``lines`` non-blank-trailing lines of ``screen``."""
    return "\n".join(tail_rows(screen, lines))


def _first(patterns: tuple[re.Pattern[str], ...], reasons: tuple[str, ...],
           text: str) -> str | None:
    for p, r in zip(patterns, reasons, strict=True):
        if p.search(text):
            return r
    return None


def read_screen(agent: str, screen: str) -> ScreenRead:
    """Read one screen of ``agent``: ``waiting`` (a dialog where it can be open), else
    ``running`` (a busy marker in the CLI's status line or footer), else ``error`` (an
    error banner after the user's newest prompt), else nothing. Regions: atoll.core.screen.
    """
    pats = patterns_for(agent)
    reg = regions(pats.layout, screen, pats.tail_lines)
    dialog = reg.tail if reg.dialog is None else reg.dialog
    why = _first(pats.waiting, pats.waiting_reasons, dialog)
    if why is None:
        why = _first(generic_waiting(), GENERIC_REASONS, dialog)
    if why is not None:
        return ScreenRead("waiting", why)
    if any(p.search(reg.busy) for p in pats.running):
        return ScreenRead("running")
    why = _first(pats.error, pats.error_reasons, reg.latest)
    if why is not None:
        return ScreenRead("error", why)
    return ScreenRead(None)


def match_screen(agent: str, screen: str) -> Status | None:
    """``waiting``, ``running`` or ``error`` if the screen of ``agent`` says so (see
    :func:`read_screen`), else None."""
    return read_screen(agent, screen).status


def _stuck(ev: Evidence, idle: int | None) -> bool:
    return (ev.cpu_percent is not None and ev.cpu_percent < QUIET_CPU
            and idle is not None and idle >= STUCK_AFTER)


def classify(ev: Evidence, now: float, active_window: float = DEFAULT_ACTIVE_WINDOW) -> Verdict:
    """Decide the status of one pane at time ``now`` (seconds since the epoch); the
    precedence is the module docstring's."""
    idle: int | None = None
    if ev.window_activity is not None:
        idle = max(0, int(now - ev.window_activity))
    if ev.dead:
        return Verdict("exited", idle, ev.dead_status, "dead")
    if ev.screen is not None:
        seen = read_screen(ev.agent, ev.screen)
    else:
        seen = ScreenRead(ev.screen_match, ev.screen_reason)
    if seen.status in ("waiting", "error"):
        return Verdict(seen.status, idle, None, "screen", seen.reason or None)
    hook = HOOK_STATES.get(ev.hook_state)
    if seen.status == "running" and hook != "idle":
        if _stuck(ev, idle):
            return Verdict("idle", idle, None, "cpu")
        return Verdict("running", None, None, "screen")
    if hook is not None and not (hook == "running" and _stuck(ev, idle)):
        return Verdict(hook, idle if hook == "idle" else None, None, "hook",
                       "hook" if hook == "waiting" else None)
    if idle is None:
        return Verdict("unknown", None, None, "none")
    if now - (ev.window_activity or 0) < active_window:
        return Verdict("running", None, None, "activity")
    if ev.cpu_percent is not None and ev.cpu_percent >= BUSY_CPU:
        return Verdict("running", None, None, "cpu")
    return Verdict("idle", idle, None, "activity")
