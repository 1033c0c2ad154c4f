"""A real agent CLI (Codex, from npm) as an agent user, seen in ``atoll ls`` as waiting.

With no network Codex stops at its first-run sign-in screen, which needs a human: the
status must be ``waiting``, found by codex's screen patterns on a live pane.
"""

from __future__ import annotations

import json
import pwd
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from tests.support.proc import atoll
from tests.support.users import UserFactory


def codex_processes(uid: int) -> list[str]:
    """Command lines of ``uid``'s processes that mention codex."""
    out = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and proc.stat().st_uid == uid:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                if "codex" in cmd:
                    out.append(f"{proc.name} {cmd}")
        except OSError:
            continue
    return out


def test_codex_as_agent_user_is_waiting_at_sign_in(users: UserFactory) -> None:
    if shutil.which("codex") is None:
        pytest.fail("codex is not installed: scripts/setup.sh --dev installs it from npm")
    op = users.user(users.name("cxop"))
    agent = users.user(f"{op}-agent")
    users.allow(op, [agent])
    project = Path(tempfile.mkdtemp(prefix="atoll-codex-"))
    shutil.chown(project, agent)
    res = atoll("new", "cx", "--as", agent, "--agent", "codex", "--dir", str(project), user=op)
    assert res.returncode == 0, res.stderr
    deadline = time.monotonic() + 60
    row: dict[str, object] = {}
    while time.monotonic() < deadline:
        rows = json.loads(atoll("ls", "--json", user=op).stdout)["sessions"]
        row = next(r for r in rows if r["name"] == "cx")
        if row["status"] == "waiting":
            break
        time.sleep(1)
    assert row["status"] == "waiting", (row, atoll("peek", "cx", user=op).stdout)
    assert row["agent"] == "codex" and row["agent_user"] == agent and row["launched_by"] == op
    screen = atoll("peek", "cx", user=op).stdout
    assert "Sign in" in screen
    assert row["rss_bytes"] and int(str(row["rss_bytes"])) > 10 << 20  # node's tree, summed
    uid = pwd.getpwnam(agent).pw_uid
    assert codex_processes(uid), "codex is not running as the agent user"
    assert atoll("kill", "cx", user=op).returncode == 0
    # nothing of codex's is left running: not its app-server helpers either, which detach
    # themselves and outlived kill before the pane's subreaper (atoll.exec.reaper)
    assert codex_processes(uid) == []
    shutil.rmtree(project, ignore_errors=True)
