"""Agent users for real: throwaway Linux accounts, sudoers validated by visudo, real sudo.

Cast: operator OP with sudo over OP-agent and WES-agent; NAD-agent that OP may not act as;
OUT, an outsider with no sudo at all.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.support.proc import atoll, run_as
from tests.support.users import UserFactory

SOCKET = "atoll"  # the real default socket: these users are throwaway, so are their servers


@dataclass
class Cast:
    op: str
    mine: str
    wes: str
    nad: str
    out: str
    factory: UserFactory
    sudoers: Path


@pytest.fixture(scope="module")
def cast(users: UserFactory) -> Iterator[Cast]:
    op = users.user(users.name("atop"))
    mine = users.user(f"{op}-agent")
    wes = users.user(users.name("atwes", "-agent"))
    nad = users.user(users.name("atnad", "-agent"))
    out = users.user(users.name("atout"))
    rule = users.allow(op, [mine, wes])
    check = atoll("--version", user=op)
    if check.returncode != 0:
        pytest.fail(f"test users cannot run atoll (is the checkout world-readable?): {check.stderr}")
    yield Cast(op, mine, wes, nad, out, users, rule)


def ls(user: str) -> list[dict[str, Any]]:
    res = atoll("ls", "--json", user=user)
    assert res.returncode == 0, res.stderr
    rows: list[dict[str, Any]] = json.loads(res.stdout)["sessions"]
    return rows


def names(user: str) -> set[tuple[str, str]]:
    return {(r["agent_user"], r["name"]) for r in ls(user)}


def ok(res: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert res.returncode == 0, res.stderr
    return res


def test_agent_process_runs_as_the_agent_user(cast: Cast) -> None:
    ok(atoll("new", "asuser", "--as", cast.wes, "--dir", "/tmp", "--", "sleep", "300",
             user=cast.op))
    (row,) = [r for r in ls(cast.op) if r["name"] == "asuser"]
    assert row["agent_user"] == cast.wes and row["launched_by"] == cast.op
    status = Path(f"/proc/{row['pid']}/status").read_text()
    uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
    assert int(uid_line.split()[1]) == pwd.getpwnam(cast.wes).pw_uid
    # the agent's tmux server is the agent user's own, in its 0700 socket directory
    sockdir = Path(f"/tmp/tmux-{pwd.getpwnam(cast.wes).pw_uid}")
    assert sockdir.stat().st_uid == pwd.getpwnam(cast.wes).pw_uid
    assert sockdir.stat().st_mode & 0o777 == 0o700


def test_operator_sees_exactly_the_granted_agent_users(cast: Cast) -> None:
    ok(atoll("new", "m1", "--as", cast.mine, "--dir", "/tmp", "--", "sleep", "300", user=cast.op))
    ok(atoll("new", "w1", "--as", cast.wes, "--dir", "/tmp", "--", "sleep", "300", user=cast.op))
    ok(atoll("new", "n1", "--as", cast.nad, "--dir", "/tmp", "--", "sleep", "300"))  # root
    ok(atoll("new", "own", "--as", cast.op, "--dir", "/tmp", "--", "sleep", "300", user=cast.op))
    seen = names(cast.op)
    assert {(cast.mine, "m1"), (cast.wes, "w1"), (cast.op, "own")} <= seen
    assert not any(user == cast.nad for user, _ in seen)
    assert {user for user, _ in seen} <= {cast.op, cast.mine, cast.wes}
    refused = atoll("new", "n2", "--as", cast.nad, "--", "sleep", "1", user=cast.op)
    assert refused.returncode == 4 and "sudo" in refused.stderr


def test_outsider_sees_none_and_cannot_touch(cast: Cast) -> None:
    ok(atoll("new", "target", "--as", cast.wes, "--dir", "/tmp", "--", "cat", user=cast.op))
    assert ls(cast.out) == []
    for args in (["kill", "target"], ["type", "target", "x", "--enter"], ["peek", "target"],
                 ["kill", "target", "--as", cast.wes], ["type", "target", "x", "--as", cast.wes]):
        res = atoll(*args, user=cast.out)
        assert res.returncode == 3, (args, res.returncode, res.stderr)
        assert len(res.stderr.splitlines()) == 1
    # and not around atoll either: the agent's tmux socket is out of reach
    sock = f"/tmp/tmux-{pwd.getpwnam(cast.wes).pw_uid}/atoll"
    direct = run_as(cast.out, ["tmux", "-S", sock, "send-keys", "-t", "=target:", "x"])
    assert direct.returncode != 0
    screen = ok(atoll("peek", "target", user=cast.op)).stdout
    assert "x" not in screen
    assert (cast.wes, "target") in names(cast.op)


def test_agent_cannot_read_the_operators_files(cast: Cast) -> None:
    home = Path(pwd.getpwnam(cast.op).pw_dir)
    (home / ".bash_history").write_text("secret-token\n")
    (home / ".ssh").mkdir(exist_ok=True)
    (home / ".ssh" / "id_ed25519").write_text("PRIVATE\n")
    for path in (home / ".bash_history", home / ".ssh" / "id_ed25519"):
        res = run_as(cast.wes, ["cat", str(path)])
        assert res.returncode != 0 and "Permission denied" in res.stderr


def test_ambiguous_name_lists_candidates_and_as_chooses(cast: Cast) -> None:
    for user in (cast.mine, cast.wes):
        ok(atoll("new", "same", "--as", user, "--dir", "/tmp", "--", "cat", user=cast.op))
    res = atoll("peek", "same", user=cast.op)
    assert res.returncode == 2
    assert cast.mine in res.stderr and cast.wes in res.stderr and "--as" in res.stderr
    ok(atoll("type", "same", "picked", "--as", cast.wes, user=cast.op))
    assert "picked" in ok(atoll("peek", "same", "--as", cast.wes, user=cast.op)).stdout
    assert "picked" not in ok(atoll("peek", "same", "--as", cast.mine, user=cast.op)).stdout


def test_hostile_names_and_users_run_nothing(cast: Cast, tmp_path: Path) -> None:
    marker = Path("/tmp") / f"atoll-hostile-{cast.factory.tag}"
    before = names(cast.op)
    for args in (
        ["new", f"x;touch {marker}", "--as", cast.wes],
        ["new", f"$(touch {marker})", "--as", cast.wes],
        ["new", "ok1", "--as", f"{cast.wes};touch {marker}"],
        ["new", "ok2", "--as", f"-u root touch {marker}"],
        ["kill", f"`touch {marker}`"],
        ["peek", "x", "--as", f"$(touch {marker})"],
    ):
        res = atoll(*args, user=cast.op)
        assert res.returncode == 2, (args, res.stderr)
    assert not marker.exists()
    assert names(cast.op) == before


def test_typed_control_sequences_do_not_submit(cast: Cast) -> None:
    marker = f"/tmp/atoll-typed-{cast.factory.tag}"
    home = pwd.getpwnam(cast.wes).pw_dir  # the shell's cwd: keeps the final touch's litter
    ok(atoll("new", "typing", "--as", cast.wes, "--dir", home, "--", "bash", "--norc",
             "--noprofile", user=cast.op))
    time.sleep(0.5)
    attacks = [
        f"touch {marker}\r",
        f"touch {marker}\n",
        f"\x03touch {marker}\r",
        f"\x1b[200~touch {marker}\x1b[201~\r",
        f"touch {marker}\x9b201~\x0d",
        f"touch {marker}\x1bOM",  # keypad Enter
        f"touch {marker}\x0a\x0d\x85",
    ]
    for text in attacks:
        ok(atoll("type", "typing", text, "--as", cast.wes, user=cast.op))
    time.sleep(1.0)
    assert not os.path.exists(marker)
    screen = ok(atoll("peek", "typing", "--as", cast.wes, user=cast.op)).stdout
    assert f"touch {marker}" in screen
    # the same text with --enter does run: the test above can fail
    ok(atoll("type", "typing", " ; true", "--enter", "--as", cast.wes, user=cast.op))
    deadline = time.monotonic() + 5
    while not os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert os.path.exists(marker)
    os.unlink(marker)


def test_revoked_sudo_hides_agent_sessions(cast: Cast) -> None:
    ok(atoll("new", "tobehidden", "--as", cast.wes, "--dir", "/tmp", "--", "sleep", "300",
             user=cast.op))
    assert (cast.wes, "tobehidden") in names(cast.op)
    cast.factory.revoke(cast.sudoers)
    try:
        seen = names(cast.op)
        assert not any(user in (cast.wes, cast.mine) for user, _ in seen)
        res = atoll("kill", "tobehidden", user=cast.op)
        assert res.returncode == 3
    finally:
        cast.sudoers = cast.factory.allow(cast.op, [cast.mine, cast.wes])
    assert (cast.wes, "tobehidden") in names(cast.op)


def test_recorded_session_transcript_is_beyond_the_agent(cast: Cast) -> None:
    ok(atoll("new", "rec", "--as", cast.wes, "--record", "--dir", "/tmp", "--", "sh", "-c",
             "echo first-line-recorded; sleep 300", user=cast.op))
    time.sleep(1.0)
    ok(atoll("kill", "rec", user=cast.op))
    deadline = time.monotonic() + 10
    res = atoll("audit", "transcript", "rec", user=cast.op)
    while "matches" not in res.stdout and time.monotonic() < deadline:
        time.sleep(0.2)
        res = atoll("audit", "transcript", "rec", user=cast.op)
    assert res.returncode == 0 and "matches" in res.stdout, res.stdout + res.stderr
    path = res.stdout.split()[0]
    assert "first-line-recorded" in Path(path).read_text()
    ledger = Path(pwd.getpwnam(cast.op).pw_dir) / ".local/state/atoll/ledger.jsonl"
    assert ledger.exists()
    for target in (path, str(ledger)):
        assert run_as(cast.wes, ["cat", target]).returncode != 0
        assert run_as(cast.wes, ["sh", "-c", f"echo forged >> '{target}'"]).returncode != 0
    assert ok(atoll("audit", "verify", user=cast.op))
