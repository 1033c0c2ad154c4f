"""``atoll audit`` through click's CliRunner and the real module, on real files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from atoll.cli.audit import audit_group
from atoll.core.errors import AtollError
from atoll.ledger import Audit, Ledger, check_transcript, typed_details


def run(*args: str) -> tuple[int, str, str]:
    """Invoke like the main CLI does: an AtollError becomes one stderr line and its code."""
    result = CliRunner().invoke(audit_group, list(args))
    if isinstance(result.exception, AtollError):
        return result.exception.exit_code, result.stdout, f"atoll: error: {result.exception}"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def filled(audit: Audit, ledger: Ledger) -> Ledger:
    with audit.action("session.new", {"session": "fix-bug", "agent_user": "wes-agent"},
                      {"agent": "claude"}):
        pass
    audit.event("session.type", {"session": "fix-bug"}, "ok",
                typed_details("\x1b[31mred\u202e", enter=False))
    audit.event("grant.add", {"island": "fix-bug", "path": "/srv/data"}, "ok", {"rw": True})
    audit.event("session.kill", {"session": "other"}, "ok")
    return ledger


def test_show_table_is_aligned_and_escapes_controls(filled: Ledger) -> None:
    code, out, _ = run("show")
    assert code == 0
    rows = out.splitlines()
    assert rows[0].split() == ["SEQ", "TIME", "HOST", "ACTOR", "ACTION", "OUTCOME", "TARGET",
                               "DETAILS"]
    assert len(rows) == 6
    starts = [rows[0].index(h) for h in ("TIME", "HOST", "ACTOR", "ACTION", "OUTCOME")]
    for row in rows[1:]:
        for s in starts:
            assert row[s - 2 : s] == "  " and row[s] != " ", row
    assert "\x1b" not in out and "\u202e" not in out
    assert "\\u001b[31mred\\u202e" in out


def test_show_json_and_filters(filled: Ledger) -> None:
    def seqs(*args: str) -> list[int]:
        code, out, err = run("show", "--json", *args)
        assert code == 0, err
        return [e["seq"] for e in json.loads(out)]

    assert seqs() == [1, 2, 3, 4, 5]
    assert seqs("--session", "fix-bug") == [1, 2, 3]
    assert seqs("--session", "local:other") == [5]
    assert seqs("--action", "session") == [1, 2, 3, 5]
    assert seqs("--action", "grant.*") == [4]
    assert seqs("--action", "session.kill") == [5]
    assert seqs("--actor", "root") == [1, 2, 3, 4, 5]
    assert seqs("--actor", "nobody") == []
    assert seqs("-n", "2") == [4, 5]
    assert seqs("--since", "1h") == [1, 2, 3, 4, 5]
    assert seqs("--until", "2000-01-01") == []
    assert seqs("--since", "2000-01-01T00:00:00Z", "--action", "grant") == [4]
    code, _, err = run("show", "--since", "yesterday-ish")
    assert code == 2 and err.startswith("atoll: error: invalid time")


def test_show_empty_ledger(xdg: Path) -> None:
    code, out, _ = run("show", "--json")
    assert (code, out.strip()) == (0, "[]")


def test_verify_intact_then_tampered(filled: Ledger) -> None:
    code, out, _ = run("verify")
    assert code == 0 and "intact: 5 lines" in out
    lines = filled.read_bytes().splitlines(keepends=True)
    filled.path.write_bytes(b"".join(lines[:2] + lines[3:]))
    code, out, err = run("verify")
    assert code == 1 and out == ""
    assert err.startswith("atoll: error: ledger ") and "first bad seq 3: deleted" in err
    assert "\n" not in err
    code, out, _ = run("verify", "--json")
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False and report["problems"][0]["kind"] == "deleted"


def test_checkpoint_then_truncation(filled: Ledger) -> None:
    code, out, err = run("checkpoint")
    assert code == 0, err
    assert out.startswith("checkpoint: seq 7, ")  # it covers its own intent and ok records
    actions = [(e["action"], e["outcome"]) for e in filled.iter_events()][-2:]
    assert actions == [("audit.checkpoint", "intent"), ("audit.checkpoint", "ok")]
    code, out, _ = run("verify")
    assert code == 0 and "agrees with the checkpoint" in out
    lines = filled.read_bytes().splitlines(keepends=True)
    filled.path.write_bytes(b"".join(lines[:4]))
    code, _, err = run("verify")
    assert code == 1 and "first bad seq 5: truncated" in err


def test_checkpoint_covers_its_own_last_record(filled: Ledger) -> None:
    """D1: the last line the checkpoint command wrote, deleted afterwards, is caught."""
    code, _, err = run("checkpoint")
    assert code == 0, err
    lines = filled.read_bytes().splitlines(keepends=True)
    assert json.loads(lines[-1])["outcome"] == "ok"
    filled.path.write_bytes(b"".join(lines[:-1]))
    code, _, err = run("verify")
    assert code == 1 and "first bad seq 7: truncated" in err


def test_checkpoint_to_unreachable_witness(filled: Ledger) -> None:
    if shutil.which("ssh") is None:
        pytest.fail("ssh is not installed (openssh-client)")
    code, out, err = run("checkpoint", "--to", "atoll-no-such-host.invalid")
    assert code == 5, err
    assert err.startswith("atoll: error: witness host atoll-no-such-host.invalid unreachable")
    last = list(filled.iter_events())[-1]
    assert (last["action"], last["outcome"]) == ("audit.checkpoint", "error")
    code, out, _ = run("verify")
    assert code == 0 and "agrees with the checkpoint" in out  # the local one was kept
    code, _, err = run("checkpoint", "--to", "-oProxyCommand=touch /tmp/x")
    assert code == 2 and "invalid host name" in err


def test_transcript_unknown_session(filled: Ledger) -> None:
    code, _, err = run("transcript", "nope")
    assert code == 3 and err == "atoll: error: no transcript for session 'nope'"


def test_ledger_option_selects_another_file(filled: Ledger, tmp_path: Path) -> None:
    other = Ledger(tmp_path / "other.jsonl")
    other.append({"action": "host.add", "target": {"host": "b"}})
    code, out, _ = run("--ledger", str(other.path), "show", "--json")
    assert code == 0 and [e["action"] for e in json.loads(out)] == ["host.add"]
    code, _, _ = run("--ledger", "relative.jsonl", "show")
    assert code == 2


def test_transcript_command(filled: Ledger, audit: Audit) -> None:
    from atoll.ledger import start_transcript, stop_transcript
    from tests.ledger.test_transcript import closed_events, wait_for

    tr = start_transcript("fix-bug", audit)
    code, out, _ = run("transcript", "fix-bug")
    assert code == 0 and out.strip().endswith("open")
    stop_transcript(tr)
    wait_for("the transcript.closed record", lambda: bool(closed_events(filled, "fix-bug")))
    code, out, _ = run("transcript", "fix-bug")
    assert code == 0 and out.strip().endswith("matches") and str(tr.path) in out
    tr.path.write_bytes(b"rewritten")
    code, _, err = run("transcript", "fix-bug")
    assert code == 1 and "does not match its ledger record" in err
    assert check_transcript("fix-bug", filled).matches is False


def test_audit_alone_shows(filled: Ledger) -> None:
    code, out, _ = run()
    assert code == 0 and out.splitlines()[0].startswith("SEQ  TIME")
    code, out, _ = run("verify")
    assert "no checkpoint yet" in out
