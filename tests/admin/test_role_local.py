"""The Ansible role's limits and policy tasks, which the sshd test hosts cannot run (no
cgroups there): a real ``ansible-playbook`` with a local connection on this host, inside
this test module's private host files (tests/admin/conftest.py). Run it under the heavy
lock: ``flock /tmp/atoll-heavy.lock .venv/bin/python -m pytest tests/admin/test_role_local.py``.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from atoll.service.limits import layout
from tests.admin.conftest import Accounts
from tests.support.proc import atoll_bin

pytestmark = [pytest.mark.root, pytest.mark.slow]
ROLE_DIR = Path(__file__).resolve().parents[2] / "deploy" / "ansible"


def play(inventory: Path, tmp: Path) -> dict[str, int]:
    ansible = str(Path(sys.executable).with_name("ansible-playbook"))
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "HOME": str(tmp), "LANG": "C.UTF-8", "ANSIBLE_ROLES_PATH": str(ROLE_DIR / "roles"),
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-tmp")}
    proc = subprocess.run([ansible, "-i", str(inventory), str(ROLE_DIR / "site.yml")],
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    line = next(x for x in proc.stdout.split("PLAY RECAP", 1)[1].splitlines() if ":" in x)
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}


def test_the_role_sets_limits_and_policy_and_a_rerun_changes_nothing(
        accounts: Accounts, tmp_path: Path) -> None:
    if layout() != "v1":
        pytest.skip("no cgroup v1 controllers on this host")
    person = f"rl{secrets.token_hex(3)}"
    agent = f"{person}-agent"
    accounts.track(person, agent)
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"atoll": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "atoll_install": False, "atoll_bin": atoll_bin(),
        "atoll_people": [{"name": person}],
        "atoll_limits": [{"agent_user": agent, "cpus": 1.5, "memory": "256m", "pids": 300}],
        "atoll_policy": 'max_idle = "4h"\n'}}}}))
    first = play(inventory, tmp_path)
    assert first["changed"] >= 3 and first["failed"] == 0
    assert Path(f"/sys/fs/cgroup/pids/atoll/{agent}/pids.max").read_text().strip() == "300"
    quota = Path(f"/sys/fs/cgroup/cpu/atoll/{agent}/cpu.cfs_quota_us").read_text().strip()
    assert quota == "150000"
    assert Path("/etc/atoll/policy.toml").read_text() == 'max_idle = "4h"\n'
    assert play(inventory, tmp_path)["changed"] == 0
