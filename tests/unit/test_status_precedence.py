"""The classifier's precedence (atoll.core.status module docstring, docs/status.md), table-
tested on screens captured from the real CLIs (tests/fixtures/screens) and the other
evidence a listing has: the hook report, the output age and the pane's CPU."""

from __future__ import annotations

from pathlib import Path

import pytest

from atoll.core.status import (
    BUSY_CPU,
    QUIET_CPU,
    STUCK_AFTER,
    Evidence,
    classify,
    match_screen,
    read_screen,
)

SCREENS = Path(__file__).resolve().parent.parent / "fixtures" / "screens"
NOW = 1_000_000.0


def screen(rel: str) -> str:
    return (SCREENS / rel).read_text(encoding="utf-8")


SPINNER = "claude/running_thinking.txt"
PERMISSION = "claude/permission_bash.txt"
AUTH_ERROR = "claude/error_auth_w200.txt"
IDLE = "claude/idle_after_answer.txt"
CODEX_WORKING = "codex/running_working.txt"

CASES = [
    # (name, screen file or None, hook, seconds since output, cpu %, status, source, reason)
    ("busy marker, output long ago: still running", SPINNER, "", 3000, None,
     "running", "screen", None),
    ("busy marker, old output, some CPU: running", SPINNER, "", STUCK_AFTER + 5, 3.0,
     "running", "screen", None),
    ("busy marker, no CPU for longer than STUCK_AFTER: stuck, idle", SPINNER, "",
     STUCK_AFTER + 5, 0.0, "idle", "cpu", None),
    ("busy marker, no CPU but recent output: running", SPINNER, "", 30, 0.0,
     "running", "screen", None),
    ("codex status line, old output: running", CODEX_WORKING, "", 900, None,
     "running", "screen", None),
    ("permission dialog beats a stale hook idle", PERMISSION, "idle", 400, 0.0,
     "waiting", "screen", "permission"),
    ("permission dialog beats hook running", PERMISSION, "running", 5, 0.0,
     "waiting", "screen", "permission"),
    ("error banner beats a stale hook idle", AUTH_ERROR, "idle", 50, 0.0,
     "error", "screen", "login"),
    ("error banner with no hook", AUTH_ERROR, "", 50, 0.0, "error", "screen", "login"),
    ("busy screen beats a hook waiting left over from an approval", SPINNER, "waiting",
     10, 40.0, "running", "screen", None),
    ("hook idle beats a busy marker (the agent said its turn ended)", SPINNER, "idle",
     10, 0.0, "idle", "hook", None),
    ("hook running, quiet screen, recent output: running", IDLE, "running", 20, 0.0,
     "running", "hook", None),
    ("hook running, quiet screen, no CPU for STUCK_AFTER: not running forever", IDLE,
     "running", STUCK_AFTER + 1, 0.0, "idle", "activity", None),
    ("hook running, quiet screen, long silence but CPU: running", IDLE, "running",
     STUCK_AFTER + 1, 50.0, "running", "hook", None),
    ("silent job at high CPU: running", IDLE, "", 12, 99.0, "running", "cpu", None),
    ("silent, CPU just under BUSY_CPU: idle", IDLE, "", 12, BUSY_CPU - 1, "idle",
     "activity", None),
    ("quiet screen, no CPU: idle", IDLE, "", 12, QUIET_CPU / 2, "idle", "activity", None),
    ("no screen, unmeasured CPU: idle by activity", None, "", 12, None, "idle", "activity",
     None),
]


@pytest.mark.parametrize(
    ("name", "rel", "hook", "age", "cpu", "status", "source", "reason"), CASES,
    ids=[c[0] for c in CASES],
)
def test_precedence(name: str, rel: str | None, hook: str, age: float, cpu: float | None,
                    status: str, source: str, reason: str | None) -> None:
    ev = Evidence(agent="codex" if rel and rel.startswith("codex/") else "claude",
                  hook_state=hook, window_activity=int(NOW - age),
                  screen=screen(rel) if rel else None, cpu_percent=cpu)
    v = classify(ev, NOW)
    assert (v.status, v.source, v.reason) == (status, source, reason), name


def test_an_earlier_screen_read_gives_the_same_verdict() -> None:
    text = screen(AUTH_ERROR)
    read = read_screen("claude", text)
    direct = classify(Evidence(agent="claude", window_activity=int(NOW - 50), screen=text), NOW)
    cached = classify(Evidence(agent="claude", window_activity=int(NOW - 50),
                               screen_match=read.status, screen_reason=read.reason), NOW)
    assert direct == cached
    assert direct.status == "error" and direct.reason == "login"


def test_the_old_entry_points_keep_working() -> None:
    # other tools call these three directly (issue 14)
    from atoll.core.patterns import KNOWN_AGENTS

    assert "claude" in KNOWN_AGENTS
    assert match_screen("claude", screen(PERMISSION)) == "waiting"
    v = classify(Evidence(agent="claude", window_activity=int(NOW - 100),
                          screen=screen(IDLE)), NOW)
    assert (v.status, v.source) == ("idle", "activity")


@pytest.mark.parametrize(
    ("agent", "text"),
    [
        # the marker's text outside the place the CLI draws it
        ("claude", "⏺ Run the build; press esc to interrupt it.\n\n" + "─" * 40 + "\n❯ \n"
         + "─" * 40 + "\n  ? for shortcuts\n"),
        ("claude", "⏺ Done.\n\n" + "─" * 40 + "\n❯ why does it say esc to interrupt\n"
         + "─" * 40 + "\n  ? for shortcuts\n"),
        ("codex", "• Working (12s • esc to interrupt)\n\n• Done.\n\n─ Worked for 1m 22s ─\n\n"
         "› Ask Codex to do anything\n\n  ? for shortcuts\n"),
        ("codex", "• Done.\n\n› type esc to interrupt) here • esc to interrupt)\n\n"
         "  ? for shortcuts\n"),
    ],
)
def test_busy_text_outside_the_status_line_is_not_running(agent: str, text: str) -> None:
    assert match_screen(agent, text) is None


RULE = "─" * 60


@pytest.mark.parametrize(
    ("agent", "text", "status", "reason"),
    [
        # wordings quoted in issue 14 (from other session managers' screens), laid out
        # the way each CLI draws them
        ("claude", f"❯ fix it\n  ⎿  API Error: 401 · Please run /login\n\n{RULE}\n❯ \n{RULE}\n"
         "  ? for shortcuts\n", "error", "login"),
        ("claude", f"❯ fix it\n● hi\n\n✻ Pondering… (12s · ↓ 200 tokens)\n\n{RULE}\n❯ \n{RULE}\n"
         "  ⏵⏵ bypass permissions on (shift+tab to cycle)\n", "running", ""),
        ("claude", f"✻ Pondering… (12s · ↑ 20 tokens)\n{RULE}\n❯ \n{RULE}\n"
         "  ctrl+c to interrupt\n", "running", ""),
        ("claude", " Chrome wants to click on example.com\n ❯ 1. Allow\n   2. Deny (esc)\n",
         "waiting", "permission"),
        ("claude", " Do you want to make this edit to hello.txt?\n ❯ 1. Yes\n   2. No, and tell "
         "Claude what to do differently (esc)\n", "waiting", "permission"),
        ("codex", "  Question 1/3 (3 unanswered)\n  Which file?\n  › 1. a\n    2. b\n"
         "  tab to add notes | enter to submit answer | ←/→ to navigate questions\n",
         "waiting", "question"),
        ("codex", "  Allow the atoll MCP server to run tool \"touch\"?\n  › 1. Allow\n    2. Deny\n"
         "  enter to submit | esc to cancel\n", "waiting", "permission"),
        ("opencode", "  ┃  Which file?\n  ┃  1. a\n  ┃  2. b\n  ┃\n"
         "  ┃  ↑↓ select  enter submit  esc dismiss\n", "waiting", "question"),
    ],
)
def test_issue_wordings(agent: str, text: str, status: str, reason: str) -> None:
    read = read_screen(agent, text)
    assert (read.status, read.reason) == (status, reason)
