"""The host ledger (issue 17, point 2): every operator appends through one sudoers-allowed
command and none can rewrite it; typed text is stored as SHA-256 and length; a junior
reads what a lead did to her agent. Real users, sudo, visudo; host files private to this
test process (tests/admin/conftest.py)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from atoll.core import admin as text
from atoll.core.errors import PermissionDeniedError
from atoll.ledger.hostledger import HOST_LEDGER_PATH, read_conf, untrusted_code
from tests.admin.conftest import Accounts
from tests.support.proc import atoll, run_as
from tests.support.users import UserFactory

pytestmark = pytest.mark.root
LEDGER = Path(HOST_LEDGER_PATH)


def tag() -> str:
    return secrets.token_hex(3)


def ok(*args: str) -> str:
    res = atoll(*args)
    assert res.returncode == 0, res.stderr
    return res.stdout


def records() -> list[dict[str, object]]:
    return [json.loads(line) for line in LEDGER.read_text().splitlines()]


@pytest.fixture(scope="module")
def team() -> object:
    made = Accounts()
    lead, junior = f"hl{tag()}", f"hj{tag()}"
    made.track(lead, f"{lead}-agent", junior, f"{junior}-agent")
    ok("admin", "init")
    ok("admin", "add-person", lead)
    ok("admin", "add-person", junior)
    ok("admin", "lead", lead, "--over", f"{junior}-agent")
    yield (lead, junior)
    made.cleanup()


def command() -> list[str]:
    """The append command `atoll admin init` installed (the CLI's own interpreter)."""
    conf = read_conf()
    assert conf is not None
    return conf.command


def append_as(user: str, record: dict[str, object], *extra: str,
              ) -> subprocess.CompletedProcess[str]:
    argv = ["sudo", "-n", "-u", text.LEDGER_USER, "--", *command(), *extra]
    return run_as(user, argv, input=json.dumps(record))


EVENT = {"action": "session.type", "target": {"session": "x", "agent_user": "y"},
         "outcome": "intent", "details": {"text": "secret words", "enter": False}}


def test_init_installs_the_rule_and_files(team: tuple[str, str]) -> None:
    rule = Path(f"{text.SUDOERS_DIR}/{text.LEDGER_SUDOERS}").read_text()
    assert f"%{text.OPS_GROUP} ALL=({text.LEDGER_USER}) NOPASSWD: " \
           f"{' '.join(command())}\n" in rule
    st = LEDGER.stat()
    assert oct(st.st_mode & 0o777) == "0o640" and st.st_uid != 0
    assert Path("/etc/atoll/host-ledger.toml").exists()
    cron = Path("/etc/cron.d/atoll").read_text()
    assert " root " in cron and "reap --quiet" in cron and "@reboot" in cron
    assert atoll("admin", "init", "--json").stdout.strip() == '{"changes":[],"dry_run":false}'


def test_a_lead_typing_into_a_juniors_agent_is_in_the_host_ledger_for_her(
        team: tuple[str, str], tmp_path: Path) -> None:
    lead, junior = team
    agent = f"{junior}-agent"
    sock = f"atoll-test-{tag()}"
    started = atoll("new", "hl-s", "--as", agent, "--dir", "/tmp", user=junior, socket=sock)
    assert started.returncode == 0, started.stderr
    try:
        typed = atoll("type", "hl-s", "--as", agent, "rm -rf the secret", user=lead,
                      socket=sock)
        assert typed.returncode == 0, typed.stderr
        shown = atoll("audit", "show", "--host-ledger", "--json", user=junior)
        assert shown.returncode == 0, shown.stderr
        events = json.loads(shown.stdout)
        types = [e for e in events if e["action"] == "session.type"
                 and e["actor"]["user"] == lead]
        assert [e["outcome"] for e in types] == ["intent", "ok"]
        assert types[0]["target"]["agent_user"] == agent
        text_field = types[0]["details"]["text"]
        assert text_field["bytes"] == len("rm -rf the secret")
        assert len(text_field["sha256"]) == 64
        assert "the secret" not in LEDGER.read_text()  # never in clear
        news = [e for e in events if e["action"] == "session.new"
                and e["actor"]["user"] == junior]
        assert news and "dir" in news[0]["details"] and isinstance(news[0]["details"]["dir"],
                                                                   dict)
        verify = atoll("audit", "verify", user=junior)
        assert verify.returncode == 0, verify.stderr
        assert "host ledger" in verify.stdout
    finally:
        run_as(agent, ["tmux", "-L", sock, "kill-server"])


def test_an_operator_cannot_truncate_edit_or_replace_it(team: tuple[str, str]) -> None:
    lead, _ = team
    before = LEDGER.read_bytes()
    attacks = [
        ["truncate", "-s", "0", HOST_LEDGER_PATH],
        ["sh", "-c", f"echo forged >> {HOST_LEDGER_PATH}"],
        ["mv", HOST_LEDGER_PATH, "/tmp/stolen"],
        ["rm", "-f", HOST_LEDGER_PATH],
        ["cp", "/dev/null", HOST_LEDGER_PATH],
        ["sudo", "-n", "-u", text.LEDGER_USER, "truncate", "-s", "0", HOST_LEDGER_PATH],
        ["sudo", "-n", "-u", text.LEDGER_USER, sys.executable, "-c", "print(1)"],
        ["sudo", "-n", "-u", text.LEDGER_USER, "--", *command(), "extra"],
        ["sudo", "-n", "-u", "root", "--", *command()],
    ]
    for argv in attacks:
        res = run_as(lead, argv, input="")
        assert res.returncode != 0, argv
    assert LEDGER.read_bytes() == before


def test_the_append_command_takes_the_actor_from_sudo_and_refuses_forged_fields(
        team: tuple[str, str]) -> None:
    _, junior = team
    res = append_as(junior, {**EVENT, "actor": {"uid": 0, "user": "root"}})
    assert res.returncode == 2 and "unexpected fields" in res.stderr
    res = append_as(junior, {**EVENT, "seq": 1})
    assert res.returncode == 2
    res = append_as(junior, {**EVENT, "action": "audit.recover"})  # the store's own record
    assert res.returncode == 2 and "unknown action" in res.stderr
    res = append_as(junior, {**EVENT, "details": {"text": "x" * 70_000}})
    assert res.returncode == 2 and "larger than" in res.stderr
    res = append_as(junior, EVENT)
    assert res.returncode == 0, res.stderr
    last = records()[-1]
    assert last["actor"]["user"] == junior and last["actor"]["uid"] == os.stat(
        f"/home/{junior}").st_uid
    assert last["details"]["text"] == {"sha256": last["details"]["text"]["sha256"],
                                       "bytes": len("secret words")}
    direct = run_as(junior, [*command()], input=json.dumps(EVENT))
    assert direct.returncode == 4  # not through sudo as the owner


def test_many_operators_appending_at_once_keep_one_intact_chain(
        team: tuple[str, str]) -> None:
    lead, junior = team
    start = len(records())
    jobs = [(user, i) for i in range(12) for user in (lead, junior)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda job: append_as(job[0], {
            **EVENT, "target": {"session": f"c{job[1]}", "agent_user": job[0]}}), jobs))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results][:3]
    new = records()[start:]
    assert len(new) == len(jobs)
    assert sorted(r["actor"]["user"] for r in new) == sorted(u for u, _ in jobs)
    verify = atoll("audit", "--host-ledger", "verify", user=junior)
    assert verify.returncode == 0, verify.stderr


def test_init_refuses_code_an_operator_could_edit(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next(venv.glob("lib/python3*/site-packages"))
    src = Path(__import__("atoll").__file__).resolve().parents[1]
    deps = next(Path(sys.prefix).glob("lib/python3*/site-packages"))
    (site / "atoll-src.pth").write_text(f"{src}\n{deps}\n")
    for pth in Path(sys.prefix).glob("lib/python3*/site-packages/*.pth"):
        (site / pth.name).write_text(pth.read_text())
    os.chmod(tmp_path, 0o755)
    python = str(venv / "bin" / "python3")
    assert untrusted_code(python) == []  # root's alone: allowed
    os.chmod(site, 0o777)  # an operator could now plant a module or a .pth file
    bad = untrusted_code(python)
    assert any(str(site) in b for b in bad)
    from atoll.service.admininit import plan_init

    with pytest.raises(PermissionDeniedError, match="not root's alone"):
        plan_init(python)


def test_an_action_the_host_ledger_does_not_take_does_not_happen(
        team: tuple[str, str], users: UserFactory) -> None:
    outsider = users.user(users.name("hlo"))  # not in atoll-ops: sudo refuses the append
    sock = f"atoll-test-{tag()}"
    res = atoll("new", "hl-out", "--as", outsider, "--dir", "/tmp", "--", "sleep", "100",
                user=outsider, socket=sock)
    assert res.returncode == 1
    assert "host ledger" in res.stderr and "not in group atoll-ops" in res.stderr
    assert run_as(outsider, ["tmux", "-L", sock, "has-session", "-t", "=hl-out"]
                  ).returncode != 0
    own = Path(f"/home/{outsider}/.local/state/atoll/ledger.jsonl").read_text().splitlines()
    tail = [json.loads(x) for x in own][-2:]
    assert [r["outcome"] for r in tail] == ["intent", "error"]
    assert tail[1]["details"]["intent"] == tail[0]["seq"]
    assert "host ledger" in tail[1]["details"]["error"]
