"""Resource limits per agent user (issue 17, point 1, `limits`): kernel-enforced through
cgroup v1 on this machine (the test hosts have no cgroups, so these run on the local host).
Real users, a real `atoll new` whose tmux server must land in the agent's cgroups, real
fork()s beyond pids.max."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import pytest

from atoll.service.limits import layout
from tests.admin.conftest import Accounts
from tests.support.proc import atoll, run_as

pytestmark = pytest.mark.root

FORKS = """
import os, sys, time
ok = 0
for _ in range(60):
    try:
        if os.fork() == 0:
            time.sleep(30); os._exit(0)
        ok += 1
    except OSError:
        break
open(sys.argv[1], "w").write(str(ok))
time.sleep(30)
"""


def need_v1() -> None:
    if layout() != "v1":
        pytest.skip("this host has no cgroup v1 cpu/memory/pids controllers")


def cg(ctrl: str, user: str, name: str) -> str:
    return Path(f"/sys/fs/cgroup/{ctrl}/atoll/{user}/{name}").read_text().strip()


def ok(*args: str, user: str | None = None) -> str:
    res = atoll(*args, user=user)
    assert res.returncode == 0, res.stderr
    return res.stdout


@pytest.fixture
def person(accounts: Accounts) -> tuple[str, str]:
    name = f"lm{secrets.token_hex(3)}"
    accounts.track(name, f"{name}-agent")
    ok("admin", "add-person", name)
    return name, f"{name}-agent"


def wait_for(path: Path) -> str:
    for _ in range(300):  # a guard against hangs, not a timing assertion
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.1)
    raise AssertionError(f"{path} never written")


def test_limits_cap_every_session_of_the_agent_user_in_the_kernel(
        person: tuple[str, str], tmp_path: Path) -> None:
    need_v1()
    human, agent = person
    out = json.loads(ok("admin", "limits", agent, "--pids", "20", "--memory", "64m",
                        "--cpus", "0.5", "--json"))
    assert [c["kind"] for c in out["changes"]] == ["limits.write", "cgroup.apply"]
    assert cg("pids", agent, "pids.max") == "20"
    assert int(cg("memory", agent, "memory.limit_in_bytes")) == 64 << 20
    assert cg("cpu", agent, "cpu.cfs_quota_us") == "50000"
    assert json.loads(ok("admin", "limits", agent, "--pids", "20", "--json"))["changes"] == []
    result = Path(f"/tmp/atoll-forks-{secrets.token_hex(3)}")
    sock = f"atoll-test-{secrets.token_hex(3)}"
    try:
        res = atoll("new", "capped", "--as", agent, "--dir", "/tmp", "--", "python3", "-c",
                    FORKS, str(result), user=human, env={"ATOLL_TMUX_SOCKET": sock})
        assert res.returncode == 0, res.stderr
        forked = int(wait_for(result))
        assert 0 < forked < 20  # fork() failed at pids.max, inside the kernel
        listed = atoll("ls", user=human, env={"ATOLL_TMUX_SOCKET": sock})
        assert f"atoll: caps: {agent}: cpus 0.5, memory 0.1 GiB, pids 20 (now " in listed.stderr
        doctor = atoll("doctor", "--here", "--json", user=human)
        caps = json.loads(doctor.stdout)["caps"][agent]
        assert caps["pids"] == 20 and caps["applied"] is True and caps["pids_current"] >= 2
        server = run_as(agent, ["tmux", "-L", sock, "display-message", "-p", "#{pid}"])
        pid = server.stdout.strip()
        groups = Path(f"/proc/{pid}/cgroup").read_text()
        for ctrl in ("pids", "memory", "cpu"):
            assert f":/atoll/{agent}\n" in "\n".join(
                line for line in groups.splitlines() if f":{ctrl}" in line or
                f",{ctrl}" in line) + "\n"
    finally:
        run_as(agent, ["tmux", "-L", sock, "kill-server"])
        result.unlink(missing_ok=True)


def test_the_agent_can_neither_raise_its_cap_nor_leave_its_cgroup(
        person: tuple[str, str]) -> None:
    need_v1()
    _, agent = person
    ok("admin", "limits", agent, "--pids", "50")
    raise_it = run_as(agent, ["sh", "-c", f"echo 5000 > /sys/fs/cgroup/pids/atoll/{agent}/"
                                          "pids.max"])
    assert raise_it.returncode != 0
    leave = run_as(agent, ["sh", "-c", "echo $$ > /sys/fs/cgroup/pids/cgroup.procs"])
    assert leave.returncode != 0
    sub = run_as(agent, ["mkdir", f"/sys/fs/cgroup/pids/atoll/{agent}/escape"])
    assert sub.returncode != 0
    assert cg("pids", agent, "pids.max") == "50"


def test_new_refuses_to_start_uncapped_when_the_cgroups_are_gone_and_restore_remakes_them(
        person: tuple[str, str]) -> None:
    need_v1()
    human, agent = person
    ok("admin", "limits", agent, "--pids", "64")
    for ctrl in ("cpu", "memory", "pids"):
        Path(f"/sys/fs/cgroup/{ctrl}/atoll/{agent}").rmdir()  # as a reboot does
    res = atoll("new", "nocg", "--as", agent, "--dir", "/tmp", "--", "sleep", "5", user=human)
    assert res.returncode == 1
    assert "limits --restore" in res.stderr
    check = json.loads(atoll("admin", "check", "--json").stdout)
    assert any(p["subject"] == agent and "cgroup is missing" in p["problem"]
               for p in check["problems"])
    ok("admin", "limits", "--restore")
    assert cg("pids", agent, "pids.max") == "64"


def test_layout_detection_names_v2_and_v1(tmp_path: Path) -> None:
    v2 = tmp_path / "v2"
    v2.write_text("cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n")
    assert layout(str(v2)) == "v2"
    v1 = tmp_path / "v1"
    v1.write_text("cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,cpu,cpuacct 0 0\n"
                  "cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n"
                  "cgroup /sys/fs/cgroup/pids cgroup rw,pids 0 0\n")
    assert layout(str(v1)) == "v1"


def test_setting_a_limit_moves_an_agent_server_that_already_runs(
        person: tuple[str, str]) -> None:
    need_v1()
    human, agent = person
    sock = f"atoll-test-{secrets.token_hex(3)}"
    env = {"ATOLL_TMUX_SOCKET": sock}
    try:
        res = atoll("new", "early", "--as", agent, "--dir", "/tmp", "--", "sleep", "300",
                    user=human, env=env)
        assert res.returncode == 0, res.stderr
        pid = run_as(agent, ["tmux", "-L", sock, "display-message", "-p", "#{pid}"]
                     ).stdout.strip()
        assert f"pids:/atoll/{agent}" not in Path(f"/proc/{pid}/cgroup").read_text()
        ok("admin", "limits", agent, "--pids", "100")
        assert f"pids:/atoll/{agent}" in Path(f"/proc/{pid}/cgroup").read_text()
        procs = Path(f"/sys/fs/cgroup/pids/atoll/{agent}/cgroup.procs").read_text().split()
        assert pid in procs and len(procs) >= 2  # the server and its session's processes
    finally:
        run_as(agent, ["tmux", "-L", sock, "kill-server"])


def test_a_cgroup_v2_host_is_refused_with_a_message_saying_so(
        monkeypatch: pytest.MonkeyPatch, person: tuple[str, str]) -> None:
    from atoll.core.errors import AtollError
    from atoll.service import limits

    monkeypatch.setattr(limits, "layout", lambda *a: "v2")
    with pytest.raises(AtollError, match=r"cgroup v2 only .*no limit was set"):
        limits.plan_limits(person[1], None, None, 10)


def _comm(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def test_a_bwrap_session_of_a_capped_agent_runs_inside_its_cgroups(
        person: tuple[str, str], tmp_path: Path) -> None:
    need_v1()
    import shutil

    if shutil.which("bwrap") is None:
        pytest.skip("bwrap is not installed")
    human, agent = person
    ok("admin", "limits", agent, "--pids", "200")
    project = Path(f"/tmp/atoll-bw-{secrets.token_hex(3)}")
    project.mkdir(mode=0o755)
    sock = f"atoll-test-{secrets.token_hex(3)}"
    env = {"ATOLL_TMUX_SOCKET": sock}
    try:
        res = atoll("new", "bw", "--island", "bwrap", "--as", agent, "--dir", str(project),
                    "--", "sleep", "300", user=human, env=env)
        assert res.returncode == 0, res.stderr
        pid = run_as(agent, ["tmux", "-L", sock, "display-message", "-p", "#{pid}"]
                     ).stdout.strip()
        assert f"pids:/atoll/{agent}" in Path(f"/proc/{pid}/cgroup").read_text()

        def sleeping() -> list[str]:
            procs = Path(f"/sys/fs/cgroup/pids/atoll/{agent}/cgroup.procs").read_text().split()
            return [p for p in procs if _comm(p) == "sleep"]

        for _ in range(100):  # the sandbox takes a moment to start (a guard, not a timing)
            if sleeping():
                break
            time.sleep(0.1)
        assert sleeping()  # the sandboxed agent itself counts against the cap
    finally:
        run_as(agent, ["tmux", "-L", sock, "kill-server"])
        atoll("purge", "bw", "--as", agent, "--force", user=human, env=env)
        shutil.rmtree(project, ignore_errors=True)
