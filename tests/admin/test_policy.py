"""Host policy (issue 17, point 3): /etc/atoll/policy.toml, root's; refusals before anything
runs, named in one line, in the ledger; a config cannot loosen it. The real CLI run as a
throwaway operator; host files private to this test process (tests/admin/conftest.py)."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import pytest

from atoll.core.config import ConfigError, parse_config, parse_project_config
from atoll.core.policy import Policy, forbidden_flag, parse_duration, parse_policy, refusal
from tests.support.proc import atoll, run_as
from tests.support.users import UserFactory

POLICY = Path("/etc/atoll/policy.toml")
RULES = """\
islands = ["none", "user", "docker"]
forbid_flags = ["--dangerously-skip-permissions", "--yolo"]
max_idle = "4h"
max_age = "1d12h"
"""


@pytest.mark.parametrize(("argv", "found"), [
    (["claude", "--yolo"], "--yolo"),
    (["claude", "--yolo=1"], "--yolo"),
    (["codex", "-m", "x", "--dangerously-skip-permissions"], "--dangerously-skip-permissions"),
    (["claude", "--yolo-mode"], None),  # another flag, not a prefix match
    (["claude", "say --yolo please"], None),  # inside a word: not an argv element
    (["--yolo"], None),  # the program itself is not an argument
    (["aider", "-y"], None),
])
def test_forbidden_flags_match_whole_elements_and_their_value_forms(
        argv: list[str], found: str | None) -> None:
    assert forbidden_flag(argv, ("--yolo", "--dangerously-skip-permissions")) == found


def test_policy_parses_and_rejects_bad_files() -> None:
    policy = parse_policy(RULES.encode(), "p")
    assert policy.max_idle == 4 * 3600 and policy.max_age == 36 * 3600
    assert policy.islands == ("none", "user", "docker")
    assert parse_duration("90s") == 90
    for bad in ('islands = ["vm"]', 'forbid_flags = ["--yolo=1"]', 'max_idle = "4 hours"',
                'max_idle = 5', "loosen = true", 'forbid_flags = ["yolo"]'):
        with pytest.raises(ConfigError):
            parse_policy(bad.encode(), "p")


def test_refusal_spares_confining_islands_from_forbid_flags() -> None:
    policy = Policy(islands=("user", "docker"), forbid_flags=("--yolo",))
    assert refusal(policy, "user", ["claude", "--yolo"])[0] == "forbid_flags"
    assert refusal(policy, "docker", ["claude", "--yolo"]) is None
    assert refusal(policy, "bwrap", ["claude"])[0] == "islands"


@pytest.mark.parametrize("key", ["forbid_flags = []", 'islands = ["bwrap"]', "[policy]\nx = 1",
                                 'max_age = "99w"'])
def test_a_config_that_tries_to_set_policy_is_refused_by_name(key: str) -> None:
    for parse in (parse_config, parse_project_config):
        with pytest.raises(ConfigError, match="host policy"):
            parse(key.encode(), "cfg.toml")


@pytest.fixture
def policy() -> object:
    POLICY.write_text(RULES)
    os.chmod(POLICY, 0o644)
    yield POLICY
    POLICY.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def operator(users: UserFactory) -> str:
    return users.user(users.name("pol"))


def _ledger(user: str) -> list[dict[str, object]]:
    home = Path(f"/home/{user}/.local/state/atoll/ledger.jsonl")
    return [json.loads(line) for line in home.read_text().splitlines()] if home.exists() else []


def test_a_forbidden_flag_is_refused_before_anything_runs(policy: Path, operator: str) -> None:
    sock = f"atoll-test-{secrets.token_hex(3)}"
    marker = f"/tmp/atoll-policy-{secrets.token_hex(3)}"
    for flag in ("--yolo", "--yolo=please"):
        res = atoll("new", "pol-s", "--as", operator, "--dir", "/tmp", "--", "sh", "-c",
                    f"touch {marker}", flag, user=operator, socket=sock)
        assert res.returncode == 4, res.stderr
        assert res.stderr.strip().splitlines() == [
            "atoll: error: refused by host policy /etc/atoll/policy.toml (forbid_flags): the "
            "agent argument --yolo is forbidden outside bwrap and container islands (a guard "
            "against mistakes)"]
    assert not Path(marker).exists()
    assert run_as(operator, ["tmux", "-L", sock, "has-session", "-t", "=pol-s"]).returncode != 0
    refused = [r for r in _ledger(operator) if r["action"] == "policy.refuse"]
    assert len(refused) == 2 and all(r["outcome"] == "denied" for r in refused)
    assert refused[0]["details"]["rule"] == "forbid_flags"


def test_an_island_kind_the_policy_leaves_out_is_refused(policy: Path, operator: str) -> None:
    res = atoll("new", "pol-b", "--island", "bwrap", "--as", operator, "--dir", "/tmp",
                "--", "true", user=operator)
    assert res.returncode == 4
    assert "host policy /etc/atoll/policy.toml (islands)" in res.stderr


def test_a_policy_file_an_operator_could_edit_is_refused(policy: Path, operator: str) -> None:
    os.chown(POLICY, int(run_as(operator, ["id", "-u"]).stdout), -1)
    res = atoll("new", "pol-c", "--as", operator, "--dir", "/tmp", "--", "true", user=operator)
    assert res.returncode == 2
    assert "must be root's and writable by nobody else" in res.stderr


def test_admin_policy_installs_only_a_valid_policy() -> None:
    bad = atoll("admin", "policy", "-", input='islands = ["vm"]\n')
    assert bad.returncode == 2 and not POLICY.exists()
    good = atoll("admin", "policy", "-", input=RULES)
    assert good.returncode == 0, good.stderr
    assert POLICY.read_text() == RULES and POLICY.stat().st_uid == 0
    again = atoll("admin", "policy", "-", "--json", input=RULES)
    assert json.loads(again.stdout)["changes"] == []
    gone = atoll("admin", "policy", "-", input="")
    assert gone.returncode == 0 and not POLICY.exists()
