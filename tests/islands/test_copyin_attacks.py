"""Copy-in and grants attacked by an agent user (issue 11, points 1, 7, 8): real users,
real sudo, real bwrap, docker and podman.

The operator is root here (the tests run as root), the worst case: root can read anything,
so only the design (copy with the owner's rights, a walk that never follows a link, a
mounted grant checked by inode) keeps the operator's secret out of an island.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from atoll.core.errors import AtollError, PermissionDeniedError
from atoll.core.islands import Grant, IslandSpec
from atoll.exec.runner import current_user
from atoll.islands.bwrap import BwrapIsland
from atoll.islands.container import ContainerIsland
from atoll.islands.copyin import project_tar
from atoll.islands.engine import Engine
from atoll.islands.grants import GrantChangedError
from tests.islands.support import cli, engine_objects, inside, tag, wait_for
from tests.support.users import UserFactory

# renameat2(2) RENAME_EXCHANGE from a process running as the agent user, in a loop.
SWAPPER = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
pairs = [(sys.argv[i].encode(), sys.argv[i + 1].encode()) for i in range(1, len(sys.argv), 2)]
while True:
    for a, b in pairs:
        libc.renameat2(-100, a, -100, b, 2)
"""
COPIES = 150
"""Copies made while the swapper runs (before the fix the secret leaked in most of them)."""


@dataclass
class World:
    agent: str
    home: Path
    base: Path
    secret_dir: Path
    marker: str
    made: list[Any]

    def as_agent(self, *argv: str) -> None:
        subprocess.run(["runuser", "-u", self.agent, "--", *argv], check=True,
                       capture_output=True)

    def env(self) -> dict[str, str]:
        return {"XDG_STATE_HOME": str(self.base / "state"),
                "XDG_CACHE_HOME": str(self.base / "cache"),
                "ATOLL_TMUX_SOCKET": f"atoll-test-{self.agent}"}


@pytest.fixture(scope="module")
def world(users: UserFactory) -> Iterator[World]:
    agent = users.user(users.name("ci", "-agent"))
    base = Path(tempfile.mkdtemp(prefix="atoll-copyin-", dir="/tmp"))
    base.chmod(0o755)
    marker = f"OPERATOR-PRIVATE-KEY-{secrets.token_hex(8)}"
    secret_dir = base / "operator-ssh"
    secret_dir.mkdir(mode=0o700)
    # As long as the decoy file it replaces in the races, so a leak is a whole copy.
    (secret_dir / "id_ed25519").write_text(marker.ljust(200, "!") + "\n")
    (secret_dir / "id_ed25519").chmod(0o600)
    w = World(agent, Path(f"/home/{agent}"), base, secret_dir, marker, [])
    yield w
    for isl in w.made:
        with contextlib.suppress(AtollError):
            isl.purge()
    subprocess.run(["runuser", "-u", agent, "--", "tmux", "-L", f"atoll-test-{agent}",
                    "kill-server"], capture_output=True)
    shutil.rmtree(base, ignore_errors=True)


def leaked(data: bytes, marker: str) -> bool:
    return marker.encode() in data


def members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m for m in tar}


def bwrap_island(w: World, project: str) -> BwrapIsland:
    spec = IslandSpec(name=f"c{tag()}", project_dir=project, kind="bwrap",
                      operator=current_user(), agent_user=w.agent, memory=256 << 20, pids=128)
    isl = BwrapIsland(spec)
    w.made.append(isl)
    return isl


def test_planted_project_symlink_does_not_copy_the_operators_key(
        world: World, bwrap_ready: None) -> None:
    # ln -s ~operator/.ssh ~AGENT/app, then the operator copies ~AGENT/app into a bwrap island
    app = world.home / f"app-{tag()}"
    world.as_agent("ln", "-s", str(world.secret_dir), str(app))
    isl = bwrap_island(world, str(app))
    with pytest.raises(PermissionDeniedError, match="permission denied"):
        isl.create()
    assert not isl.exists()  # nothing was left, nothing was copied
    with pytest.raises(PermissionDeniedError):
        project_tar(str(app))


def test_planted_symlink_for_a_container_island(world: World, engine: str) -> None:
    app = world.home / f"capp-{tag()}"
    world.as_agent("ln", "-s", str(world.secret_dir), str(app))
    spec = IslandSpec(name=f"c{tag()}", project_dir=str(app), kind=engine,  # type: ignore[arg-type]
                      operator=current_user(), memory=256 << 20, pids=64)
    isl = ContainerIsland(spec)
    world.made.append(isl)
    with pytest.raises(PermissionDeniedError, match="permission denied"):
        isl.create()
    objs = engine_objects(engine, isl.island_id)
    assert objs["containers"] == [] and objs["volumes"] == []


def _race(world: World, project: Path, pairs: list[tuple[Path, Path]]) -> tuple[int, int, int]:
    """Copy ``project`` COPIES times while the agent swaps ``pairs``; returns (copies that
    leaked the secret, copies that saw a swapped entry, copies refused as changed)."""
    argv = ["runuser", "-u", world.agent, "--", "python3", "-c", SWAPPER]
    for a, b in pairs:
        argv += [str(a), str(b)]
    swapper = subprocess.Popen(argv, start_new_session=True)
    leaks = swapped = refused = 0
    try:
        for _ in range(COPIES):
            try:
                data = project_tar(str(project))
            except AtollError:
                refused += 1
                continue
            except OSError:  # the code before the fix: a file that shrank under tarfile
                refused += 1
                continue
            leaks += leaked(data, world.marker)
            got = members(data)
            swapped += any(got.get(str(a.relative_to(project)), tarfile.TarInfo()).issym()
                           for a, _ in pairs)
    finally:
        os.killpg(swapper.pid, signal.SIGKILL)
        swapper.wait()
    return leaks, swapped, refused


def _race_tree(world: World, root: Path) -> list[tuple[Path, Path]]:
    """In ``root`` (writable by the agent): a decoy file and a decoy directory, each next
    to a symlink to the operator's secret; the agent exchanges each pair."""
    world.as_agent("sh", "-c", 'printf "%0200d\\n" 0 > "$1/f"; mkdir "$1/d"; '
                   'printf "%0200d\\n" 0 > "$1/d/id_ed25519"', "sh", str(root))
    world.as_agent("ln", "-s", str(world.secret_dir / "id_ed25519"), str(root / "l"))
    world.as_agent("ln", "-s", str(world.secret_dir), str(root / "dl"))
    return [(root / "f", root / "l"), (root / "d", root / "dl")]


def test_rename_exchange_race_in_an_operator_owned_project(world: World) -> None:
    # The project is the operator's (copied with the operator's rights); one directory in it
    # is the agent's, where it swaps files and directories for symlinks during the copy.
    project = world.base / f"opproj-{tag()}"
    project.mkdir()
    (project / "README").write_text("operator project\n")
    (project / "w").mkdir()
    shutil.chown(project / "w", world.agent, world.agent)
    pairs = _race_tree(world, project / "w")
    leaks, swapped, refused = _race(world, project, pairs)
    assert swapped + refused > 0, "the swapper never won a look: the race was not run"
    assert leaks == 0, f"the secret leaked in {leaks} of {COPIES} copies"


def test_rename_exchange_race_in_an_agent_owned_project(world: World) -> None:
    # The project is the agent's: it is copied with the agent's rights, so nothing the
    # agent cannot read can be in the stream, whatever it swaps.
    project = world.home / f"agproj-{tag()}"
    world.as_agent("mkdir", str(project))
    pairs = _race_tree(world, project)
    leaks, swapped, refused = _race(world, project, pairs)
    assert swapped + refused > 0, "the swapper never won a look: the race was not run"
    assert leaks == 0, f"the secret leaked in {leaks} of {COPIES} copies"


def test_fifo_and_devices_are_skipped_and_links_kept(world: World) -> None:
    project = world.home / f"fifo-{tag()}"
    world.as_agent("mkdir", str(project))
    world.as_agent("mkfifo", str(project / "pipe"))
    world.as_agent("ln", "-s", "/root", str(project / "rootlink"))
    world.as_agent("sh", "-c", 'echo data > "$1/file"; chmod 4755 "$1/file"', "sh", str(project))
    got = members(project_tar(str(project)))  # returns: the FIFO is never opened
    assert set(got) == {"file", "rootlink"}
    assert got["rootlink"].issym() and got["rootlink"].linkname == "/root"
    assert got["file"].mode == 0o755


def test_cli_bwrap_project_with_unreadable_file(world: World, bwrap_ready: None) -> None:
    # A root-only file inside the agent's project: root (the operator) could read it, the
    # agent cannot, so it is not copied: one line, exit 4, no island left.
    project = world.home / f"unread-{tag()}"
    world.as_agent("mkdir", str(project))
    world.as_agent("sh", "-c", 'echo visible > "$1/README"', "sh", str(project))
    shutil.copy(world.secret_dir / "id_ed25519", project / "root-only")
    os.chmod(project / "root-only", 0o600)
    name = f"u{tag()}"
    res = cli("new", name, "--island", "bwrap", "--as", world.agent, "--dir", str(project),
              "--", "sleep", "60", env=world.env())
    assert res.returncode == 4, res.stderr
    assert res.stderr.startswith("atoll: error: ") and res.stderr.count("\n") == 1, res.stderr
    assert "root-only: permission denied" in res.stderr
    islands = world.home / ".atoll" / "islands"
    left = subprocess.run(["find", str(islands), "-name", f"*-{name}"], capture_output=True,
                          text=True).stdout
    assert left == ""


def test_cli_bwrap_project_that_is_a_symlink_to_root(world: World, bwrap_ready: None) -> None:
    link = world.home / f"rootdir-{tag()}"
    world.as_agent("ln", "-s", "/root", str(link))
    res = cli("new", f"r{tag()}", "--island", "bwrap", "--as", world.agent, "--dir", str(link),
              "--", "sleep", "60", env=world.env())
    assert res.returncode == 4, res.stderr
    assert res.stderr.startswith("atoll: error: ") and res.stderr.count("\n") == 1, res.stderr
    assert "Traceback" not in res.stderr


def test_cli_bwrap_project_holding_a_symlink_to_root_keeps_the_link(
        world: World, bwrap_ready: None) -> None:
    project = world.base / f"withlink-{tag()}"
    project.mkdir()
    (project / "README").write_text("hello\n")
    (project / "r").symlink_to("/root")
    isl = bwrap_island(world, str(project))
    isl.create()
    ws = Path(isl.workspace)
    assert os.readlink(ws / "r") == "/root" and (ws / "README").read_text() == "hello\n"


def test_grant_swapped_for_a_symlink_before_the_mount(
        world: World, engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The container user is uid 1000; the operator's secret is uid 1000's here (the first
    # user of a Debian host), which the agent user cannot read on the host.
    assert pwd.getpwnam(world.agent).pw_uid != 1000
    secret = world.base / f"uid1000-{tag()}"
    secret.mkdir(mode=0o700)
    (secret / "id_ed25519").write_text(world.marker + "\n")
    subprocess.run(["chown", "-R", "1000:1000", str(secret)], check=True)
    parent = world.home / f"grants-{tag()}"
    world.as_agent("mkdir", "-p", str(parent / "g"))
    grant = parent / "g"
    real_check = Engine.check

    def swap_then_check(self: Engine, *args: str, **kw: Any) -> Any:
        if args[:1] == ("run",):  # the attacker wins: right before the engine mounts
            world.as_agent("mv", str(grant), str(parent / "g.orig"))
            world.as_agent("ln", "-s", str(secret), str(grant))
        return real_check(self, *args, **kw)

    monkeypatch.setattr(Engine, "check", swap_then_check)
    spec = IslandSpec(name=f"g{tag()}", project_dir="", kind=engine,  # type: ignore[arg-type]
                      operator=current_user(), memory=256 << 20, pids=64,
                      grants=(Grant(str(grant), False),))
    isl = ContainerIsland(spec)
    world.made.append(isl)
    try:
        isl.create()
    except GrantChangedError as exc:
        assert "was replaced before the engine mounted it" in str(exc)
        objs = engine_objects(engine, isl.island_id)
        assert objs["containers"] == [] and objs["volumes"] == []
        return
    seen = inside(isl, "sh", "-c", f"cat {grant}/id_ed25519 2>&1 || true")
    assert world.marker not in seen, "the island reads the operator's secret through the grant"
    pytest.fail("the swapped grant was mounted and not refused")


def test_cli_record_in_a_bwrap_island_keeps_a_transcript(world: World, bwrap_ready: None) -> None:
    project = world.base / f"rec-{tag()}"
    project.mkdir()
    name = f"r{tag()}"
    res = cli("new", name, "--island", "bwrap", "--as", world.agent, "--dir", str(project),
              "--record", "--", "sh", "-c", "echo recorded-in-bwrap; sleep 300",
              env=world.env())
    assert res.returncode == 0, res.stderr
    wait_for(lambda: "recorded-in-bwrap" in cli("peek", name, "--as", world.agent,
                                                env=world.env()).stdout)
    assert cli("kill", name, "--as", world.agent, env=world.env()).returncode == 0

    def closed() -> subprocess.CompletedProcess[str] | None:
        shown = cli("audit", "transcript", name, env=world.env())
        return shown if "matches" in shown.stdout else None

    shown = wait_for(closed)
    assert shown is not None
    assert "recorded-in-bwrap" in Path(shown.stdout.split()[0]).read_text()


def test_cli_record_in_a_container_island_is_refused(world: World, engine: str) -> None:
    project = world.base / f"crec-{tag()}"
    project.mkdir()
    name = f"r{tag()}"
    res = cli("new", name, "--island", engine, "--dir", str(project), "--record", "--",
              "sleep", "60", env=world.env())
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("atoll: error: --record") and res.stderr.count("\n") == 1
    made = subprocess.run([engine, "ps", "-a", "--format", "{{.Names}}"], capture_output=True,
                          text=True).stdout
    assert f"-{name}" not in made


def test_purge_of_a_stopped_container_writes_its_intent_before_starting_it(
        world: World, docker_image: str) -> None:
    plain = world.base / f"plain-{tag()}"
    plain.mkdir()
    (plain / "notes.txt").write_text("not in git: purge refuses\n")
    spec = IslandSpec(name=f"s{tag()}", project_dir=str(plain), kind="docker",
                      operator=current_user(), memory=256 << 20, pids=64)
    isl = ContainerIsland(spec)
    world.made.append(isl)
    isl.create()
    Engine("docker").check("stop", "-t", "1", isl.island_id, timeout=60)
    res = cli("purge", spec.name, "--kind", "docker", env=world.env())
    assert res.returncode == 1 and "not in git" in res.stderr, res.stderr
    shown = cli("audit", "show", "--json", env=world.env())
    events = [e for e in json.loads(shown.stdout) if e["action"] == "island.purge"]
    assert [e["outcome"] for e in events] == ["intent", "error"], events
    info = isl.inspect()
    assert info is not None
    started = str(info["State"]["StartedAt"])  # RFC 3339, nanoseconds
    assert events[0]["time"][:23] <= started[:23], (events[0]["time"], started)
