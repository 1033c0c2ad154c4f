"""Every screen captured from the real agent CLIs is classified as its manifest expects.

The fixtures (tests/fixtures/screens, made by scripts/capture_screens.py and
scripts/capture_states.py) are plain-text ``tmux capture-pane -p`` screens; manifest.toml
gives each one's agent, expected status and, for ``waiting``/``error``, the expected reason.
A screen the classifier's screen reading finds nothing decisive on is ``idle`` (the
classifier then falls back to activity timestamps).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from atoll.core.patterns import (
    KNOWN_AGENTS,
    AgentPatterns,
    generic_waiting,
    patterns_for,
)
from atoll.core.screen import regions
from atoll.core.status import Evidence, read_screen
from atoll.core.status import classify as classify_pane

SCREENS = Path(__file__).resolve().parent.parent / "fixtures" / "screens"
MANIFEST = tomllib.loads((SCREENS / "manifest.toml").read_text(encoding="utf-8"))["screen"]
STATUSES = ("running", "waiting", "error", "idle")


# captured before reasons existed; their reason is checked by the table test all the same
LEGACY_NO_REASON: set[str] = set()


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_screen_is_classified_as_expected(entry: dict[str, str]) -> None:
    screen = (SCREENS / entry["file"]).read_text(encoding="utf-8")
    seen = read_screen(entry["agent"], screen)
    assert (seen.status or "idle") == entry["expected"], entry["how"]
    if entry.get("reason"):
        assert seen.reason == entry["reason"], entry["how"]
    # the classifier fed this screen, and nothing else, agrees
    verdict = classify_pane(Evidence(agent=entry["agent"], window_activity=0, screen=screen),
                            10_000.0)
    assert verdict.status == entry["expected"]


def test_manifest_is_complete_and_well_formed() -> None:
    files = {e["file"] for e in MANIFEST}
    on_disk = {p.relative_to(SCREENS).as_posix() for p in SCREENS.glob("*/*.txt")}
    assert files == on_disk
    assert len(files) == len(MANIFEST)
    for e in MANIFEST:
        assert set(e) >= {"file", "agent", "expected", "cli_version", "how"}
        assert e["agent"] in KNOWN_AGENTS
        assert e["expected"] in STATUSES
        assert e["file"].startswith(f"{e['agent']}/")
        assert e["cli_version"] and e["how"]


def test_every_agent_has_waiting_screens() -> None:
    for agent in KNOWN_AGENTS:
        waiting = [e for e in MANIFEST if e["agent"] == agent and e["expected"] == "waiting"]
        assert len(waiting) >= 1, agent
        if agent != "shell":
            assert len(waiting) >= 2, agent


def test_every_waiting_and_error_screen_has_a_reason() -> None:
    for e in MANIFEST:
        if e["expected"] in ("waiting", "error") and e["file"] not in LEGACY_NO_REASON:
            assert e.get("reason"), e["file"]


def test_every_running_screen_has_no_open_dialog() -> None:
    """No waiting pattern matches where a dialog can be open on a running screen (text of
    answered dialogs may stay in an inline TUI's scrollback above the input box)."""
    for e in MANIFEST:
        if e["expected"] != "running":
            continue
        pats = patterns_for(e["agent"])
        reg = regions(pats.layout, (SCREENS / e["file"]).read_text(encoding="utf-8"),
                      pats.tail_lines)
        text = reg.tail if reg.dialog is None else reg.dialog
        hits = [p.pattern for p in (*pats.waiting, *generic_waiting()) if p.search(text)]
        assert hits == [], e["file"]


def test_idle_screens_have_no_busy_marker_in_the_status_line() -> None:
    """Every idle fixture with "esc to interrupt" somewhere on it (prose, typed text) has
    it outside the region where the CLI draws its busy marker."""
    for e in MANIFEST:
        if e["expected"] != "idle":
            continue
        screen = (SCREENS / e["file"]).read_text(encoding="utf-8")
        assert read_screen(e["agent"], screen).status is None, e["file"]


def test_unknown_agent_gets_empty_patterns() -> None:
    assert patterns_for("my-own-tool") == AgentPatterns()
    # every known agent but the plain shell has waiting rules of its own
    assert all(patterns_for(a).waiting for a in KNOWN_AGENTS if a != "shell")
