"""The README's "Set up a team" commands, run as written (names given a random tag, since
wes, nadia and marcus may exist on this machine): they succeed, a second run changes
nothing, and `unlead` revokes exactly what it says."""

from __future__ import annotations

import re
import secrets
import subprocess
from pathlib import Path

import pytest

from tests.admin.conftest import Accounts
from tests.support.proc import atoll_bin, run_as

pytestmark = pytest.mark.root
README = Path(__file__).resolve().parents[2] / "README.md"


def commands(names: dict[str, str]) -> list[str]:
    section = README.read_text().split("## Set up a team", 1)[1].split("\n## ", 1)[0]
    block = section.split("```console\n", 1)[1].split("```", 1)[0]
    joined = block.replace("\\\n", "")
    out = []
    for line in joined.splitlines():
        cmd = line.removeprefix("# ").split("  #", 1)[0].strip()
        for old, new in names.items():
            cmd = re.sub(rf"\b{old}\b", new, cmd)
        out.append(cmd.replace("atoll ", f"{atoll_bin()} "))
    return out


def test_the_readme_team_commands_work_and_are_idempotent(accounts: Accounts) -> None:
    t = secrets.token_hex(2)
    names = {"wes": f"rw{t}", "nadia": f"rn{t}", "marcus": f"rm{t}"}
    accounts.track(*names.values(), *(f"{n}-agent" for n in names.values()))
    steps = commands(names)
    assert len(steps) == 8 and steps[0].endswith("admin init")
    for step in steps:
        res = subprocess.run(["sh", "-c", step], capture_output=True, text=True)
        assert res.returncode == (1 if step.endswith("admin check") else 0), (step, res.stderr)
    for step in steps[:-1]:
        res = subprocess.run(["sh", "-c", step], capture_output=True, text=True)
        assert res.returncode == 0 and res.stdout == "", (step, res.stdout)
    lead, wes = names["marcus"], names["wes"]
    assert run_as(lead, ["sudo", "-n", "-u", f"{wes}-agent", "true"]).returncode == 0
    subprocess.run([atoll_bin(), "admin", "unlead", lead, "--over", f"{wes}-agent"], check=True,
                   capture_output=True)
    assert run_as(lead, ["sudo", "-n", "-u", f"{wes}-agent", "true"]).returncode != 0
    assert run_as(lead, ["sudo", "-n", "-u", f"{names['nadia']}-agent", "true"]).returncode == 0
