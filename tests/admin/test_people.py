"""`atoll admin add-person`, `lead`, `unlead` (issue 17, point 1): real users, real sudoers
checked by visudo, real sudo deciding who may act as whom; the host ledger records each
change. Host files are private to this test process (tests/admin/conftest.py)."""

from __future__ import annotations

import json
import os
import pwd
import secrets
import stat
from pathlib import Path

import pytest

from atoll.core import admin as text
from atoll.core.errors import AtollError
from atoll.service.admin import install_sudoers
from tests.admin.conftest import Accounts
from tests.support.proc import atoll, run_as
from tests.support.users import UserFactory

pytestmark = pytest.mark.root


def tag() -> str:
    return secrets.token_hex(3)


def admin(*args: str) -> dict[str, object]:
    res = atoll("admin", *args, "--json")
    assert res.returncode == 0, res.stderr
    out: dict[str, object] = json.loads(res.stdout)
    return out


def kinds(result: dict[str, object]) -> list[str]:
    changes = result["changes"]
    assert isinstance(changes, list)
    return [c["kind"] for c in changes]


def may_sudo(user: str, target: str) -> bool:
    return run_as(user, ["sudo", "-n", "-u", target, "true"]).returncode == 0


def host_ledger() -> list[dict[str, object]]:
    raw = Path("/var/lib/atoll/ledger.jsonl").read_text()
    return [json.loads(line) for line in raw.splitlines()]


def test_admin_refuses_a_non_root_caller(users: UserFactory) -> None:
    someone = users.user(users.name("adnr"))
    res = atoll("admin", "add-person", "x" + tag(), user=someone)
    assert res.returncode == 4
    assert "run it as root" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_add_person_makes_users_private_homes_group_rule_and_map(accounts: Accounts) -> None:
    person = f"ap{tag()}"
    agent = f"{person}-agent"
    accounts.track(person, agent)
    first = admin("add-person", person)
    assert {"user.create", "sudoers.write", "map.write"} <= set(kinds(first))
    for name in (person, agent):
        home = pwd.getpwnam(name).pw_dir
        assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    assert agent in __import__("grp").getgrnam(text.AGENT_GROUP).gr_mem
    rule = Path(text.person_file(person))
    assert stat.S_IMODE(rule.stat().st_mode) == 0o440
    body = rule.read_text()
    assert f"{person} ALL=({agent}) NOPASSWD: ALL" in body
    assert "constrains the agent, not the person" in body
    assert may_sudo(person, agent)
    assert not may_sudo(agent, person)  # the rule is one way
    assert f'{person} = "{agent}"' in Path("/etc/atoll/agent-users.toml").read_text()


def test_add_person_is_idempotent_and_every_change_is_in_the_host_ledger(
        accounts: Accounts) -> None:
    person = f"ai{tag()}"
    accounts.track(person, f"{person}-agent", "botx" + person)
    made = admin("add-person", person, "--agent-user", "botx" + person)
    again = atoll("admin", "add-person", person, "--agent-user", "botx" + person)
    assert again.returncode == 0 and again.stdout == ""
    assert "no changes" in again.stderr
    assert admin("add-person", person, "--agent-user", "botx" + person)["changes"] == []
    records = [r for r in host_ledger() if r["action"] == "admin.change"]
    changes = made["changes"]
    assert isinstance(changes, list)
    for change in changes:
        ok = [r for r in records if r["outcome"] == "ok"
              and r["details"]["change"] == change["kind"]
              and r["target"]["subject"] == change["subject"]]
        assert ok, f"no ledger record of {change}"
    intents = [r for r in records if r["outcome"] == "intent"]
    assert intents and all(r["actor"]["uid"] == 0 for r in records)
    verify = atoll("audit", "--ledger", "/var/lib/atoll/ledger.jsonl", "verify")
    assert verify.returncode == 0, verify.stderr


def test_dry_run_prints_the_changes_and_makes_none(accounts: Accounts) -> None:
    person = f"dr{tag()}"
    accounts.track(person, f"{person}-agent")
    res = atoll("admin", "add-person", person, "--dry-run")
    assert res.returncode == 0, res.stderr
    assert f"would: create user {person}" in res.stdout
    assert f"would: write {text.person_file(person)}" in res.stdout
    with pytest.raises(KeyError):
        pwd.getpwnam(person)
    assert not Path(text.person_file(person)).exists()


def test_lead_and_unlead_grant_and_revoke_exactly_the_named_agent_users(
        accounts: Accounts) -> None:
    lead, a, b = f"ld{tag()}", f"pa{tag()}", f"pb{tag()}"
    accounts.track(lead, f"{lead}-agent", a, f"{a}-agent", b, f"{b}-agent")
    for p in (lead, a, b):
        admin("add-person", p)
    assert not may_sudo(lead, f"{a}-agent")
    admin("lead", lead, "--over", f"{a}-agent", "--over", f"{b}-agent")
    assert may_sudo(lead, f"{a}-agent") and may_sudo(lead, f"{b}-agent")
    assert not may_sudo(lead, a)  # the person, never
    assert admin("lead", lead, "--over", f"{a}-agent")["changes"] == []
    admin("unlead", lead, "--over", f"{a}-agent")
    assert not may_sudo(lead, f"{a}-agent") and may_sudo(lead, f"{b}-agent")
    assert may_sudo(a, f"{a}-agent")  # the person's own rule is untouched
    admin("unlead", lead, "--over", f"{b}-agent")
    assert not Path(text.lead_file(lead)).exists()
    assert not may_sudo(lead, f"{b}-agent")


def test_bad_names_and_unknown_accounts_are_refused_with_nothing_changed(
        accounts: Accounts) -> None:
    res = atoll("admin", "add-person", "Bad;Name")
    assert res.returncode == 2 and "invalid user name" in res.stderr
    lead = f"lu{tag()}"
    accounts.track(lead, f"{lead}-agent")
    admin("add-person", lead)
    res = atoll("admin", "lead", lead, "--over", f"nosuch{tag()}")
    assert res.returncode == 3 and "no agent user" in res.stderr
    assert not Path(text.lead_file(lead)).exists()


def test_a_sudoers_text_visudo_rejects_is_never_installed() -> None:
    path = f"{text.SUDOERS_DIR}/atoll-test-broken{tag()}"
    with pytest.raises(AtollError, match="visudo rejected"):
        install_sudoers(path, "this is ALL=(not sudoers\n")
    assert not Path(path).exists()
    leftovers = [n for n in os.listdir(text.SUDOERS_DIR) if "atoll-test-broken" in n]
    assert leftovers == []
    assert run_as(None, ["visudo", "-c", "-q"]).returncode == 0


def test_the_grant_of_a_deleted_lead_account_can_still_be_revoked(accounts: Accounts) -> None:
    lead, junior = f"dl{tag()}", f"dj{tag()}"
    accounts.track(lead, f"{lead}-agent", junior, f"{junior}-agent")
    admin("add-person", lead)
    admin("add-person", junior)
    admin("lead", lead, "--over", f"{junior}-agent")
    import subprocess

    subprocess.run(["userdel", "-r", "-f", lead], check=True, capture_output=True)
    assert Path(text.lead_file(lead)).exists()
    assert kinds(admin("unlead", lead, "--over", f"{junior}-agent")) == ["sudoers.remove"]
    assert not Path(text.lead_file(lead)).exists()
