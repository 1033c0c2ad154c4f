"""An agent user's own tmux server, set hostile by the agent user itself (issue 11, 2 and 9).

The agent owns its server: whatever it sets there (options of any length or byte, sessions
made by hand under names atoll refuses, a SIGSTOP) must not crash, blind or hang the
operator's listing or actions. Real users, real sudoers, real tmux servers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from tests.support.proc import atoll, run_as
from tests.support.users import UserFactory

SOCKET = "atoll"  # the real default socket of throwaway users


@dataclass
class Cast:
    op: str
    agent: str
    other: str


@pytest.fixture(scope="module")
def cast(users: UserFactory) -> Iterator[Cast]:
    op = users.user(users.name("hto"))
    agent = users.user(users.name("hta", "-agent"))
    other = users.user(users.name("htb", "-agent"))
    users.allow(op, [agent, other])
    yield Cast(op, agent, other)


@pytest.fixture(autouse=True)
def fresh_servers(cast: Cast) -> Iterator[None]:
    yield
    for user in (cast.op, cast.agent, cast.other):
        agent_tmux(user, "kill-server")
    # killed servers leave their sessions lost (issue 18); the next test starts afresh
    import pwd

    store = os.path.join(pwd.getpwnam(cast.op).pw_dir, ".local/state/atoll/sessions")
    subprocess.run(["rm", "-rf", store], check=False)


def agent_tmux(user: str, *args: str) -> subprocess.CompletedProcess[str]:
    """tmux on the agent user's own server, run by the agent user itself."""
    return run_as(user, ["tmux", "-L", SOCKET, *args])


def agent_sh(user: str, script: str) -> None:
    """A shell script run by the agent user (its own doing, not atoll's)."""
    res = run_as(user, ["sh", "-c", script], timeout=120)
    assert res.returncode == 0, res.stderr


def ok(res: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    return res


def listing(op: str) -> dict[str, Any]:
    res = ok(atoll("ls", "--json", user=op, env={"ATOLL_NO_HELPER": "1"}))
    data: dict[str, Any] = json.loads(res.stdout)
    return data


def rows(op: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["agent_user"], r["name"]): r for r in listing(op)["sessions"]}


def one_line_failure(res: subprocess.CompletedProcess[str]) -> None:
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and res.stderr.startswith("atoll: error:")


def start(op: str, name: str, as_user: str | None) -> None:
    extra = ["--as", as_user] if as_user else []
    ok(atoll("new", name, *extra, "--dir", "/tmp", "--", "cat", user=op))


def test_hostile_options_cost_only_their_own_row(cast: Cast) -> None:
    for name in ("good", "fat", "sup", "nl"):
        start(cast.op, name, cast.agent)
    start(cast.op, "mine", None)
    # the agent's doing: 80 KB appended to a project (one set-option is capped by tmux's
    # command size, appends are not), '|' in an agent, '²' as exit status, controls
    agent_sh(cast.agent, "tmux -L atoll set -t =fat: @atoll_agent 'a|b' && for i in 1 2 3 "
             "4 5 6 7 8; do tmux -L atoll set -a -t =fat: @atoll_project "
             "\"$(head -c 10000 /dev/zero | tr '\\0' x)\" || exit 1; done")
    ok(agent_tmux(cast.agent, "set", "-t", "=sup:", "@atoll_exit", "\u00b2"))
    ok(agent_tmux(cast.agent, "set", "-t", "=nl:", "@atoll_project", "/tmp/a\nb\tc"))
    seen = rows(cast.op)
    for name, why in (("fat", "project is 80"), ("sup", "exit is not a number"),
                      ("nl", "project holds control characters")):
        row = seen[(cast.agent, name)]
        assert row["status"] == "unknown" and why in row["reason"], row
        assert row["launched_by"] == "" and row["project"] == ""
    good, mine = seen[(cast.agent, "good")], seen[(cast.op, "mine")]
    assert good["launched_by"] == cast.op and good["status"] != "unknown" and good["pid"]
    assert mine["launched_by"] == cast.op and good["reason"] is None
    table = ok(atoll("ls", user=cast.op, env={"ATOLL_NO_HELPER": "1"}))
    assert "unknown" in table.stdout and "good" in table.stdout
    assert f"session sup of {cast.agent}: bad tmux answer: exit is not a number" in table.stderr
    # every action that resolves a target by listing still works
    ok(atoll("type", "good", "hello", user=cast.op))
    assert "hello" in ok(atoll("peek", "good", user=cast.op)).stdout
    ok(atoll("peek", "fat", user=cast.op))
    ok(atoll("kill", "sup", user=cast.op))
    ok(atoll("kill", "mine", user=cast.op))
    ok(atoll("purge", "nl", "--yes", "--force", user=cast.op))
    doctor = atoll("doctor", user=cast.op)
    assert "Traceback" not in doctor.stderr and doctor.returncode in (0, 1)
    assert set(rows(cast.op)) == {(cast.agent, "good"), (cast.agent, "fat")}


def test_answer_over_its_byte_cap_is_that_servers_error(cast: Cast) -> None:
    start(cast.op, "big", cast.agent)
    start(cast.op, "fine", cast.other)
    # 110 panes of one session that carries 80 KB of project: 8.8 MB of answer > 8 MiB
    agent_sh(cast.agent, "for i in 1 2 3 4 5 6 7 8; do tmux -L atoll set -a -t =big: "
             "@atoll_project \"$(head -c 10000 /dev/zero | tr '\\0' x)\" || exit 1; done; "
             "for i in $(seq 110); do echo 'new-window -d -t =big: cat'; done > ~/w.tmux && "
             "tmux -L atoll source-file ~/w.tmux")
    data = listing(cast.op)
    (host,) = data["hosts"]
    assert f"{cast.agent}: answer larger than 8388608 bytes" in host["error"]
    big = [r for r in data["sessions"] if r["agent_user"] == cast.agent]
    assert big and all(r["status"] == "unknown" for r in big)
    assert any(r["name"] == "fine" and r["status"] != "unknown" for r in data["sessions"])


def test_stopped_server_costs_its_timeout_not_the_listing(cast: Cast) -> None:
    start(cast.op, "frozen", cast.agent)
    start(cast.op, "alive", cast.other)
    pid = int(ok(agent_tmux(cast.agent, "display-message", "-p", "#{pid}")).stdout)
    os.kill(pid, signal.SIGSTOP)  # the agent may stop its own server; root does it here
    try:
        data = listing(cast.op)
        assert f"{cast.agent}: sudo timed out after" in (data["hosts"][0]["error"] or "")
        assert [r["name"] for r in data["sessions"] if r["status"] != "unknown"] == ["alive"]
        # the stopped server's session is not dropped: its spec lists it, status unknown
        [frozen] = [r for r in data["sessions"] if r["name"] == "frozen"]
        assert frozen["status"] == "unknown" and frozen["launched_by"] == cast.op
        ok(atoll("kill", "alive", "--as", cast.other, user=cast.op))
        one_line_failure(atoll("kill", "frozen", "--as", cast.agent, user=cast.op))
        # purge asks the agent's server once more, outside a batch: a timeout, not a hang
        one_line_failure(atoll("purge", "frozen", "--as", cast.agent, "--yes", user=cast.op))
        # nothing of those calls is left behind waiting on the stopped server
        left = run_as(None, ["pgrep", "-u", cast.agent, "-f", "tmux -L atoll list-panes"])
        assert left.stdout.strip() == ""
    finally:
        os.kill(pid, signal.SIGCONT)


ODD = {
    "\u04551": "'\\u04551'",  # Cyrillic dze: looks like "s1"
    "my session": "'my session'",
    "-dash": "'-dash'",
    "tab\there": "'tab\\x5cthere'",  # tmux keeps the tab as "\t"; the label escapes "\"
}


def test_hand_made_sessions_are_marked_and_can_be_killed_and_purged(cast: Cast) -> None:
    start(cast.op, "real", cast.agent)
    for name in ODD:
        ok(agent_tmux(cast.agent, "new-session", "-d", "-s", name, "cat"))
    ok(agent_tmux(cast.agent, "new-session", "-d", "-s", "x" * 300, "cat"))
    ok(agent_tmux(cast.agent, "new-session", "-d", "-s", "bare", "cat"))  # no atoll options
    # a forged "launched by the operator" on a look-alike is not believed
    ok(agent_tmux(cast.agent, "set", "-t", "=\u04551:", "@atoll_launched_by", cast.op))
    seen = rows(cast.op)
    names = {n for u, n in seen if u == cast.agent}
    assert {"real", "bare", *ODD.values()} <= names, names
    long = [n for n in names if n.startswith("'xxxx")]
    assert len(long) == 1 and long[0].endswith("...'$" + long[0].rsplit("$", 1)[1])
    for label in [*ODD.values(), *long]:
        assert seen[(cast.agent, label)]["launched_by"] == "", label
    assert seen[(cast.agent, "bare")]["launched_by"] == ""
    assert seen[(cast.agent, "real")]["launched_by"] == cast.op
    table = ok(atoll("ls", user=cast.op, env={"ATOLL_NO_HELPER": "1"})).stdout
    header, *lines = table.splitlines()
    line = next(ln for ln in lines if "'\\u04551'" in ln)
    cols = header.split()
    by = line.split()[cols.index("BY")]  # the columns hold no spaces in this row
    assert line.split()[cols.index("USER")] == cast.agent
    assert by == "?", line  # BY is "?", not the forged operator
    # each one can be killed or purged through its label; nothing else goes with it
    labels = list(ODD.values())
    ok(atoll("kill", labels[0], user=cast.op))
    ok(atoll("kill", labels[1], "--as", cast.agent, user=cast.op))
    ok(atoll("purge", labels[2], "--yes", user=cast.op))
    ok(atoll("type", labels[3], "typed-in", user=cast.op))
    assert "typed-in" in ok(atoll("peek", labels[3], user=cast.op)).stdout
    ok(atoll("kill", labels[3], user=cast.op))
    ok(atoll("kill", long[0], user=cast.op))
    ok(atoll("kill", "bare", user=cast.op))
    assert {n for u, n in rows(cast.op) if u == cast.agent} == {"real"}
    one_line_failure(atoll("kill", "'\\u04552'", user=cast.op))
