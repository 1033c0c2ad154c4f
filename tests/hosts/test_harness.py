"""The test hosts are what they claim: separate machines with their own address, /etc,
/tmp, processes and sshd; faults behave as described; teardown leaves nothing behind."""

from __future__ import annotations

import json
import os
import pwd
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.hosts.harness import HOST_ID_RANGE, STATE_DIR, HostError, TestHost, wait_until
from tests.hosts.testbed import Testbed

pytestmark = [pytest.mark.root, pytest.mark.slow]


def test_operator_reaches_each_host_by_alias(testbed: Testbed) -> None:
    for name in ("hosta", "hostb", "hostc"):
        proc = testbed.operator.run(["ssh", name, "--", "hostname; id -un; echo $SSH_CONNECTION"])
        assert proc.returncode == 0, proc.stderr.decode()
        hostname, user, conn = proc.stdout.decode().splitlines()
        assert (hostname, user) == (name, "marcus")
        assert conn.split()[2] == testbed.hosts[name].address


def test_brief_example_command_works(testbed: Testbed) -> None:
    proc = subprocess.run(["sudo", "-u", "marcus", "ssh", "hostb", "--", "atoll", "ls", "--json",
                           "--here"], capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    assert "sessions" in json.loads(proc.stdout)


def test_hosts_have_their_own_etc_tmp_and_processes(testbed: Testbed) -> None:
    a, b, c = (testbed.hosts[n] for n in ("hosta", "hostb", "hostc"))
    assert b.run(["id", "wes-agent"], check=False).returncode == 0
    assert a.run(["id", "wes-agent"], check=False).returncode != 0
    assert b.exists("/etc/sudoers.d/marcus") and not c.exists("/etc/sudoers.d/marcus")
    b.write_file("/tmp/only-on-b", "b")
    assert b.exists("/tmp/only-on-b")
    assert not c.exists("/tmp/only-on-b") and not Path("/tmp/only-on-b").exists()
    b_cmds = b.run(["ps", "-e", "-o", "args="]).stdout.decode()
    a_cmds = a.run(["ps", "-e", "-o", "args="]).stdout.decode()
    assert "atoll-test-init" in b_cmds and "tmux" in b_cmds
    assert "tmux" in a_cmds  # marcus's own server on a
    assert b.run(["cat", "/proc/1/comm"]).stdout.strip() == b"python3"
    # each host's tmux servers live in its own /tmp
    assert c.run(["sh", "-c", "ls /tmp/tmux-*/atoll"], check=False).returncode == 0
    assert a.run(["sh", "-c", "ls /tmp/tmux-$(id -u wes-agent 2>/dev/null || echo none)"],
                 check=False).returncode != 0


def test_sudo_rules_are_real(testbed: Testbed) -> None:
    b, c = testbed.hosts["hostb"], testbed.hosts["hostc"]
    ok = b.run(["sudo", "-n", "-u", "wes-agent", "--", "id", "-un"], user="marcus")
    assert ok.stdout.strip() == b"wes-agent"
    refused = b.run(["sudo", "-n", "-u", "omar-agent", "--", "true"], user="marcus", check=False)
    assert refused.returncode != 0
    refused_c = c.run(["sudo", "-n", "-u", "wes-agent", "--", "true"], user="marcus", check=False)
    assert refused_c.returncode != 0
    with pytest.raises(HostError, match="visudo rejected"):
        c.write_sudoers("broken", "marcus ALL=(wes-agent NOPASSWD ALL\n")
    assert not c.exists("/etc/sudoers.d/broken")


def test_down_host_answers_nothing(testbed: Testbed) -> None:
    down = testbed.down["hostd"]
    with socket.socket() as sock:
        sock.settimeout(1.0)
        with pytest.raises(TimeoutError):  # not refused, not unreachable: silence
            sock.connect((down.address, 22))


def test_stop_start_keeps_disk_and_loses_processes(spare_host: Callable[[], TestHost],
                                                   testbed: Testbed) -> None:
    host = spare_host()
    host.add_user("wes-agent")
    host.tmux_session("wes-agent", "before-stop")
    host.write_file("/root/on-disk", "kept")
    host.stop()
    with pytest.raises(HostError, match="not running"):
        host.run(["true"])
    host.start()
    assert host.read_file("/root/on-disk") == b"kept"
    uid = int(host.run(["id", "-u", "wes-agent"]).stdout)
    lo, hi = HOST_ID_RANGE
    assert lo <= uid <= hi  # no clash with this machine's throwaway users (pkill -u)
    with pytest.raises(KeyError):
        pwd.getpwuid(uid)
    listed = host.run(["tmux", "-L", "atoll", "ls"], user="wes-agent", check=False)
    assert listed.returncode != 0  # the server died with the host
    proc = testbed.operator.run(["ssh", host.name, "--", "hostname"])
    assert proc.stdout.strip() == host.name.encode()


def test_kill_sshd_kills_listener_and_connections(spare_host: Callable[[], TestHost],
                                                  testbed: Testbed) -> None:
    host = spare_host()
    sleeper = testbed.operator.popen(["ssh", host.name, "--", "sleep 300"])
    wait_until(lambda: host.has_process("sleep 300"), "the remote sleep")
    host_pids = host.sshd_pids()
    assert len(host_pids) >= 2  # listener + the connection (+ privsep child)
    host.kill_sshd()
    assert host.sshd_pids() == []
    assert sleeper.wait(timeout=60) == 255
    host.start_sshd()
    assert testbed.operator.run(["ssh", host.name, "--", "true"]).returncode == 0


def test_delay_keeps_the_host_working(spare_host: Callable[[], TestHost],
                                      testbed: Testbed) -> None:
    host = spare_host()
    mode = host.add_delay(50)
    assert mode in ("netem", "proxy")
    proc = testbed.operator.run(["ssh", host.name, "--", "hostname"])
    assert proc.stdout.strip() == host.name.encode(), proc.stderr.decode()
    host.clear_delay()
    assert host.delay_mode is None
    assert testbed.operator.run(["ssh", host.name, "--", "true"]).returncode == 0


def test_teardown_leaves_nothing(testbed: Testbed) -> None:
    bed = Testbed(operator="marcus-tmp")
    host = bed.add_host("teardown")
    bed.add_down_host("teardown-down")
    init = host.init_pid
    made = dict(bed.res.state)
    netns = [host.netns, bed.down["teardown-down"].netns]
    bed.close()
    assert not Path(made["dir"]).exists()
    assert not (STATE_DIR / f"{bed.res.id}.json").exists()
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(ns in listed for ns in netns)
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert host.veth not in links
    assert subprocess.run(["id", "marcus-tmp"], capture_output=True).returncode != 0
    assert init is not None and not os.path.exists(f"/proc/{init}")
    mounts = Path("/proc/self/mountinfo").read_text()
    assert made["dir"] not in mounts
