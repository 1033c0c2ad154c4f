"""``atoll purge`` through the real CLI: refusals on git work, --force, the typed-name
confirmation on a terminal, and that nothing of the island remains afterwards."""

from __future__ import annotations

import errno
import json
import os
import pty
import secrets
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from atoll.core.islands import IslandSpec
from atoll.exec.runner import Sudo, current_user
from atoll.islands.base import Island, start_session
from atoll.islands.bwrap import BwrapIsland
from atoll.islands.container import ContainerIsland
from atoll.islands.registry import make_island
from atoll.tmux.client import TmuxClient
from tests.islands.support import cli, cli_argv, engine_objects, git, tag
from tests.support.users import UserFactory


@dataclass
class World:
    agent: str
    socket: str
    root: Path
    origin: Path
    project: Path


@pytest.fixture(scope="module")
def world(users: UserFactory) -> Iterator[World]:
    agent = users.user(users.name("pg", "-agent"))
    root = Path(tempfile.mkdtemp(prefix="atoll-purge-", dir="/tmp"))
    root.chmod(0o755)
    origin = root / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    project = root / "project"
    subprocess.run(["git", "clone", "-q", str(origin), str(project)], check=True,
                   capture_output=True)
    (project / "README").write_text("hello\n")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "init")
    git(project, "push", "-q", "origin", "HEAD")
    (project / "local.txt").write_text("committed, never pushed\n")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "local work already on the host")
    w = World(agent, f"atoll-test-{secrets.token_hex(4)}", root, origin, project)
    yield w
    subprocess.run(["runuser", "-u", agent, "--", "tmux", "-L", w.socket, "kill-server"],
                   capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


KINDS = ["bwrap", "docker", "podman"]


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name in ("docker", "podman"):
        request.getfixturevalue(f"{name}_image")
    else:
        request.getfixturevalue("bwrap_ready")
    return name


def make(world: World, kind: str, project: str | None = None) -> Island:
    spec = IslandSpec(name=f"p{tag()}", project_dir=str(world.project) if project is None
                      else project, kind=kind,  # type: ignore[arg-type]
                      operator=current_user(), agent_user=world.agent if kind == "bwrap"
                      else None, memory=256 << 20, pids=128)
    isl = make_island(spec)
    isl.create()
    start_session(isl, spec.name, ["sleep", "600"], socket=world.socket, options={})
    return isl


def remains(world: World, isl: Island) -> list[str]:
    """Everything of the island that still exists, looked up independently of atoll."""
    left: list[str] = []
    if isinstance(isl, ContainerIsland):
        objs = engine_objects(isl.kind, isl.island_id)
        left += objs["containers"] + objs["volumes"]
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        left += [ln for ln in ps.splitlines() if isl.island_id in ln]
    if isinstance(isl, BwrapIsland):
        if os.path.lexists(isl.path):
            left.append(isl.path)
        res = subprocess.run(["runuser", "-u", world.agent, "--", "tmux", "-L", world.socket,
                              "list-sessions", "-F", "#{session_name}"],
                             capture_output=True, text=True)
        if isl.spec.name in res.stdout.split():
            left.append(f"session {isl.spec.name}")
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        left += [ln for ln in ps.splitlines() if isl.path in ln and "ps -eo" not in ln]
    return left


def purge(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    return cli("purge", *args, env={"ATOLL_TMUX_SOCKET": world.socket})


def test_clean_island_is_purged_completely(world: World, kind: str) -> None:
    isl = make(world, kind)
    assert remains(world, isl), "the island should exist before the purge"
    res = purge(world, isl.spec.name, "--as", world.agent)
    assert res.returncode == 0, res.stderr
    assert "purged" in res.stderr
    assert remains(world, isl) == []
    again = purge(world, isl.spec.name, "--as", world.agent)
    assert again.returncode == 3 and "no island" in again.stderr


def test_purge_writes_the_configured_ledger(world: World, bwrap_ready: None,
                                            tmp_path: Path) -> None:
    """``ledger_path`` from the config file gets the purge records (purge once built its own
    Context without the config and wrote the default ledger)."""
    configured = tmp_path / "configured" / "ledger.jsonl"
    (tmp_path / "cfg" / "atoll").mkdir(parents=True)
    (tmp_path / "cfg" / "atoll" / "config.toml").write_text(
        f"ledger_path = {str(configured)!r}\n")
    env = {"ATOLL_TMUX_SOCKET": world.socket, "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
           "XDG_STATE_HOME": str(tmp_path / "state")}
    isl = make(world, "bwrap")
    res = cli("purge", isl.spec.name, "--as", world.agent, env=env)
    assert res.returncode == 0, res.stderr
    stored = [json.loads(line) for line in configured.read_text().splitlines()]
    assert [(e["action"], e["outcome"]) for e in stored] == [
        ("island.purge", "intent"), ("island.purge", "ok")]
    assert stored[0]["target"]["session"] == isl.spec.name
    assert not (tmp_path / "state" / "atoll" / "ledger.jsonl").exists()


def test_git_work_is_refused_unless_forced(world: World, kind: str) -> None:
    isl = make(world, kind)
    run = isl.runner()
    ws = isl.workdir
    run.run(["sh", "-c", "echo draft > draft.txt"], timeout=30).check()
    res = purge(world, isl.spec.name, "--as", world.agent)
    assert res.returncode == 1 and "uncommitted changes (1 path(s))" in res.stderr, res.stderr
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("atoll: error: ")
    assert remains(world, isl)

    g = ["git", "-c", "user.email=a@b.invalid", "-c", "user.name=agent", "-C", ws]
    run.run([*g, "add", "-A"], timeout=30).check()
    run.run([*g, "commit", "-qm", "agent work"], timeout=30).check()
    res = purge(world, isl.spec.name, "--as", world.agent)
    assert res.returncode == 1 and "1 unpushed commit(s)" in res.stderr, res.stderr
    assert remains(world, isl)

    run.run([*g, "stash", "list"], timeout=30).check()
    res = purge(world, isl.spec.name, "--as", world.agent, "--force")
    assert res.returncode == 0, res.stderr
    assert "forced over: 1 unpushed commit(s)" in res.stderr
    assert remains(world, isl) == []


def test_workspace_that_is_not_git_is_refused(world: World, kind: str) -> None:
    plain = world.root / f"plain-{tag()}"
    plain.mkdir()
    (plain / "notes.txt").write_text("no git here\n")
    isl = make(world, kind, str(plain))
    res = purge(world, isl.spec.name, "--as", world.agent)
    assert res.returncode == 1 and "not in git" in res.stderr, res.stderr
    res = purge(world, isl.spec.name, "--as", world.agent, "--force")
    assert res.returncode == 0, res.stderr
    assert remains(world, isl) == []
    assert (plain / "notes.txt").exists()  # the host project is never touched


def _tty_purge(world: World, name: str, typed: bytes) -> tuple[int, bytes]:
    master, slave = pty.openpty()
    env = {"PATH": os.environ["PATH"], "ATOLL_TMUX_SOCKET": world.socket, "LANG": "C.UTF-8",
           "HOME": os.environ.get("HOME", "/root")}
    proc = subprocess.Popen(cli_argv("purge", name, "--as", world.agent), stdin=slave,
                            stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    out = b""
    sent = False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            try:
                chunk = os.read(master, 4096)
            except OSError as exc:
                if exc.errno == errno.EIO:
                    break
                raise
            if not chunk:
                break
            out += chunk
        if not sent and b"Type " in out and b"to confirm" in out:
            os.write(master, typed + b"\r")
            sent = True
        if proc.poll() is not None and not r:
            break
    rc = proc.wait(timeout=60)
    os.close(master)
    return rc, out


def test_terminal_asks_for_the_name(world: World) -> None:
    isl = make(world, "bwrap", "")
    rc, out = _tty_purge(world, isl.spec.name, b"wrong-name")
    assert rc == 1 and b"purge cancelled" in out, out
    assert remains(world, isl)
    rc, out = _tty_purge(world, isl.spec.name, isl.spec.name.encode())
    assert rc == 0 and b"purged" in out, out
    assert remains(world, isl) == []


def test_user_session_and_its_worktree(world: World) -> None:
    """A ``user`` island: purge kills the session and removes the worktree, never the
    project; work in the worktree is refused first."""
    agent = world.agent
    proj = world.root / f"userproj-{tag()}"
    subprocess.run(["git", "clone", "-q", str(world.origin), str(proj)], check=True,
                   capture_output=True)
    subprocess.run(["chown", "-R", f"{agent}:{agent}", str(proj)], check=True)
    branch = f"feat/{tag()}"
    wt = proj / ".atoll-worktrees" / branch.replace("/", "-")
    git(proj, "worktree", "add", "-q", "-b", branch, str(wt), user=agent)
    name = f"u{tag()}"
    client = TmuxClient(Sudo(agent), world.socket)
    client.new_session(name, ["sleep", "600"], cwd=str(wt), options={
        "atoll_island": "user", "atoll_project": str(proj), "atoll_worktree": branch,
        "atoll_launched_by": current_user()})
    (wt / "wip.txt").write_text("wip\n")
    subprocess.run(["chown", f"{agent}:{agent}", str(wt / "wip.txt")], check=True)
    res = purge(world, name, "--as", agent)
    assert res.returncode == 1 and "uncommitted" in res.stderr, res.stderr
    assert client.has_session(name) and wt.exists()
    res = purge(world, name, "--as", agent, "--force")
    assert res.returncode == 0, res.stderr
    assert not client.has_session(name)
    assert not wt.exists()
    assert (proj / "README").exists()
    assert str(wt) not in git(proj, "worktree", "list", user=agent)
