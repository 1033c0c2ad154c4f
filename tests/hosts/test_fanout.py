"""Fan-out across real hosts (atoll.fleet.remote), run as the real operator ``marcus``:
exact visibility per sudoers, down/slow/dying hosts, hostile answers, stale cache, wedged
ControlMaster, remote actions."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import psutil
import pytest

from tests.hosts.conftest import DRIVE, GRANT, drive, query
from tests.hosts.harness import TestHost, wait_until
from tests.hosts.testbed import Testbed

pytestmark = [pytest.mark.root, pytest.mark.slow]
ALL = ("hosta=hosta", "hostb=hostb", "hostc=hostc", "hostd=hostd")


def _names(entry: dict[str, Any]) -> set[tuple[str, str]]:
    return {(s["agent_user"], s["name"]) for s in entry["sessions"]}


def test_operator_sees_exactly_what_each_host_grants(testbed: Testbed) -> None:
    got = query(testbed, 5, *ALL)
    assert list(got) == ["hosta", "hostb", "hostc", "hostd"]
    assert _names(got["hostb"]) == {("wes-agent", "wes-fix-login"),
                                    ("nadia-agent", "nadia-review")}
    assert _names(got["hostc"]) == set()
    assert got["hostc"]["host"]["reachable"] is True and got["hostc"]["host"]["error"] is None
    assert _names(got["hosta"]) == {("marcus", "a-own")}
    for name in ("hosta", "hostb", "hostc"):
        assert all(s["host"] == name for s in got[name]["sessions"])
        assert got[name]["host"]["stale"] is False


def test_down_host_is_a_row_while_the_others_list(testbed: Testbed) -> None:
    got = query(testbed, 3, *ALL)
    down = got["hostd"]["host"]
    assert down["reachable"] is False and down["error"]
    assert got["hostd"]["sessions"] == []
    assert _names(got["hostb"]) and _names(got["hosta"])


def test_revoking_sudoers_hides_sessions_at_next_query(testbed: Testbed) -> None:
    b = testbed.hosts["hostb"]
    assert _names(query(testbed, 10, "hostb=hostb")["hostb"])
    b.remove_sudoers("marcus")
    try:
        after = query(testbed, 10, "hostb=hostb")["hostb"]
        assert after["host"]["reachable"] is True and after["host"]["error"] is None
        assert _names(after) == set()
    finally:
        b.write_sudoers("marcus", GRANT)
    assert len(_names(query(testbed, 10, "hostb=hostb")["hostb"])) == 2


def test_sshd_killed_during_a_query(spare_host: Callable[[], TestHost],
                                    testbed: Testbed) -> None:
    host = spare_host()
    host.install_fake_atoll("#!/bin/sh\ntouch /tmp/atoll-started\nexec sleep 600\n")
    proc = testbed.operator.popen([sys.executable, DRIVE, "query", "60",
                                   f"{host.name}={host.name}", "hostb=hostb"])
    wait_until(lambda: host.exists("/tmp/atoll-started"), "the remote atoll to start")
    host.kill_sshd()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    got = {r["host"]["host"]: r for r in json.loads(out)["results"]}
    row = got[host.name]["host"]
    assert row["reachable"] is False
    assert "no answer within" not in row["error"]  # it ended because sshd died, not by timeout
    assert got[host.name]["sessions"] == []
    assert len(got["hostb"]["sessions"]) == 2


def test_slow_host_times_out_alone(spare_host: Callable[[], TestHost],
                                   testbed: Testbed) -> None:
    host = spare_host()
    host.tmux_session("marcus", "slow-own")
    host.add_delay(400)  # each direction; an ssh login needs several round trips
    slow = f"{host.name}={host.name}@1"
    got = query(testbed, 30, slow, "hostb=hostb", "hosta=hosta")
    row = got[host.name]["host"]
    assert row["reachable"] is False and row["error"] == "no answer within 1s"
    assert len(got["hostb"]["sessions"]) == 2 and len(got["hosta"]["sessions"]) == 1
    # the same host answers when given time: it is slow, not dead
    patient = query(testbed, 120, f"{host.name}={host.name}")[host.name]
    assert patient["host"]["reachable"] is True, patient["host"]
    assert _names(patient) == {("marcus", "slow-own")}


LISTING_OK = {
    "hosts": [{"host": "local", "reachable": True}],
    "sessions": [{
        "host": "hostb", "name": "ok-1", "agent": "shell", "project": "/p", "worktree": "",
        "agent_user": "marcus", "launched_by": "marcus", "island": "user", "status": "idle",
        "idle_seconds": 5, "created": "2026-11-20T12:00:00Z",
        "last_activity": "2026-11-20T12:00:05Z", "attached": 0, "cpu_percent": 0.5,
        "rss_bytes": 1024, "pid": 42, "command": "bash", "exit_status": None,
    }],
}


def _with(**changes: Any) -> str:
    listing = json.loads(json.dumps(LISTING_OK))
    listing["sessions"][0].update(changes)
    return json.dumps(listing)


HOSTILE = [
    ("control chars in name", _with(name="evil\u001b]0;pwned\u0007"), "name holds control"),
    ("C1 CSI in command", _with(command="ls \u009b2J"), "command holds control"),
    ("newline in project", _with(project="/p\nforged row"), "project holds control"),
    ("wrong type", _with(attached="1"), "malformed answer"),
    ("sessions not a list", json.dumps({"hosts": [], "sessions": {"a": 1}}), "malformed"),
    ("not json", "hello, I am definitely atoll", "malformed answer"),
    ("bad status", _with(status="pwned"), "malformed answer"),
    ("negative pid", _with(pid=-1), "pid out of range"),
    ("huge rss", _with(rss_bytes=2**62), "rss_bytes out of range"),
    ("fake time", _with(created="yesterday"), "created is not an RFC 3339"),
    ("long name", _with(name="x" * 5000), "name longer than"),
    # issue 11 point 4: msgspec decodes any JSON integer into an int field; a 401-digit pid
    # raised OverflowError in the range check and lost every host's listing.
    ("401-digit pid", _with(pid=10**400), "pid out of range"),
    ("401-digit idle", _with(idle_seconds=-(10**400)), "idle_seconds out of range"),
    ("1e400 cpu", _with(cpu_percent=1.0).replace('"cpu_percent": 1.0', '"cpu_percent": 1e400'),
     "malformed answer"),
    ("deeply nested unknown field",
     _with().replace('{"hosts": ', '{"x": ' + "[" * 200_000 + "]" * 200_000 + ', "hosts": ', 1),
     "nested too deeply"),
    ("too many rows", json.dumps({"hosts": [], "sessions": LISTING_OK["sessions"] * 10_001}),
     "more than 10000 sessions"),
]


def _fake(host: TestHost, body: str, code: int = 0, stderr: str = "") -> None:
    host.write_file("/usr/local/share/answer", body)
    host.write_file("/usr/local/share/answer-err", stderr)
    host.install_fake_atoll("#!/bin/sh\ncat /usr/local/share/answer\n"
                            f"cat /usr/local/share/answer-err >&2\nexit {code}\n")


def test_hostile_answers_are_rejected(spare_host: Callable[[], TestHost],
                                      testbed: Testbed) -> None:
    host = spare_host()
    spec = f"{host.name}={host.name}"
    for label, body, fragment in HOSTILE:
        _fake(host, body)
        entry = query(testbed, 20, spec)[host.name]
        row = entry["host"]
        assert row["reachable"] is True, label
        assert row["error"].startswith("rejected answer: "), (label, row)
        assert fragment in row["error"], (label, row["error"])
        assert entry["sessions"] == [], label
        assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in row["error"]), label


def test_one_hostile_host_is_its_own_row_and_the_others_list(
        spare_host: Callable[[], TestHost], testbed: Testbed) -> None:
    host = spare_host()
    _fake(host, _with(pid=10**400))
    got = query(testbed, 20, f"{host.name}={host.name}", "hosta=hosta")
    assert got[host.name]["host"]["error"] == "rejected answer: session 0: pid out of range"
    assert got[host.name]["sessions"] == []
    assert got["hosta"]["host"]["error"] is None
    assert _names(got["hosta"]) == {("marcus", "a-own")}


def test_oversized_answer_is_cut_off(spare_host: Callable[[], TestHost],
                                     testbed: Testbed) -> None:
    host = spare_host()
    host.install_fake_atoll("#!/bin/sh\nexec yes '{\"hosts\": [], \"sessions\": []}'\n")
    entry = query(testbed, 30, f"{host.name}={host.name}")[host.name]
    assert "answer larger than" in entry["host"]["error"]
    assert entry["sessions"] == []


def test_peer_label_is_replaced_and_errors_are_one_clean_line(
        spare_host: Callable[[], TestHost], testbed: Testbed) -> None:
    host = spare_host()
    spec = f"{host.name}={host.name}"
    _fake(host, json.dumps(LISTING_OK))  # the peer claims to be hostb
    entry = query(testbed, 20, spec)[host.name]
    assert [s["host"] for s in entry["sessions"]] == [host.name]
    _fake(host, "", code=4, stderr="atoll: error: \u001b[31mdenied\nforged: line\n")
    row = query(testbed, 20, spec)[host.name]["host"]
    assert row["error"].startswith("atoll ls failed (exit 4): ")
    assert "\u001b" not in row["error"] and "\n" not in row["error"]


def test_last_good_answer_is_shown_stale(spare_host: Callable[[], TestHost],
                                         testbed: Testbed) -> None:
    host = spare_host()
    spec = f"{host.name}={host.name}"
    host.tmux_session("marcus", "cached-one")
    fresh = query(testbed, 20, spec)[host.name]
    assert _names(fresh) == {("marcus", "cached-one")} and fresh["host"]["stale"] is False
    host.kill_sshd()
    stale = query(testbed, 5, spec)[host.name]
    assert stale["host"]["reachable"] is False and stale["host"]["stale"] is True
    assert stale["host"]["age_seconds"] is not None and stale["host"]["age_seconds"] >= 0
    assert _names(stale) == {("marcus", "cached-one")}
    host.start_sshd()
    _fake(host, _with(name="bad\u0007"))  # a hostile answer falls back to the cache too
    hostile = query(testbed, 20, spec)[host.name]
    assert hostile["host"]["stale"] is True and _names(hostile) == {("marcus", "cached-one")}
    assert hostile["host"]["error"].startswith("rejected answer")


def _master_pids(testbed: Testbed) -> list[int]:
    uid = testbed.operator.uid
    found = []
    for proc in psutil.process_iter(["uids", "name"]):
        if proc.info["name"] == "ssh" and proc.info["uids"].real == uid:
            with_socket = [c for c in proc.net_connections(kind="unix")
                           if isinstance(c.laddr, str) and "/atoll/ssh/" in c.laddr]
            if with_socket:
                found.append(proc.pid)
    return found


def test_wedged_control_master_is_replaced(spare_host: Callable[[], TestHost],
                                           testbed: Testbed) -> None:
    host = spare_host()
    host.tmux_session("marcus", "behind-wedge")
    spec = f"{host.name}={host.name}"
    others = set(_master_pids(testbed))
    assert _names(query(testbed, 20, spec)[host.name])
    before = set(_master_pids(testbed)) - others  # this host's master
    assert len(before) == 1
    for pid in before:  # a master that accepts on its socket but never answers
        os.kill(pid, signal.SIGSTOP)
    try:
        again = query(testbed, 20, spec)[host.name]
        assert again["host"]["error"] is None, again["host"]
        assert _names(again) == {("marcus", "behind-wedge")}
        for pid in before:  # ours was killed, not left stopped forever
            wait_until(lambda p=pid: not psutil.pid_exists(p)  # type: ignore[misc]
                       or psutil.Process(p).status() == psutil.STATUS_ZOMBIE, "old master")
    finally:
        for pid in before:
            if psutil.pid_exists(pid):
                os.kill(pid, signal.SIGCONT)


def test_remote_actions(testbed: Testbed) -> None:
    b, c = testbed.hosts["hostb"], testbed.hosts["hostc"]
    b.tmux_session("wes-agent", "to-kill")
    peek = drive(testbed, "action", "hostb", "cid-peek-1", "atoll", "peek", "wes-fix-login",
                 "--as", "wes-agent")
    assert peek["ok"] is True, peek
    killed = drive(testbed, "action", "hostb", "cid-kill-1", "atoll", "kill", "to-kill",
                   "--as", "wes-agent")
    assert killed["ok"] is True, killed
    assert b.run(["tmux", "-L", "atoll", "has-session", "-t", "=to-kill"], user="wes-agent",
                 check=False).returncode != 0
    missing = drive(testbed, "action", "hostb", "cid-2", "atoll", "kill", "no-such-session")
    assert missing["ok"] is False and missing["exit_code"] == 3, missing
    assert missing["error"].startswith("hostb: ")
    refused = drive(testbed, "action", "hostc", "cid-3", "atoll", "kill", "c-wes-secret",
                    "--as", "wes-agent")
    assert refused["ok"] is False and refused["exit_code"] in (3, 4), refused
    assert c.run(["tmux", "-L", "atoll", "has-session", "-t", "=c-wes-secret"],
                 user="wes-agent", check=False).returncode == 0
    down = drive(testbed, "action", "hostd", "cid-4", "atoll", "peek", "x")
    assert down["ok"] is False and down["exit_code"] == 5, down
    not_atoll = drive(testbed, "action", "hostb", "cid-5", "sh", "-c", "id")
    assert not_atoll["ok"] is False and not_atoll["exit_code"] == 2


def test_remote_new_then_listed_and_logged_there(testbed: Testbed) -> None:
    b = testbed.hosts["hostb"]
    made = drive(testbed, "action", "hostb", "cid-new-7", "atoll", "new", "made-remotely",
                 "--as", "nadia-agent", "--", "sleep", "1000")
    assert made["ok"] is True, made
    try:
        rows = query(testbed, 10, "hostb=hostb")["hostb"]["sessions"]
        mine = [s for s in rows if s["name"] == "made-remotely"]
        assert [(s["agent_user"], s["launched_by"], s["host"]) for s in mine] == [
            ("nadia-agent", "marcus", "hostb")]
        # the correlation id reached the peer (its ledger names it; `--` kept the command)
        logged = b.run(["grep", "-rl", "cid-new-7", "/home/marcus/.local/state"], check=False)
        assert logged.returncode == 0, "correlation id not found in hostb's ledger"
    finally:
        b.run(["tmux", "-L", "atoll", "kill-session", "-t", "=made-remotely"],
              user="nadia-agent", check=False)
