"""A `--worktree` session's worktree: listed with the session, kept by `kill`, removed by
`purge` only when it holds no uncommitted or unpushed work; `purge` works for `user`
islands (agent user's and the operator's own, island `none`). Real users, git and tmux."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.support.proc import atoll, run_as
from tests.support.users import UserFactory

pytestmark = pytest.mark.root


@dataclass
class Setup:
    op: str
    agent: str
    project: Path


@pytest.fixture(scope="module")
def setup(users: UserFactory) -> Iterator[Setup]:
    op = users.user(users.name("wtop"))
    agent = users.user(f"{op}-agent")
    users.allow(op, [agent])
    root = Path(tempfile.mkdtemp(prefix="atoll-wt-", dir="/tmp"))
    root.chmod(0o755)
    project = root / "app"
    project.mkdir()
    shutil.chown(project, agent)
    s = Setup(op, agent, project)
    git(s, "init", "-q", "-b", "main")
    (project / "README").write_text("app\n")
    shutil.chown(project / "README", agent)
    git(s, "add", "README")
    git(s, "commit", "-qm", "init")
    yield s
    shutil.rmtree(root, ignore_errors=True)


def git(s: Setup, *args: str, where: Path | None = None) -> str:
    res = run_as(s.agent, ["git", "-c", "user.email=a@example.invalid", "-c", "user.name=a",
                           "-C", str(where or s.project), *args])
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_worktree_is_listed_survives_kill_and_is_purged_when_clean(setup: Setup) -> None:
    s = setup
    wt = s.project / ".atoll-worktrees" / "feat-login"
    res = atoll("new", "wt1", "--worktree", "feat/login", "--dir", str(s.project), "--",
                "sleep", "600", user=s.op)
    assert res.returncode == 0, res.stderr
    rows = json.loads(atoll("ls", "--json", user=s.op).stdout)["sessions"]
    (row,) = [r for r in rows if r["name"] == "wt1"]
    assert (row["agent_user"], row["project"], row["worktree"]) == (
        s.agent, str(s.project), "feat/login")
    assert "app@feat/login" in atoll("ls", user=s.op).stdout

    killed = atoll("kill", "wt1", user=s.op)
    assert killed.returncode == 0, killed.stderr
    assert f"its worktree {wt} stays; `atoll purge wt1` removes it" in killed.stderr
    assert wt.is_dir()  # kill never destroys work

    (wt / "wip.txt").write_text("half done\n")
    shutil.chown(wt / "wip.txt", s.agent)
    refused = atoll("purge", "wt1", user=s.op)
    assert refused.returncode == 1
    assert "uncommitted changes (1 path(s))" in refused.stderr
    assert wt.is_dir()

    git(s, "add", "wip.txt", where=wt)
    git(s, "commit", "-qm", "wip", where=wt)
    refused = atoll("purge", "wt1", user=s.op)
    assert refused.returncode == 1
    assert "1 commit(s) on its branch that are on no remote or other branch" in refused.stderr
    assert wt.is_dir()

    git(s, "merge", "-q", "feat/login")  # the work is now on main too
    done = atoll("purge", "wt1", user=s.op)
    assert done.returncode == 0, done.stderr
    assert not wt.exists()
    assert (s.project / "wip.txt").exists()  # the project is never deleted
    assert "feat/login" in git(s, "branch", "--list", "feat/login")  # the branch stays
    again = atoll("purge", "wt1", user=s.op)
    assert again.returncode == 3 and "no island 'wt1'" in again.stderr


def test_purge_of_live_user_sessions(setup: Setup) -> None:
    s = setup
    for name, who in (("pu1", []), ("pu2", ["--as", s.op])):
        res = atoll("new", name, *who, "--dir", str(s.project), "--", "sleep", "600",
                    user=s.op)
        assert res.returncode == 0, res.stderr
        done = atoll("purge", name, user=s.op)
        assert done.returncode == 0, done.stderr
    names = {r["name"] for r in json.loads(atoll("ls", "--json", user=s.op).stdout)["sessions"]}
    assert not names & {"pu1", "pu2"}
    assert subprocess.run(["test", "-d", str(s.project)]).returncode == 0
