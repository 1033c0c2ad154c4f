"""Transcripts with a real tmux server run by a throwaway agent user."""

from __future__ import annotations

import hashlib
import os
import pwd
import secrets
import stat
import struct
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from atoll.core.chain import verify
from atoll.ledger import Actor, Audit, Ledger, check_transcript, start_transcript
from atoll.ledger.transcript import stop_transcript
from tests.ledger.conftest import Users, run_as


def wait_for(what: str, check: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``timeout`` seconds (a
    hang guard, not a speed assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purposes
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().split(") ", 1)[1][0] != "Z"


def closed_events(ledger: Ledger, session: str) -> list[dict[str, object]]:
    return [e for e in ledger.iter_events() if e["action"] == "transcript.closed"
            and e["target"] == {"session": session}]


def test_agent_pane_is_recorded_and_sealed(throwaway: Users, open_dir: Path) -> None:
    agent = throwaway.make("ag")
    outsider = throwaway.make("ot")
    ledger = Ledger(open_dir / "ledger.jsonl")
    audit = Audit(ledger, "testhost", Actor.current(), correlation_id="corr1")
    audit.event("session.new", {"session": "s1"}, "intent", {"agent": "shell"})
    socket = f"test-{secrets.token_hex(4)}"
    tr = start_transcript("s1", audit, writer=agent, directory=open_dir / "transcripts")
    throwaway.pids.append(tr.recorder_pid)
    server_pid: int | None = None
    try:
        assert tr.restricted
        assert stat.S_IMODE(tr.path.stat().st_mode) == 0o600
        assert stat.S_IMODE(tr.path.parent.stat().st_mode) == 0o700
        assert tr.pipe_command == f"exec cat > {tr.fifo}"
        assert stat.S_ISFIFO(tr.fifo.stat().st_mode)

        res = run_as(agent, "tmux", "-L", socket, "-f", "/dev/null", "new-session", "-d",
                     "-s", "s1", "-x", "80", "-y", "24", "sh")
        assert res.returncode == 0, res.stderr
        server_pid = int(run_as(agent, "tmux", "-L", socket, "display", "-p", "-t", "s1",
                                "#{pid}").stdout)
        throwaway.pids.append(server_pid)
        res = run_as(agent, "tmux", "-L", socket, "pipe-pane", "-O", "-t", "s1",
                     tr.pipe_command)
        assert res.returncode == 0, res.stderr
        res = run_as(agent, "tmux", "-L", socket, "send-keys", "-t", "s1",
                     "printf 'hello-%s\\n' transcript-marker", "Enter")
        assert res.returncode == 0, res.stderr
        wait_for("the marker in the transcript",
                 lambda: b"hello-transcript-marker" in tr.path.read_bytes())

        # The agent user can neither read nor write the transcript or the ledger, even
        # though the directories around them let it look (open_dir is 0755).
        for path in (tr.path, ledger.path):
            res = run_as(agent, "cat", str(path))
            assert res.returncode != 0 and "Permission denied" in res.stderr, path
            res = run_as(agent, "sh", "-c", 'echo forged >> "$1"', "sh", str(path))
            assert res.returncode != 0 and "Permission denied" in res.stderr, path
        # Nobody else can reach the FIFO, even knowing its name.
        res = run_as(outsider, "timeout", "5", "sh", "-c", ': > "$1"', "sh", str(tr.fifo))
        assert res.returncode != 0 and "Permission denied" in res.stderr
        # ... while the agent user can (that is how its pane gets in).
        assert run_as(agent, "test", "-w", str(tr.fifo)).returncode == 0

        res = run_as(agent, "tmux", "-L", socket, "kill-session", "-t", "s1")
        assert res.returncode == 0, res.stderr
        wait_for("the transcript.closed record", lambda: bool(closed_events(ledger, "s1")))
    finally:
        if server_pid is not None and alive(server_pid):
            run_as(agent, "tmux", "-L", socket, "kill-server")
    (event,) = closed_events(ledger, "s1")
    content = tr.path.read_bytes()
    assert b"hello-transcript-marker" in content
    assert event["outcome"] == "ok"
    assert event["details"] == {"path": str(tr.path),
                                "sha256": hashlib.sha256(content).hexdigest(),
                                "bytes": len(content)}
    assert event["correlation"] == "corr1" and event["actor"] == audit.actor.to_json()
    assert verify(ledger.read_bytes()).ok
    wait_for("the recorder to exit", lambda: not alive(tr.recorder_pid))
    assert not tr.fifo.parent.exists()  # FIFO and its directory removed

    check = check_transcript("s1", ledger, directory=open_dir / "transcripts")
    assert check == (tr.path, hashlib.sha256(content).hexdigest(), True)
    with tr.path.open("ab") as fh:
        fh.write(b"edited afterwards\n")
    assert check_transcript("s1", ledger, directory=open_dir / "transcripts").matches is False


def test_transcript_never_attached_can_be_stopped(xdg: Path, audit: Audit,
                                                  ledger: Ledger) -> None:
    tr = start_transcript("s2", audit)
    try:
        assert stat.S_IMODE(tr.fifo.stat().st_mode) == 0o600  # the operator's own server
        assert stat.S_IMODE(tr.fifo.parent.stat().st_mode) == 0o700
        check = check_transcript("s2", ledger)
        assert check.path == tr.path and check.matches is None  # still open
        stop_transcript(tr)
        wait_for("the transcript.closed record", lambda: bool(closed_events(ledger, "s2")))
    finally:
        if alive(tr.recorder_pid):
            os.kill(tr.recorder_pid, 9)
    (event,) = closed_events(ledger, "s2")
    assert event["details"]["bytes"] == 0  # type: ignore[index]
    assert check_transcript("s2", ledger).matches is True


def test_transcript_file_deleted_is_reported(xdg: Path, audit: Audit, ledger: Ledger) -> None:
    tr = start_transcript("s3", audit)
    stop_transcript(tr)
    wait_for("the transcript.closed record", lambda: bool(closed_events(ledger, "s3")))
    tr.path.unlink()
    assert check_transcript("s3", ledger) == (tr.path, None, False)


def test_recorder_survives_the_starter(xdg: Path, audit: Audit, ledger: Ledger) -> None:
    """The recorder is in its own session, not a child of this process (no zombie)."""
    tr = start_transcript("s4", audit)
    try:
        with open(f"/proc/{tr.recorder_pid}/stat") as fh:
            fields = fh.read().split(") ", 1)[1].split()
        ppid, sid = int(fields[1]), int(fields[3])
        assert ppid != os.getpid() and sid == tr.recorder_pid
        with pytest.raises(ChildProcessError):
            os.waitpid(tr.recorder_pid, os.WNOHANG)
    finally:
        stop_transcript(tr)
        wait_for("the transcript.closed record", lambda: bool(closed_events(ledger, "s4")))


def test_ls_of_fifo_dir_is_denied_to_the_agent(throwaway: Users, xdg: Path,
                                               audit: Audit) -> None:
    """The agent may reach the FIFO but cannot list its directory (random names stay
    secret) nor replace the FIFO."""
    agent = throwaway.make("ls")
    tr = start_transcript("s5", audit, writer=agent)
    throwaway.pids.append(tr.recorder_pid)
    try:
        res = run_as(agent, "ls", str(tr.fifo.parent))
        assert res.returncode != 0 and "Permission denied" in res.stderr
        res = run_as(agent, "rm", "-f", str(tr.fifo))
        assert res.returncode != 0
        assert stat.S_ISFIFO(tr.fifo.stat().st_mode)
        raw = os.getxattr(tr.fifo, "system.posix_acl_access")
        entries = {struct.unpack_from("<HHI", raw, off) for off in range(4, len(raw), 8)}
        assert (0x02, 0o2, pwd.getpwnam(agent).pw_uid) in entries  # user:AGENT:-w-
        assert (0x20, 0, 0xFFFFFFFF) in entries  # other::---
    finally:
        stop_transcript(tr)
        wait_for("the transcript.closed record", lambda: bool(closed_events(audit.ledger, "s5")))
    assert not tr.fifo.parent.exists()
