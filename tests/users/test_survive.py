"""Sessions that survive their tmux server (issue 18, points 1 and 2): specs written before
the session starts, where the agent user cannot write them; ``lost`` when the server died;
``kill``/``purge`` semantics; the spec as the authority over the tmux options an agent user
can rewrite; ``atoll resume``. Real users, real sudoers, real tmux servers, the real CLI."""

from __future__ import annotations

import json
import os
import pwd
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.support.proc import atoll, run_as
from tests.support.users import UserFactory

NOHELP = {"ATOLL_NO_HELPER": "1"}


@dataclass
class Cast:
    op: str
    agent: str
    other: str

    @property
    def store(self) -> Path:
        return Path(pwd.getpwnam(self.op).pw_dir) / ".local/state/atoll/sessions/atoll"


@pytest.fixture(scope="module")
def cast(users: UserFactory) -> Iterator[Cast]:
    op = users.user(users.name("svo"))
    agent = users.user(users.name("sva", "-agent"))
    other = users.user(users.name("svb", "-agent"))
    users.allow(op, [agent])
    yield Cast(op, agent, other)


@pytest.fixture(autouse=True)
def fresh(cast: Cast) -> Iterator[None]:
    yield
    for user in (cast.op, cast.agent, cast.other):
        run_as(user, ["tmux", "-L", "atoll", "kill-server"])
    subprocess.run(["rm", "-rf", str(cast.store)], check=False)


def ok(res: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    return res


def rows(op: str, *args: str) -> dict[tuple[str, str], dict[str, Any]]:
    res = ok(atoll("ls", "--json", *args, user=op, env=NOHELP))
    return {(r["agent_user"], r["name"]): r for r in json.loads(res.stdout)["sessions"]}


def agent_tmux(user: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_as(user, ["tmux", "-L", "atoll", *args])


def start(op: str, name: str, as_user: str, *cmd: str) -> None:
    ok(atoll("new", name, "--as", as_user, "--dir", "/tmp", "--", *(cmd or ("cat",)),
             user=op))


def ledger_actions(op: str) -> list[tuple[str, str, str]]:
    path = Path(pwd.getpwnam(op).pw_dir) / ".local/state/atoll/ledger.jsonl"
    out = []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        out.append((rec.get("action", ""), rec.get("target", {}).get("session", ""),
                    rec.get("outcome", "")))
    return out


def test_spec_is_written_before_the_session_starts_out_of_the_agents_reach(cast: Cast) -> None:
    # a session run as the operator itself checks, as its very first act, that its spec
    # is already there
    spec = cast.store / f"{cast.op}@early.json"
    ok(atoll("new", "early", "--as", cast.op, "--dir", "/tmp", "--", "sh", "-c",
             f"test -f {spec} && echo SPEC-WAS-THERE; exec cat", user=cast.op))
    start(cast.op, "work", cast.agent)
    deadline = time.monotonic() + 10
    while "SPEC-WAS-THERE" not in ok(atoll("peek", "early", user=cast.op)).stdout:
        assert time.monotonic() < deadline, "the session did not find its spec"
        time.sleep(0.2)
    path = cast.store / f"{cast.agent}@work.json"
    info = os.lstat(path)
    assert stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_uid == pwd.getpwnam(cast.op).pw_uid
    assert stat.S_IMODE(os.lstat(cast.store).st_mode) == 0o700
    data = json.loads(path.read_text())
    assert (data["name"], data["agent_user"], data["launched_by"], data["command"],
            data["island"]) == ("work", cast.agent, cast.op, ["cat"], "user")
    # the agent user can neither read nor replace it
    for attempt in (["cat", str(path)], ["sh", "-c", f"echo x > {path}"],
                    ["ls", str(cast.store)]):
        assert run_as(cast.agent, attempt).returncode != 0


def test_a_dead_server_leaves_its_sessions_lost_in_every_listing(cast: Cast) -> None:
    start(cast.op, "keep", cast.agent)
    ok(agent_tmux(cast.agent, "kill-server"))  # what a reboot or an OOM kill does to it
    row = rows(cast.op)[(cast.agent, "keep")]
    assert row["status"] == "lost" and row["launched_by"] == cast.op
    assert row["command"] == "cat" and row["pid"] is None
    table = ok(atoll("ls", user=cast.op, env=NOHELP))
    assert "keep" in table.stdout and "lost" in table.stdout
    assert "atoll resume" in table.stderr
    lost_only = ok(atoll("ls", "--json", "--status", "lost", user=cast.op, env=NOHELP))
    assert [r["name"] for r in json.loads(lost_only.stdout)["sessions"]] == ["keep"]
    # a new session under a lost one's name replaces it (the operator chose the name)
    start(cast.op, "keep", cast.agent, "sleep", "300")
    again = rows(cast.op)[(cast.agent, "keep")]
    assert again["status"] != "lost" and again["command"] == "sleep 300"


def test_kill_ends_a_spec_ls_all_shows_it_new_reuses_the_name_purge_removes_it(
        cast: Cast) -> None:
    start(cast.op, "done", cast.agent)
    ok(atoll("kill", "done", user=cast.op))
    assert (cast.agent, "done") not in rows(cast.op)
    ended = rows(cast.op, "--all")[(cast.agent, "done")]
    assert ended["status"] == "exited" and ended["ended"]
    start(cast.op, "done", cast.agent, "sleep", "300")  # the name is free again
    again = rows(cast.op, "--all")
    assert again[(cast.agent, "done")]["status"] != "exited"
    assert again[(cast.agent, "done")]["command"] == "sleep 300"
    ok(atoll("kill", "done", user=cast.op))
    assert (cast.store / f"{cast.agent}@done.json").exists()
    ok(atoll("purge", "done", "--yes", user=cast.op))
    assert not (cast.store / f"{cast.agent}@done.json").exists()
    assert (cast.agent, "done") not in rows(cast.op, "--all")


def test_kill_of_a_lost_session_forgets_it(cast: Cast) -> None:
    start(cast.op, "gone", cast.agent)
    ok(agent_tmux(cast.agent, "kill-server"))
    assert rows(cast.op)[(cast.agent, "gone")]["status"] == "lost"
    ok(atoll("kill", "gone", user=cast.op))
    assert (cast.agent, "gone") not in rows(cast.op)
    assert rows(cast.op, "--all")[(cast.agent, "gone")]["reason"] == "ended: forgotten"
    assert ("session.forget", "gone", "ok") in ledger_actions(cast.op)
    res = atoll("kill", "gone", user=cast.op)
    assert res.returncode == 3  # nothing left to kill


def test_agent_rewriting_its_options_cannot_change_by_agent_or_project(cast: Cast) -> None:
    """Attack: the agent user owns its tmux server and rewrites @atoll_launched_by (and
    the project) so that its session shows as started by someone else."""
    start(cast.op, "victim", cast.agent)
    for opt, value in (("@atoll_launched_by", "root"), ("@atoll_project", "/root"),
                       ("@atoll_agent", "claude")):
        ok(agent_tmux(cast.agent, "set", "-t", "=victim:", opt, value))
    row = rows(cast.op)[(cast.agent, "victim")]
    assert (row["launched_by"], row["project"], row["agent"]) == (cast.op, "/tmp", "custom")
    assert "BY root (spec: " in row["mismatch"] and "PROJECT /root" in row["mismatch"]
    table = ok(atoll("ls", user=cast.op, env=NOHELP))
    assert "tmux options say BY root" in table.stderr
    # a session the agent made by hand, claiming the operator started it: no spec
    ok(agent_tmux(cast.agent, "new-session", "-d", "-s", "forged", "cat"))
    ok(agent_tmux(cast.agent, "set", "-t", "=forged:", "@atoll_launched_by", cast.op))
    forged = rows(cast.op)[(cast.agent, "forged")]
    assert forged["mismatch"].startswith("no spec")


def test_resume_brings_a_lost_session_back_as_it_was_and_records_it(cast: Cast) -> None:
    start(cast.op, "back", cast.agent, "sh", "-c", "pwd; id -un; exec cat")
    ok(agent_tmux(cast.agent, "kill-server"))
    res = ok(atoll("resume", "back", user=cast.op))
    assert "its command was started again" in res.stderr  # sh has no resume of its own
    row = rows(cast.op)[(cast.agent, "back")]
    assert row["status"] != "lost" and row["launched_by"] == cast.op and row["pid"]
    deadline = time.monotonic() + 10
    while (screen := ok(atoll("peek", "back", user=cast.op)).stdout).count("\n") < 2:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert "/tmp" in screen and cast.agent in screen
    spec = json.loads((cast.store / f"{cast.agent}@back.json").read_text())
    assert spec["resumes"] == 1 and spec["command"] == ["sh", "-c", "pwd; id -un; exec cat"]
    acts = ledger_actions(cast.op)
    assert ("session.resume", "back", "intent") in acts and ("session.resume", "back", "ok") in acts
    # running again: not lost, so nothing to resume
    again = atoll("resume", "back", user=cast.op)
    assert again.returncode == 2 and "running, not lost" in again.stderr


def test_resume_all_and_refusals(cast: Cast) -> None:
    start(cast.op, "one", cast.agent)
    start(cast.op, "two", cast.agent)
    ok(agent_tmux(cast.agent, "kill-server"))
    res = ok(atoll("resume", "--all", user=cast.op))
    assert res.stderr.count("atoll: resumed") == 2
    assert {r["status"] for k, r in rows(cast.op).items() if k[1] in ("one", "two")} \
        <= {"running", "idle"}
    assert ok(atoll("resume", "--all", user=cast.op)).stderr.startswith(
        "atoll: no lost session")
    assert atoll("resume", "nosuch", user=cast.op).returncode == 3
    assert atoll("resume", user=cast.op).returncode == 2
    assert atoll("resume", "one", "--all", user=cast.op).returncode == 2
