"""`atoll admin check` (every problem with its fix) and `atoll reap` (max_idle/max_age),
issue 17 points 1 and 3. Real users, groups, sudoers, ssh-agent and tmux; host files private
to this test process (tests/admin/conftest.py). Reaping runs on the local host: the test
hosts have no cron or systemd."""

from __future__ import annotations

import json
import os
import secrets
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from tests.admin.conftest import Accounts
from tests.support.proc import atoll, run_as
from tests.support.users import UserFactory

pytestmark = pytest.mark.root


def ok(*args: str, user: str | None = None, env: dict[str, str] | None = None) -> str:
    res = atoll(*args, user=user, env=env)
    assert res.returncode == 0, res.stderr
    return res.stdout


def problems_of(user: str) -> list[dict[str, str]]:
    res = atoll("admin", "check", "--json")
    assert res.returncode in (0, 1), res.stderr
    return [p for p in json.loads(res.stdout)["problems"] if p["subject"] == user]


def test_check_lists_each_problem_with_a_fix_that_fixes_it(
        accounts: Accounts, users: UserFactory, tmp_path: Path) -> None:
    person = f"ck{secrets.token_hex(3)}"
    agent = f"{person}-agent"
    accounts.track(person, agent)
    ok("admin", "add-person", person)
    subprocess.run(["gpasswd", "-d", person, "atoll-ops"], check=True, capture_output=True)
    assert any("not in group atoll-ops" in p["problem"] for p in problems_of(person))
    fix = next(p["fix"] for p in problems_of(person) if "atoll-ops" in p["problem"])
    subprocess.run(shlex.split(fix), check=True, capture_output=True)
    assert problems_of(person) == []
    os.chmod(f"/home/{agent}", 0o755)
    subprocess.run(["usermod", "-a", "-G", "adm", agent], check=True)
    users.write_sudoers(f"atoll-test-root-{agent}", f"{agent} ALL=(ALL) NOPASSWD: ALL\n")
    sock_dir = Path(f"/tmp/ssh-atolltest{secrets.token_hex(3)}")
    sock_dir.mkdir(mode=0o755)
    sock = sock_dir / "agent.1"
    agent_proc = subprocess.run(["ssh-agent", "-a", str(sock)], capture_output=True, text=True,
                                check=True)
    pid = agent_proc.stdout.split("SSH_AGENT_PID=")[1].split(";")[0]
    os.chmod(sock, 0o777)
    linger = Path(f"/var/lib/systemd/linger/{agent}")
    if linger.parent.is_dir():
        linger.touch()
    try:
        found = problems_of(agent)
        text = "\n".join(p["problem"] for p in found)
        assert "home" in text and "others can read" in text
        assert "group adm" in text
        assert "run commands as root" in text
        assert "no resource limits" in text
        assert f"ssh-agent socket {sock}" in text
        if linger.exists():
            assert "lingering" in text
        assert all(p["fix"] for p in found)
        one_line = atoll("admin", "check")
        assert one_line.returncode == 1 and "fix: chmod 0700" in one_line.stdout
        for p in found:
            if p["fix"].startswith(("chmod", "gpasswd", "atoll admin limits")):
                argv = shlex.split(p["fix"].replace("atoll ", f"{_atoll()} ", 1))
                subprocess.run(argv, check=True, capture_output=True)
        linger.unlink(missing_ok=True)
        Path(f"/etc/sudoers.d/atoll-test-root-{agent}").unlink()
        assert problems_of(agent) == []  # every fix it named, applied, fixed its problem
    finally:
        subprocess.run(["kill", pid], capture_output=True)
        linger.unlink(missing_ok=True)
        subprocess.run(["rm", "-rf", str(sock_dir)], capture_output=True)


def _atoll() -> str:
    from tests.support.proc import atoll_bin

    return atoll_bin()


def test_reap_stops_sessions_past_max_age_keeps_them_listed_and_ledgers_it(
        accounts: Accounts) -> None:
    person = f"rp{secrets.token_hex(3)}"
    agent = f"{person}-agent"
    accounts.track(person, agent)
    ok("admin", "init")
    ok("admin", "add-person", person)
    sock = f"atoll-test-{secrets.token_hex(3)}"
    env = {"ATOLL_TMUX_SOCKET": sock}
    try:
        ok("new", "old-one", "--as", agent, "--dir", "/tmp", "--", "sleep", "1000",
           user=person, env=env)
        assert atoll("reap", env=env, user=person).returncode == 4  # root only
        atoll("admin", "policy", "-", input='max_age = "1s"\n')
        time.sleep(2.1)  # let the session grow older than max_age (not a timing assertion)
        dry = json.loads(ok("reap", "--dry-run", "--json", env=env))
        assert [r["session"] for r in dry["reaped"]] == ["old-one"]
        cron = Path("/etc/cron.d/atoll").read_text().splitlines()
        line = next(x for x in cron if " reap " in x)
        argv = shlex.split(line.split(" root ", 1)[1])
        res = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **env})
        assert res.returncode == 0, res.stderr
        listed = json.loads(ok("ls", "--json", user=person, env=env))["sessions"]
        row = next(r for r in listed if r["name"] == "old-one")
        assert row["status"] == "exited"
        ledger = [json.loads(x) for x in Path("/var/lib/atoll/ledger.jsonl").read_text()
                  .splitlines()]
        reaps = [r for r in ledger if r["action"] == "session.reap"]
        assert [r["outcome"] for r in reaps] == ["intent", "ok"]
        assert reaps[0]["details"]["rule"] == "max_age"
        assert json.loads(ok("reap", "--json", env=env))["reaped"] == []  # exited: left alone
    finally:
        atoll("admin", "policy", "-", input="")
        run_as(agent, ["tmux", "-L", sock, "kill-server"])
