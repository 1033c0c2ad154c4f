"""The ledger file and Audit on real files: modes, records, fail-closed writes, torn tails."""

from __future__ import annotations

import grp
import hashlib
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from atoll.core.chain import ProblemKind, verify
from atoll.core.errors import AtollError, UsageError
from atoll.ledger import (
    Actor,
    Audit,
    Ledger,
    LedgerWriteError,
    ensure_hostwide_ledger,
    ledger_path,
    typed_details,
)
from tests.ledger.conftest import Users, mount_readonly, mount_tmpfs, run_as


def test_default_path_is_per_operator_state(xdg: Path) -> None:
    assert ledger_path(None) == xdg / "state" / "atoll" / "ledger.jsonl"
    assert ledger_path("/var/lib/atoll/ledger.jsonl") == Path("/var/lib/atoll/ledger.jsonl")
    with pytest.raises(UsageError):
        ledger_path("relative/ledger.jsonl")


def test_first_append_creates_private_file_and_dirs(xdg: Path) -> None:
    ledger = Ledger(ledger_path(None))
    record = ledger.append({"action": "x"})
    assert record["seq"] == 1 and record["prev"] == "0" * 64
    assert stat.S_IMODE(ledger.path.stat().st_mode) == 0o600
    for d in (ledger.path.parent, ledger.path.parent.parent):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d


def test_records_have_the_documented_fields_in_order(audit: Audit, ledger: Ledger) -> None:
    with audit.action("session.new", {"session": "fix-bug", "agent_user": "wes-agent"},
                      {"agent": "claude"}) as intent:
        assert intent["outcome"] == "intent"
    audit.event("session.type", {"session": "fix-bug"}, "ok",
                typed_details("git status", enter=True))
    lines = ledger.read_bytes().splitlines()
    assert len(lines) == 3
    first = json.loads(lines[0])
    assert list(first) == ["seq", "time", "host", "actor", "action", "target", "outcome",
                           "details", "correlation", "prev"]
    assert first["time"].endswith("Z") and len(first["time"]) == len("2026-11-20T12:00:00.123Z")
    assert first["host"] == "testhost" and first["correlation"] == "c0ffee"
    assert first["actor"]["uid"] == os.getuid()
    ok = json.loads(lines[1])
    assert ok["outcome"] == "ok" and ok["details"] == {"intent": 1}
    typed = json.loads(lines[2])["details"]
    assert typed["text"] == "git status" and typed["enter"] is True
    assert typed["sha256"] == hashlib.sha256(b"git status").hexdigest()
    assert verify(ledger.read_bytes()).ok
    assert [e["seq"] for e in ledger.iter_events()] == [1, 2, 3]


def test_failed_block_records_error_and_reraises(audit: Audit, ledger: Ledger) -> None:
    with pytest.raises(RuntimeError, match="boom"), audit.action("session.kill", {"session": "a"}):
        raise RuntimeError("boom\nsecond line")
    events = list(ledger.iter_events())
    assert [e["outcome"] for e in events] == ["intent", "error"]
    assert events[1]["details"] == {"intent": 1, "error": "RuntimeError: boom second line"}


def test_unknown_action_or_outcome_is_a_bug(audit: Audit) -> None:
    with pytest.raises(ValueError):
        audit.event("session.explode", {}, "ok")
    with pytest.raises(ValueError):
        audit.event("session.new", {}, "maybe")


def test_unstorable_event_fails_closed(audit: Audit, ledger: Ledger) -> None:
    ran = False
    with pytest.raises(LedgerWriteError), audit.action("config.change", {"key": "k"},
                                                       {"value": object()}):
        ran = True
    assert not ran
    assert ledger.read_bytes() == b""


def test_event_may_not_carry_seq(ledger: Ledger) -> None:
    with pytest.raises(LedgerWriteError, match="seq or prev"):
        ledger.append({"seq": 99})


def test_torn_tail_is_cut_and_recorded_on_next_append(audit: Audit, ledger: Ledger) -> None:
    audit.event("session.new", {"session": "a"}, "ok")
    with ledger.path.open("ab") as fh:
        fh.write(b'{"seq":2,"time":"2026-')
    report = verify(ledger.read_bytes())
    assert report.first is not None
    assert (report.first.kind, report.first.seq) == (ProblemKind.TORN, 2)
    record = audit.event("session.kill", {"session": "a"}, "ok")
    assert record["seq"] == 3
    events = list(ledger.iter_events())
    recover = events[1]
    assert recover["action"] == "audit.recover" and recover["seq"] == 2
    details = recover["details"]
    assert isinstance(details, dict)
    assert details["torn_bytes"] == 22
    assert details["torn_text"] == '{"seq":2,"time":"2026-'
    assert recover["actor"] == audit.actor.to_json()
    assert verify(ledger.read_bytes()).ok


def test_damaged_last_line_blocks_appends(audit: Audit, ledger: Ledger) -> None:
    audit.event("session.new", {"session": "a"}, "ok")
    with ledger.path.open("ab") as fh:
        fh.write(b"not a record\n")
    ran = False
    with pytest.raises(LedgerWriteError, match="not a ledger record"), \
            audit.action("session.kill", {"session": "a"}):
        ran = True
    assert not ran


def test_symlinked_ledger_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real.jsonl"
    real.write_bytes(b"")
    link = tmp_path / "ledger.jsonl"
    link.symlink_to(real)
    with pytest.raises(LedgerWriteError, match="symlink"):
        Ledger(link).append({"action": "x"})


# -- the disk says no ----------------------------------------------------------------


def test_full_disk_fails_closed_and_leaves_an_intact_chain(tmp_path: Path,
                                                           mounts: list[Path]) -> None:
    disk = mount_tmpfs(mounts, tmp_path / "tiny", "64k")
    audit = Audit(Ledger(disk / "ledger.jsonl"), "testhost", Actor.current())
    ran: list[int] = []
    appended = 0
    with pytest.raises(LedgerWriteError) as caught:
        for i in range(10_000):
            with audit.action("session.type", {"session": "s"},
                              typed_details("x" * 700 + str(i), enter=False)):
                ran.append(i)
            appended += 1
    assert "No space left on device" in str(caught.value) or "short write" in str(caught.value)
    assert appended > 10  # the disk did take some records first
    data = audit.ledger.read_bytes()
    report = verify(data)
    assert report.ok, report.summary()  # a partial line was rolled back, not left behind
    intents = [e for e in audit.ledger.iter_events() if e["outcome"] == "intent"]
    # every block that ran has its intent on disk, and no block ran without one
    assert [int(str(e["details"]["text"])[700:]) for e in intents] == ran  # type: ignore[index]
    assert ran == list(range(len(ran)))


def test_unwritable_ledger_read_only_mount(tmp_path: Path, mounts: list[Path]) -> None:
    state = tmp_path / "ro"
    state.mkdir()
    audit = Audit(Ledger(state / "ledger.jsonl"), "testhost", Actor.current())
    audit.event("session.new", {"session": "a"}, "ok")
    mount_readonly(mounts, state)
    ran = False
    with pytest.raises(LedgerWriteError, match="Read-only file system"), \
            audit.action("session.kill", {"session": "a"}):
        ran = True
    assert not ran
    assert len(audit.ledger.read_bytes().splitlines()) == 1


def test_unwritable_ledger_immutable(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    audit = Audit(ledger, "testhost", Actor.current())
    audit.event("session.new", {"session": "a"}, "ok")
    done = subprocess.run(["chattr", "+i", str(ledger.path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"chattr +i failed on {tmp_path}: {done.stderr.strip()}")
    try:
        ran = False
        with pytest.raises(LedgerWriteError, match="Operation not permitted"), \
                audit.action("island.purge", {"island": "x"}):
            ran = True
        assert not ran
    finally:
        subprocess.run(["chattr", "-i", str(ledger.path)], check=True)


def test_unwritable_ledger_other_user(throwaway: Users, open_dir: Path) -> None:
    """A user who is not the ledger's owner gets EACCES (root would bypass chmod)."""
    ledger = Ledger(open_dir / "ledger.jsonl")
    Audit(ledger, "testhost", Actor.current()).event("session.new", {"session": "a"}, "ok")
    user = throwaway.make("rw")
    code = (
        "import sys\n"
        "from atoll.ledger import Actor, Audit, Ledger, LedgerWriteError\n"
        "a = Audit(Ledger(sys.argv[1]), 'h', Actor.current())\n"
        "try:\n"
        "    with a.action('session.kill', {'session': 'a'}):\n"
        "        print('RAN')\n"
        "except LedgerWriteError as e:\n"
        "    print('REFUSED', e)\n"
    )
    import sys

    res = run_as(user, sys.executable, "-c", code, str(ledger.path))
    assert res.stdout.startswith("REFUSED"), (res.stdout, res.stderr)
    assert "Permission denied" in res.stdout and "RAN" not in res.stdout


# -- host-wide ledger ----------------------------------------------------------------


def test_hostwide_ledger_group_members_append_others_cannot(throwaway: Users,
                                                            open_dir: Path) -> None:
    group = f"atlg{os.getpid()}"
    subprocess.run(["groupadd", group], check=True, capture_output=True)
    try:
        member = throwaway.make("mem")
        outsider = throwaway.make("out")
        subprocess.run(["usermod", "-aG", group, member], check=True, capture_output=True)
        path = open_dir / "lib" / "atoll" / "ledger.jsonl"
        ensure_hostwide_ledger(path, group)
        gid = grp.getgrnam(group).gr_gid
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o2770
        assert stat.S_IMODE(path.stat().st_mode) == 0o660
        assert path.stat().st_gid == gid and path.parent.stat().st_gid == gid
        ensure_hostwide_ledger(path, group)  # idempotent
        import sys

        code = ("import sys\nfrom atoll.ledger import Ledger\n"
                "print(Ledger(sys.argv[1]).append({'action': 'x'})['seq'])")
        res = run_as(member, sys.executable, "-c", code, str(path))
        assert res.returncode == 0 and res.stdout.strip() == "1", res.stderr
        res = run_as(outsider, sys.executable, "-c", code, str(path))
        assert res.returncode != 0 and "Permission denied" in res.stderr
        res = run_as(outsider, "cat", str(path))
        assert res.returncode != 0
        with pytest.raises(AtollError, match="does not exist"):
            ensure_hostwide_ledger(path, "no-such-group-atoll")
    finally:
        subprocess.run(["groupdel", group], capture_output=True)


def test_append_only_attribute_keeps_appends_working(tmp_path: Path) -> None:
    """docs/ledger.md suggests chattr +a: appends go on, rewrites fail."""
    ledger = Ledger(tmp_path / "ledger.jsonl")
    audit = Audit(ledger, "testhost", Actor.current())
    audit.event("session.new", {"session": "a"}, "ok")
    subprocess.run(["chattr", "+a", str(ledger.path)], check=True, capture_output=True)
    try:
        audit.event("session.kill", {"session": "a"}, "ok")
        assert verify(ledger.read_bytes()).ok and len(ledger.read_bytes().splitlines()) == 2
        with pytest.raises(PermissionError):
            ledger.path.write_bytes(b"")
    finally:
        subprocess.run(["chattr", "-a", str(ledger.path)], check=True)
