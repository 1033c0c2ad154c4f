"""`atoll kill` ends every process the session started, self-detaching ones included, and
nothing another live session of the same agent user runs; `atoll ls` counts them.

Real agent user and sudoers; the "agent" is a real daemon that double-forks and calls
setsid, the way `codex app-server` leaves its parent.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.proc import atoll, run_as
from tests.support.users import UserFactory

pytestmark = pytest.mark.root

WAIT = 20.0


def daemonizer(marker: int, then: str = "time.sleep(600)") -> list[str]:
    """argv of a program that starts `sleep MARKER` as a detached daemon (fork, setsid,
    fork, parent exits), then runs ``then``."""
    code = (
        "import os, sys, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        os.execvp('sleep', ['sleep', '{marker}'])\n"
        "    os._exit(0)\n"
        "os.wait()\n"
        f"{then}\n"
    )
    return ["python3", "-c", code]


def marked(marker: int, uid: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{name}/cmdline").read_bytes()
            owner = os.stat(f"/proc/{name}").st_uid
        except OSError:
            continue
        if cmd == f"sleep\0{marker}\0".encode() and owner == uid:
            out.append(int(name))
    return out


def ancestors(pid: int) -> list[int]:
    chain = []
    while pid > 1:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
        pid = int(stat[stat.rfind(b")") + 2 :].split()[1])
        chain.append(pid)
    return chain


def wait_for(cond: Any, what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def rows(user: str) -> dict[str, dict[str, Any]]:
    res = atoll("ls", "--json", user=user)
    assert res.returncode == 0, res.stderr
    return {r["name"]: r for r in json.loads(res.stdout)["sessions"]}


@pytest.fixture(scope="module")
def op(users: UserFactory) -> Iterator[tuple[str, int]]:
    op = users.user(users.name("ktop"))
    agent = users.user(f"{op}-agent")
    users.allow(op, [agent])
    yield op, pwd.getpwnam(agent).pw_uid


def test_kill_ends_detached_daemon_but_not_a_sibling_sessions(op: tuple[str, int]) -> None:
    user, uid = op
    base = 60000 + os.getpid() % 1000 * 3
    for name, marker in (("kt1", base), ("kt2", base + 1)):
        res = atoll("new", name, "--dir", "/tmp", "--", *daemonizer(marker), user=user)
        assert res.returncode == 0, res.stderr
    (d1,) = wait_for(lambda: marked(base, uid), "the first daemon")
    (d2,) = wait_for(lambda: marked(base + 1, uid), "the second daemon")

    # detached, yet still in its session's pane tree, so ls counts it
    listed = rows(user)
    assert listed["kt1"]["pid"] in ancestors(d1)
    assert listed["kt2"]["pid"] in ancestors(d2)
    statm = Path(f"/proc/{d1}/statm").read_text().split()
    assert listed["kt1"]["rss_bytes"] >= int(statm[1]) * os.sysconf("SC_PAGE_SIZE")

    res = atoll("kill", "kt1", user=user)
    assert res.returncode == 0, res.stderr
    assert marked(base, uid) == []  # gone when kill returns
    assert marked(base + 1, uid) == [d2]  # the same agent user's other session is untouched
    assert "kt2" in rows(user) and "kt1" not in rows(user)
    assert atoll("kill", "kt2", user=user).returncode == 0
    assert marked(base + 1, uid) == []


def test_program_exit_ends_its_daemons_and_keeps_its_status(op: tuple[str, int]) -> None:
    user, uid = op
    marker = 61000 + os.getpid() % 1000
    res = atoll("new", "kt3", "--dir", "/tmp", "--",
                *daemonizer(marker, "time.sleep(1); sys.exit(3)"), user=user)
    assert res.returncode == 0, res.stderr
    row = wait_for(lambda: (r := rows(user).get("kt3")) and r["status"] == "exited" and r,
                   "kt3 to exit")
    assert row["exit_status"] == 3
    assert marked(marker, uid) == []
    atoll("kill", "kt3", user=user)


def test_ctrl_c_reaches_the_agent_not_the_reaper(op: tuple[str, int]) -> None:
    user, _ = op
    where = Path(tempfile.mkdtemp(dir="/tmp"))
    os.chmod(where, 0o777)
    got = where / "got-int"
    script = f"trap 'echo int > {got}; exit 9' INT; echo ready; while :; do sleep 0.2; done"
    res = atoll("new", "kt4", "--dir", "/tmp", "--", "sh", "-c", script, user=user)
    assert res.returncode == 0, res.stderr
    wait_for(lambda: "ready" in atoll("peek", "kt4", user=user).stdout, "the trap")
    agent = f"{user}-agent"
    sent = run_as(user, ["sudo", "-n", "-u", agent, "tmux", "-L", "atoll", "send-keys",
                         "-t", "=kt4:", "C-c"])
    assert sent.returncode == 0, sent.stderr
    wait_for(lambda: (r := rows(user).get("kt4")) and r["status"] == "exited", "kt4 to exit")
    assert got.read_text() == "int\n"  # the agent's own handler ran
    atoll("kill", "kt4", user=user)
    shutil.rmtree(where)
