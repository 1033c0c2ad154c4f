"""``atoll doctor`` across real hosts: reachability, atoll/tmux versions, agent users the
operator may act as (exactly what sudoers grants), problems and exit status."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from atoll import __version__
from tests.hosts.conftest import drive
from tests.hosts.harness import TestHost
from tests.hosts.testbed import Testbed

pytestmark = [pytest.mark.root, pytest.mark.slow]

# Until the lead registers `doctor` in atoll.cli.main, peers run it through this shim,
# which calls the very same click command; it is dropped as soon as `atoll doctor` exists.
SHIM = """#!/bin/sh
if [ "$1" = doctor ]; then
  shift
  exec /opt/atoll/bin/python -c 'import sys; from atoll.cli.doctor import doctor_cmd; \
doctor_cmd(sys.argv[1:], prog_name="atoll doctor")' "$@"
fi
exec /opt/atoll/bin/atoll "$@"
"""
LOCAL_SHIM = ("import sys; from atoll.cli.doctor import doctor_cmd; "
              "doctor_cmd(sys.argv[1:], prog_name='atoll doctor')")


def _has_doctor(host: TestHost) -> bool:
    return host.run(["atoll", "doctor", "--help"], check=False).returncode == 0


@pytest.fixture(scope="module")
def doctor_hosts(testbed: Testbed) -> Iterator[Testbed]:
    shimmed = [h for n, h in testbed.hosts.items() if n.startswith("host") and not
               _has_doctor(h)]
    for host in shimmed:
        host.install_fake_atoll(SHIM)
    yield testbed
    for host in shimmed:
        host.restore_atoll()


def _doctor(bed: Testbed, *specs: str) -> dict[str, dict[str, Any]]:
    out = drive(bed, "doctor", "10", *specs)
    return {r["host"]: r for r in out["reports"]}


def test_doctor_reports_each_host(doctor_hosts: Testbed) -> None:
    got = _doctor(doctor_hosts, "hosta=hosta", "hostb=hostb", "hostc=hostc", "hostd=hostd")
    assert list(got) == ["local", "hosta", "hostb", "hostc", "hostd"]
    b, c, a, d = got["hostb"], got["hostc"], got["hosta"], got["hostd"]
    assert b["reachable"] and b["problems"] == [] and b["operator"] == "marcus"
    assert b["atoll"] == {"present": True, "version": __version__}
    assert b["tmux"]["present"] is True and b["tmux"]["version"]
    assert b["agent_users"]["allowed"] == ["nadia-agent", "wes-agent"]
    assert set(b["agent_users"]["candidates"]) == {"nadia-agent", "omar-agent", "wes-agent"}
    assert c["reachable"] and c["problems"] == [] and c["agent_users"]["allowed"] == []
    assert len(c["agent_users"]["candidates"]) == 3
    assert a["agent_users"] == {"candidates": [], "allowed": []}
    assert d["reachable"] is False and d["problems"][0].startswith("unreachable: ")


def test_doctor_names_missing_tools(spare_host: Callable[[], TestHost],
                                    doctor_hosts: Testbed) -> None:
    host = spare_host()
    spec = f"{host.name}={host.name}"
    if not _has_doctor(host):
        host.install_fake_atoll(SHIM)
    host.run(["rm", "-f", "/usr/bin/tmux"])
    report = _doctor(doctor_hosts, spec)[host.name]
    assert report["reachable"] and report["tmux"] == {"present": False, "version": None}
    assert report["problems"] == ["tmux not found (install tmux)"]
    host.run(["rm", "-f", "/usr/local/bin/atoll"])
    report = _doctor(doctor_hosts, spec)[host.name]
    assert report["problems"] == ["atoll not found there (install it on the host)"]
    assert report["atoll"]["present"] is False


def test_doctor_rejects_hostile_report(spare_host: Callable[[], TestHost],
                                       doctor_hosts: Testbed) -> None:
    host = spare_host()
    evil = {"host": "x", "reachable": True, "operator": "marcus\u001b[2J",
            "atoll": {"present": True, "version": "9"}, "tmux": {"present": True},
            "agent_users": {"candidates": [], "allowed": ["root"]}, "problems": []}
    host.write_file("/usr/local/share/report", json.dumps(evil))
    host.install_fake_atoll("#!/bin/sh\ncat /usr/local/share/report\n")
    report = _doctor(doctor_hosts, f"{host.name}={host.name}")[host.name]
    assert report["problems"] == [
        "rejected doctor answer: a text field is too long or holds control characters"]
    assert report["agent_users"]["allowed"] == []


def _local_doctor(bed: Testbed, *args: str) -> Any:
    atoll = str(Path(sys.executable).parent / "atoll")
    use_cli = bed.operator.run([atoll, "doctor", "--help"]).returncode == 0
    argv = [atoll, "doctor"] if use_cli else [sys.executable, "-c", LOCAL_SHIM]
    return bed.operator.run([*argv, *args])


def test_doctor_cli_table_and_exit_status(doctor_hosts: Testbed) -> None:
    doctor_hosts.operator.write_file(
        ".config/atoll/config.toml",
        '[[hosts]]\nname = "b"\nssh = "hostb"\n\n[[hosts]]\nname = "d"\nssh = "hostd"\n'
        'timeout = 2\n')
    healthy = _local_doctor(doctor_hosts, "--host", "b")
    assert healthy.returncode == 0, healthy.stderr.decode()
    lines = healthy.stdout.decode().splitlines()
    assert lines[0].split() == ["HOST", "REACHABLE", "ATOLL", "TMUX", "AGENT", "USERS",
                                "PROBLEMS"]
    assert lines[1].split()[:5] == ["b", "yes", __version__, lines[1].split()[3],
                                    "nadia-agent,wes-agent"]
    sick = _local_doctor(doctor_hosts, "--host", "local", "--host", "b", "--host", "d")
    assert sick.returncode == 1
    table = [ln for ln in sick.stdout.decode().splitlines() if not ln.startswith("warning: ")]
    assert [ln.split()[0] for ln in table] == ["HOST", "local", "b", "d"]
    # hostb's agent users come from a plain useradd: Debian 12 makes their homes 0755
    warned = [ln for ln in sick.stdout.decode().splitlines() if ln.startswith("warning: b: ")]
    assert any("agent user wes-agent's home /home/wes-agent is open to every user" in ln
               for ln in warned), warned
    for column in ("REACHABLE", "ATOLL", "TMUX", "AGENT USERS", "PROBLEMS"):
        at = table[0].index(column)
        assert all(ln[at - 2:at] == "  " and ln[at] != " " for ln in table), column
    assert table[3].split()[1] == "no" and "unreachable" in table[3]
    as_json = _local_doctor(doctor_hosts, "--json", "--host", "d")
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["hosts"][0]["reachable"] is False
