"""The Ansible role (issue 17, point 4) with a real ``ansible-playbook`` (ansible-core from
PyPI, pinned in the dev extra) against two fresh sshd test hosts: apply, re-apply (no
changes), then remove the lead from one host's inventory and see the lead lose visibility
there and nowhere else. The role calls the same ``atoll admin`` commands an admin types.

The test hosts have no cgroups (read-only /sys) and no cron, so the role is run without
``atoll_limits`` here; limits and reaping are tested on the local host (tests/admin).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.hosts.harness import TestHost
from tests.hosts.testbed import Testbed

pytestmark = [pytest.mark.root, pytest.mark.slow]

ROLE_DIR = Path(__file__).resolve().parents[2] / "deploy" / "ansible"
PLAYBOOK = ROLE_DIR / "site.yml"
LOGIN_DEFS = ("sed -i -e 's/^UID_MIN.*/UID_MIN 60100/' -e 's/^UID_MAX.*/UID_MAX 60999/' "
              "-e 's/^GID_MIN.*/GID_MIN 60100/' -e 's/^GID_MAX.*/GID_MAX 60999/' "
              "-e 's/^#\\?SYS_UID_MIN.*/SYS_UID_MIN 60001/' "
              "-e 's/^#\\?SYS_UID_MAX.*/SYS_UID_MAX 60099/' "
              "-e 's/^#\\?SYS_GID_MIN.*/SYS_GID_MIN 60001/' "
              "-e 's/^#\\?SYS_GID_MAX.*/SYS_GID_MAX 60099/' /etc/login.defs")
"""Accounts made inside a test host take ids no user of this machine has (the kernel's uid
space is shared; see TestHost.add_user)."""


def _prepare(host: TestHost, deployer_key: str) -> None:
    host.run(["sh", "-c", LOGIN_DEFS])
    host.add_user("deployer", authorized_key=deployer_key)
    host.write_sudoers("deployer", "deployer ALL=(ALL) NOPASSWD: ALL\n")


def _inventory(bed: Testbed, hosts: list[TestHost], leads: dict[str, list[dict[str, object]]],
               ) -> str:
    data = {"atoll": {"hosts": {h.name: {"atoll_leads": leads[h.name]} for h in hosts},
                      "vars": {"ansible_user": "deployer",
                               "ansible_python_interpreter": "/usr/bin/python3",
                               # installed already (the hosts' venv /opt/atoll); no index
                               # is reachable from a test host, so pip must find it there
                               "atoll_install": True, "atoll_pip_args": ["--no-index"],
                               "atoll_people": [{"name": "wes"}, {"name": "nadia"},
                                                {"name": bed.operator.name}],
                               "atoll_policy": 'forbid_flags = ["--yolo"]\n'}}}
    path = bed.operator.write_file("ansible/inventory.json", json.dumps(data))
    return str(path)


def _playbook(bed: Testbed, inventory: str) -> dict[str, dict[str, int]]:
    """Run the role as the operator; the PLAY RECAP as {host: {ok, changed, failed, ...}}."""
    ansible = str(Path(sys.executable).with_name("ansible-playbook"))
    env = {"ANSIBLE_ROLES_PATH": str(ROLE_DIR / "roles"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_RETRY_FILES_ENABLED": "0",
           "ANSIBLE_LOCAL_TEMP": f"{bed.operator.home}/.ansible/tmp"}
    proc = bed.operator.run([ansible, "-i", inventory, str(PLAYBOOK)], env=env, timeout=900)
    out = proc.stdout.decode()
    assert proc.returncode == 0, out[-4000:] + proc.stderr.decode()[-2000:]
    recap: dict[str, dict[str, int]] = {}
    for line in out.split("PLAY RECAP", 1)[1].splitlines():
        m = re.match(r"^(\S+)\s+:\s+(.*)$", line.strip())
        if m:
            recap[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    return recap


def _sees(bed: Testbed, host: TestHost) -> set[str]:
    """Agent users whose sessions the operator sees on ``host`` (``atoll ls --here``)."""
    proc = bed.operator.run(["ssh", host.name, "atoll", "ls", "--json", "--here"], timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    return {s["agent_user"] for s in json.loads(proc.stdout)["sessions"]}


def test_the_role_applies_is_idempotent_and_revokes_a_lead_on_one_host_only(
        testbed: Testbed, spare_host: Callable[[], TestHost]) -> None:
    one, two = spare_host(), spare_host()
    lead = testbed.operator.name
    for host in (one, two):
        _prepare(host, testbed.operator.pubkey)
    grant = [{"name": lead, "over": ["wes-agent", "nadia-agent"]}]
    inventory = _inventory(testbed, [one, two], {one.name: grant, two.name: grant})

    first = _playbook(testbed, inventory)
    assert all(first[h.name]["changed"] > 0 and first[h.name]["failed"] == 0
               for h in (one, two))
    for host in (one, two):
        host.tmux_session("wes-agent", "w-task")
        host.tmux_session("nadia-agent", "n-task")
        assert _sees(testbed, host) == {"wes-agent", "nadia-agent"}
        assert host.exists("/etc/sudoers.d/atoll-person-wes")
        assert b'wes = "wes-agent"' in host.read_file("/etc/atoll/agent-users.toml")
        assert host.read_file("/etc/atoll/policy.toml") == b'forbid_flags = ["--yolo"]\n'

    again = _playbook(testbed, inventory)
    assert all(again[h.name]["changed"] == 0 for h in (one, two)), again

    fewer = _inventory(testbed, [one, two], {one.name: [], two.name: grant})
    revoked = _playbook(testbed, fewer)
    assert revoked[one.name]["changed"] >= 1 and revoked[two.name]["changed"] == 0
    assert _sees(testbed, one) == set()
    assert _sees(testbed, two) == {"wes-agent", "nadia-agent"}
    assert not one.exists(f"/etc/sudoers.d/atoll-lead-{lead}")
    ledger = [json.loads(x) for x in one.read_file("/var/lib/atoll/ledger.jsonl").splitlines()]
    removed = [r for r in ledger if r["action"] == "admin.change"
               and r["details"].get("change") == "sudoers.remove" and r["outcome"] == "ok"]
    assert removed and removed[-1]["target"]["subject"] == lead
