"""Pure parts of `atoll admin` (issue 17): sudoers texts, the lead marker, the agent map,
and the host ledger's redaction (typed text and paths only as SHA-256 and length)."""

from __future__ import annotations

import hashlib

import pytest

from atoll.core import admin
from atoll.core.errors import UsageError


def test_person_rule_names_only_the_agent_and_says_whom_it_constrains() -> None:
    text = admin.person_rule("wes", "wes-agent")
    assert text.splitlines()[-1] == "wes ALL=(wes-agent) NOPASSWD: ALL"
    assert "constrains the agent, not the person" in text


def test_lead_rule_round_trips_its_agent_list() -> None:
    text = admin.lead_rule("marcus", ["nadia-agent", "wes-agent", "nadia-agent"])
    assert "marcus ALL=(nadia-agent,wes-agent) NOPASSWD: ALL" in text
    assert admin.lead_over(text) == ["nadia-agent", "wes-agent"]
    with pytest.raises(ValueError):
        admin.lead_rule("marcus", [])


@pytest.mark.parametrize("name", ["ALL", "a,b", "x y", "root)", "../x", "%ops", "a=b"])
def test_names_that_would_change_a_sudoers_rule_are_refused(name: str) -> None:
    with pytest.raises(UsageError):
        admin.lead_rule("marcus", [name])
    with pytest.raises(UsageError):
        admin.person_rule(name, "x-agent")


def test_ledger_rule_refuses_words_sudoers_reads_specially() -> None:
    ok = admin.ledger_rule("atoll-ops", "atoll-ledger", ["/opt/atoll/bin/python3", "-I"])
    assert ok.splitlines()[-1] == "%atoll-ops ALL=(atoll-ledger) NOPASSWD: /opt/atoll/bin/python3 -I"
    for bad in ("/opt/a b/python", "/x,y", "a=b", "/x:y", ""):
        with pytest.raises(ValueError):
            admin.ledger_rule("atoll-ops", "atoll-ledger", [bad])


def test_agent_map_renders_and_reads_back() -> None:
    text = admin.render_agent_map({"wes": "wes-agent", "ana": "ana-bot"})
    assert admin.agent_map_from(text) == {"ana": "ana-bot", "wes": "wes-agent"}


def test_redaction_keeps_names_and_hashes_text_paths_and_commands() -> None:
    target, details = admin.redact(
        {"session": "fix", "agent_user": "wes-agent", "path": "/home/wes/secret"},
        {"text": "my password", "enter": True, "agent": "claude", "dir": "/srv/x",
         "command": ["claude", "--print", "secret"], "island": "user\x1b[2J"})
    assert target["session"] == "fix" and target["agent_user"] == "wes-agent"
    raw = b"my password"
    assert details["text"] == {"sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw)}
    assert details["enter"] is True and details["agent"] == "claude"
    for key in ("dir", "command", "island"):  # island: control characters, so hashed
        assert set(details[key]) == {"sha256", "bytes"}  # type: ignore[arg-type]
    assert set(target["path"]) == {"sha256", "bytes"}  # type: ignore[arg-type]
