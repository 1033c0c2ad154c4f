"""Starting sessions again after a reboot (issue 18, point 3): ``atoll new --restart
always`` marks a session; ``atoll resume --all --boot`` (what the documented ``@reboot``
line or systemd unit runs) resumes only those, re-checks sudo first, and never runs a
spec's command as root. A dead tmux server stands in for the reboot. Real users, sudoers,
tmux servers and the real CLI."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.support.proc import atoll, run_as
from tests.support.users import UserFactory

NOHELP = {"ATOLL_NO_HELPER": "1"}


@dataclass
class Cast:
    op: str
    agent: str
    other: str
    mallory: str


@pytest.fixture(scope="module")
def cast(users: UserFactory) -> Iterator[Cast]:
    op = users.user(users.name("sbo"))
    agent = users.user(users.name("sba", "-agent"))
    other = users.user(users.name("sbb", "-agent"))
    mallory = users.user(users.name("sbm"))
    users.allow(op, [agent, other])
    yield Cast(op, agent, other, mallory)


@pytest.fixture(autouse=True)
def fresh(cast: Cast) -> Iterator[None]:
    yield
    for user in (cast.op, cast.agent, cast.other):
        run_as(user, ["tmux", "-L", "atoll", "kill-server"])
    home = Path(pwd.getpwnam(cast.op).pw_dir)
    shutil.rmtree(home / ".local/state/atoll/sessions", ignore_errors=True)


def ok(res: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    return res


def statuses(op: str, env: dict[str, str] | None = None) -> dict[str, str]:
    res = ok(atoll("ls", "--json", user=op, env={**NOHELP, **(env or {})}))
    return {r["name"]: r["status"] for r in json.loads(res.stdout)["sessions"]}


def new(op: str, name: str, agent: str, *extra: str, env: dict[str, str] | None = None) -> None:
    ok(atoll("new", name, "--as", agent, "--dir", "/tmp", *extra, "--", "cat", user=op,
             env=env))


def down(*users: str) -> None:
    for user in users:
        run_as(user, ["tmux", "-L", "atoll", "kill-server"])


def test_boot_resumes_only_restart_always(cast: Cast) -> None:
    new(cast.op, "keep", cast.agent, "--restart", "always")
    new(cast.op, "once", cast.agent)  # --restart never, the default
    down(cast.agent)
    res = ok(atoll("resume", "--all", "--boot", user=cast.op))
    assert "resumed keep" in res.stderr and "once" not in res.stderr
    seen = statuses(cast.op)
    assert seen["keep"] != "lost" and seen["once"] == "lost"


def test_boot_rechecks_sudo_before_it_starts_anything(cast: Cast, users: UserFactory) -> None:
    new(cast.op, "revoked", cast.other, "--restart", "always")
    down(cast.other)
    # sudoers changed while the host was down: the operator may no longer act as other
    users.write_sudoers(f"atoll-test-{cast.op}", f"{cast.op} ALL=({cast.agent}) "
                        "NOPASSWD: ALL\n")  # replaces the rule users.allow wrote
    try:
        res = atoll("resume", "--all", "--boot", user=cast.op)
        assert res.returncode == 1
        assert f"sudo no longer lets {cast.op} act as {cast.other}" in res.stderr
        assert run_as(cast.other, ["tmux", "-L", "atoll", "has-session", "-t", "=revoked"]
                      ).returncode != 0
    finally:
        users.allow(cast.op, [cast.agent, cast.other])


def test_root_at_boot_runs_specs_as_their_operator_never_as_root(cast: Cast) -> None:
    """With a host store (the systemd unit runs as root): an operator's spec is resumed
    by that operator; a spec another user planted in the shared directory naming the
    operator is refused; a spec that would run as root is refused."""
    store = Path(tempfile.mkdtemp(prefix="atoll-hoststore-"))
    os.chmod(store, 0o1777)  # what `atoll admin init` would set up: every operator writes
    env = {"ATOLL_HOST_STORE": str(store)}
    sock = f"atoll-boot-{os.getpid()}"
    try:
        new(cast.op, "hosted", cast.agent, "--restart", "always", env=env)
        spec = store / "atoll" / f"{cast.agent}@hosted.json"
        assert spec.stat().st_uid == pwd.getpwnam(cast.op).pw_uid
        # mallory (an operator, or an agent user) plants a spec naming op as its launcher
        planted = json.loads(spec.read_text()) | {"name": "planted",
                                                 "command": ["sh", "-c", "id > /tmp/x"]}
        ok(run_as(cast.mallory, ["sh", "-c", f"cat > {store}/atoll/{cast.agent}@planted.json"],
                  input=json.dumps(planted)))
        # root's own island-none session: its command would run as root
        ok(atoll("new", "rootown", "--as", "root", "--dir", "/tmp", "--restart", "always",
                 "--", "cat", env={**env, "ATOLL_TMUX_SOCKET": sock}))
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
        down(cast.agent)
        assert statuses(cast.op, env)["hosted"] == "lost"
        res = atoll("resume", "--all", "--boot", env={**env, **NOHELP})
        assert res.returncode == 1, res.stderr
        assert f"resumed hosted ({cast.agent}, started by {cast.op}) as {cast.op}" in res.stderr
        assert "not written by" in res.stderr  # the planted spec is not even read
        assert "planted" not in statuses(cast.op, env)
        root_res = atoll("resume", "--all", "--boot",
                         env={**env, **NOHELP, "ATOLL_TMUX_SOCKET": sock})
        assert root_res.returncode == 1 and "never runs as root" in root_res.stderr
        assert subprocess.run(["tmux", "-L", sock, "has-session"],
                              capture_output=True).returncode != 0
        after: dict[str, Any] = {r["name"]: r for r in json.loads(ok(atoll(
            "ls", "--json", user=cast.op, env={**env, **NOHELP})).stdout)["sessions"]}
        assert after["hosted"]["status"] != "lost"
        assert after["hosted"]["launched_by"] == cast.op
        assert after["hosted"]["agent_user"] == cast.agent
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
        shutil.rmtree(store, ignore_errors=True)
