"""Every screen captured from the real agent CLIs is classified as its manifest expects.

The fixtures (tests/fixtures/screens, made by scripts/capture_screens.py) are plain-text
``tmux capture-pane -p`` screens; manifest.toml gives each one's agent and expected status.
Each screen goes through the classifier's own screen rule, ``core.status.match_screen``; a
screen that matches nothing is ``idle``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from atoll.core.patterns import KNOWN_AGENTS, AgentPatterns, generic_waiting, patterns_for
from atoll.core.status import match_screen, screen_tail

SCREENS = Path(__file__).resolve().parent.parent / "fixtures" / "screens"
MANIFEST = tomllib.loads((SCREENS / "manifest.toml").read_text(encoding="utf-8"))["screen"]
STATUSES = ("running", "waiting", "idle")


def classify(screen: str, agent: str) -> str:
    return match_screen(agent, screen) or "idle"


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_screen_is_classified_as_expected(entry: dict[str, str]) -> None:
    screen = (SCREENS / entry["file"]).read_text(encoding="utf-8")
    assert classify(screen, entry["agent"]) == entry["expected"], entry["how"]


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


def test_every_running_screen_matches_no_waiting_pattern() -> None:
    for e in MANIFEST:
        if e["expected"] != "running":
            continue
        pats = patterns_for(e["agent"])
        text = screen_tail((SCREENS / e["file"]).read_text(encoding="utf-8"), pats.tail_lines)
        hits = [p.pattern for p in (*pats.waiting, *generic_waiting()) if p.search(text)]
        assert hits == [], e["file"]


def test_unknown_agent_gets_empty_patterns() -> None:
    assert patterns_for("my-own-tool") == AgentPatterns()
    assert all(patterns_for(a).waiting or a == "shell" for a in KNOWN_AGENTS)
