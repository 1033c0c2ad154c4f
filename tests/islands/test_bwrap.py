"""bwrap islands with a real agent user, real sudo and real bubblewrap."""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from atoll.core.errors import UsageError
from atoll.core.islands import Grant, IslandSpec
from atoll.exec.runner import current_user
from atoll.islands.base import IslandExistsError, start_session
from atoll.islands.bwrap import BwrapIsland, list_bwrap_islands
from tests.islands.support import git_project, inside, tag, wait_for
from tests.support.users import UserFactory


@dataclass
class World:
    agent: str
    home: Path
    socket: str
    made: list[BwrapIsland]

    def island(self, project: str, **kw: object) -> BwrapIsland:
        spec = IslandSpec(name=f"b{tag()}", project_dir=project, kind="bwrap",
                          operator=current_user(), agent_user=self.agent,
                          memory=256 << 20, pids=128, **kw)  # type: ignore[arg-type]
        isl = BwrapIsland(spec)
        self.made.append(isl)
        return isl


@pytest.fixture(scope="module")
def world(users: UserFactory, bwrap_ready: None) -> Iterator[World]:
    agent = users.user(users.name("bw", "-agent"))
    home = Path(f"/home/{agent}")
    (home / "private.txt").write_text("agent-home-secret\n")
    subprocess.run(["chown", f"{agent}:{agent}", str(home / "private.txt")], check=True)
    w = World(agent, home, f"atoll-test-{secrets.token_hex(4)}", [])
    yield w
    for isl in w.made:
        isl.purge(w.socket)
    subprocess.run(["runuser", "-u", agent, "--", "tmux", "-L", w.socket, "kill-server"],
                   capture_output=True)


def test_create_copy_and_the_view_from_inside(world: World, tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    project = git_project(tmp_path / "proj", {"README": "hello\n"})
    isl = world.island(str(project))
    isl.create()
    assert isl.path == f"{world.home}/.atoll/islands/{isl.spec.hash8}-{isl.spec.name}"
    ws = Path(isl.workspace)
    assert (ws / "README").read_text() == "hello\n"
    assert (ws / "README").stat().st_uid == Path(world.home).stat().st_uid
    assert Path(isl.path).stat().st_mode & 0o777 == 0o700

    assert inside(isl, "pwd").strip() == isl.workspace
    assert inside(isl, "sh", "-c", "echo $HOME").strip() == isl.sandbox_home
    assert inside(isl, "cat", "README") == "hello\n"
    assert "init" in inside(isl, "git", "log", "--oneline")
    # the agent user's real home, the project on the host, /root and the tmux socket are gone
    for hidden in (f"{world.home}/private.txt", str(project / "README"),
                   f"/tmp/tmux-{Path(world.home).stat().st_uid}"):
        assert not isl.runner().run(["ls", hidden]).ok, hidden
    assert inside(isl, "ls", "-A", "/tmp") == ""
    assert inside(isl, "ls", "-A", str(world.home)) == ".atoll\n"
    status = inside(isl, "cat", "/proc/self/status")
    assert "NoNewPrivs:\t1" in status and "CapEff:\t0000000000000000" in status
    assert inside(isl, "cat", "/proc/net/dev").count(":") == 1  # lo only
    assert not isl.runner().run(["touch", "/usr/x"]).ok
    assert not isl.runner().run(["touch", "/etc/x"]).ok
    # the project on the host is untouched by work inside
    inside(isl, "sh", "-c", "echo new > README")
    assert (project / "README").read_text() == "hello\n"

    with pytest.raises(IslandExistsError, match="atoll purge"):
        BwrapIsland(isl.spec).create()
    assert [i.island_id for i in list_bwrap_islands(world.agent)].count(isl.island_id) == 1


def test_session_is_sandboxed_and_interactive(world: World) -> None:
    isl = world.island("")
    isl.create()
    name = isl.spec.name
    client = start_session(isl, name, ["bash", "--norc"], socket=world.socket,
                           options={"atoll_agent": "shell"})
    client.send_literal(name, "sleep 600")
    client.send_enter(name)
    time.sleep(0.3)
    client.runner.run(client.argv(["send-keys", "-t", f"={name}:", "C-c"])).check()
    client.send_literal(name, "echo HOME=$HOME; ls /home; echo done-$((2*21))")
    client.send_enter(name)
    screen = wait_for(lambda: s if "done-42" in (s := client.capture(name)) else "")
    assert f"HOME={isl.sandbox_home}" in screen
    assert "^C" in screen  # Ctrl-C reached the sandboxed sleep: the pty is its terminal
    # listed once the pane is quiet: tmux evaluates #{n:pane_current_command} and the value
    # separately, and the value changes while the pane starts (sh, bwrap, prlimit, bash)
    (pane,) = [p for p in client.list_panes() if p.session_name == name]
    assert pane.island == "bwrap"
    assert isl.owns_session(name, world.socket)
    assert isl.attach_argv(name, world.socket, read_only=True)[-4:] == [
        "attach-session", "-t", f"={name}", "-r"]
    isl.purge(world.socket)
    assert not client.has_session(name)
    assert not Path(isl.path).exists()


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory other users can enter (pytest's tmp_path is under a 0700 directory)."""
    import shutil
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="atoll-isl-", dir="/tmp"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_grants(world: World, open_dir: Path) -> None:
    tmp_path = open_dir
    ref = tmp_path / "ref"
    out = tmp_path / "out"
    ref.mkdir()
    out.mkdir()
    tmp_path.chmod(0o755)
    ref.chmod(0o755)
    out.chmod(0o777)
    (ref / "data.txt").write_text("reference\n")
    isl = world.island("", grants=(Grant(str(ref)), Grant(str(out), True)))
    isl.create()
    assert inside(isl, "cat", str(ref / "data.txt")) == "reference\n"
    assert not isl.runner().run(["touch", str(ref / "new")]).ok
    inside(isl, "sh", "-c", f"echo result > {out}/r.txt")
    assert (out / "r.txt").read_text() == "result\n"
    (tmp_path / "next-to-grant.txt").write_text("not granted\n")
    (tmp_path / "next-to-grant.txt").chmod(0o644)
    # only the mount points exist around the grants, never their neighbours
    assert inside(isl, "ls", str(tmp_path)).split() == ["out", "ref"]
    assert not isl.runner().run(["cat", str(tmp_path / "next-to-grant.txt")]).ok

    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    with pytest.raises(UsageError, match="cannot read"):
        world.island("", grants=(Grant(str(closed)),)).create()
