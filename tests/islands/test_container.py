"""Container islands on real docker and real podman: create, sessions, hardening, grants,
listing, attach in a real terminal, load pid mapping, failures that clean up."""

from __future__ import annotations

import errno
import json
import os
import pty
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from atoll.core.errors import AtollError, UsageError
from atoll.core.islands import Grant, IslandSpec
from atoll.exec.runner import current_user
from atoll.islands.base import IslandExistsError, start_session
from atoll.islands.container import ContainerIsland, list_container_islands
from atoll.islands.engine import Engine
from atoll.islands.hookrelay import SHIM
from atoll.islands.image import ImageMissingError
from atoll.islands.load import host_pid_maps, init_pids
from tests.islands.support import engine_objects, git, git_project, inside, tag, wait_for


class Made:
    """Islands made by a test; all purged at teardown."""

    def __init__(self) -> None:
        self.items: list[ContainerIsland] = []

    def island(self, engine: str, project: str, name: str | None = None,
               **kw: object) -> ContainerIsland:
        spec = IslandSpec(name=name or f"t{tag()}", project_dir=project, kind=engine,  # type: ignore[arg-type]
                          operator=current_user(), memory=256 << 20, pids=128, **kw)  # type: ignore[arg-type]
        isl = ContainerIsland(spec)
        self.items.append(isl)
        return isl


@pytest.fixture
def made() -> Iterator[Made]:
    m = Made()
    yield m
    for isl in m.items:
        isl.purge()


def test_create_copy_session_and_hardening(engine: str, made: Made, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSH_AUTH_SOCK", str(tmp_path / "agent.sock"))
    project = git_project(tmp_path / "proj", {"README": "hello\n", "src/main.py": "print(1)\n"})
    isl = made.island(engine, str(project))
    isl.create()

    # the project is a copy owned by the agent, .git included
    assert inside(isl, "cat", "/workspace/src/main.py") == "print(1)\n"
    assert inside(isl, "stat", "-c", "%u:%g", "/workspace/README", "/workspace/.git").split() \
        == ["1000:1000", "1000:1000"]
    assert "init" in inside(isl, "git", "-C", "/workspace", "log", "--oneline")
    (project / "README").write_text("changed on the host\n")
    assert inside(isl, "cat", "/workspace/README") == "hello\n"

    # hardening as seen from inside
    status = inside(isl, "cat", "/proc/self/status")
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert fields["CapEff"].strip() == fields["CapBnd"].strip() == "0000000000000000"
    assert fields["NoNewPrivs"].strip() == "1"
    assert inside(isl, "id", "-u").strip() == "1000"
    ro = isl.runner().run(["touch", "/etc/x"])
    assert not ro.ok and "Read-only file system" in ro.stderr
    assert inside(isl, "cat", "/proc/net/dev").count(":") == 1  # lo only: --network none
    env = inside(isl, "env")
    assert "SSH_AUTH_SOCK" not in env
    pids = isl.runner().run(["sh", "-c", "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || "
                             "cat /sys/fs/cgroup/pids.max"]).text().strip()
    assert pids == "128"

    # nothing from the host but the volume and the read-only hook shim (and the engine's
    # own tmpfs/etc files)
    info = isl.inspect()
    assert info is not None
    mounts = info.get("Mounts") or []
    sources = [m.get("Source", "") for m in mounts]
    binds = [(m.get("Source"), m.get("Destination"), m.get("RW")) for m in mounts
             if m.get("Type") == "bind"]
    assert binds == [(SHIM, "/usr/local/bin/atoll", False)], mounts
    assert {m.get("Type") for m in mounts} == {"volume", "bind"}, mounts
    assert not any("docker.sock" in s or s.startswith(("/home", "/root")) for s in sources)
    labels = info["Config"]["Labels"]
    assert labels["atoll.owner"] == current_user()
    assert labels["atoll.project-dir"] == str(project)
    assert labels["atoll.name"] == isl.spec.name
    assert labels["atoll.project-hash"] == isl.spec.hash8
    vol = json.loads(Engine(engine).run("volume", "inspect", isl.volume).check().stdout)[0]
    assert vol["Labels"]["atoll.owner"] == current_user()

    # tmux inside: session, listing, type, peek
    client = start_session(isl, isl.spec.name, ["bash", "--norc"], socket="atoll",
                           options={"atoll_agent": "shell", "atoll_project": str(project)})
    (pane,) = client.list_panes()
    assert (pane.session_name, pane.island, pane.project) == (isl.spec.name, engine, str(project))
    client.send_literal(isl.spec.name, "echo typed-$((6*7))")
    client.send_enter(isl.spec.name)
    assert wait_for(lambda: "typed-42" in client.capture(isl.spec.name))

    refs = [r for r in list_container_islands(engine) if r.container == isl.island_id]
    assert len(refs) == 1
    ref = refs[0]
    assert (ref.name, ref.state, ref.user) == (isl.spec.name, "running",
                                               f"{engine}:{isl.island_id}")
    assert [p.session_name for p in ref.client.list_panes()] == [isl.spec.name]
    assert ref.attach_argv(isl.spec.name) == isl.attach_argv(isl.spec.name)

    # the name is taken now
    with pytest.raises(IslandExistsError, match="atoll purge"):
        ContainerIsland(isl.spec).create()

    assert isl.attach_argv(isl.spec.name, read_only=True) == [
        engine, "exec", "-it", "-u", "1000", isl.island_id, "tmux", "-L", "atoll",
        "attach-session", "-t", f"={isl.spec.name}", "-r"]


def _read_until(fd: int, needle: bytes, timeout: float = 20.0) -> bytes:
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf and time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError as exc:
                if exc.errno == errno.EIO:
                    break
                raise
            if not chunk:
                break
            buf += chunk
    return buf


def _attach(argv: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "TMUX"}
    env["TERM"] = "xterm"
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True)
    os.close(slave)
    return proc, master


def test_attach_and_read_only_attach_in_a_real_terminal(engine: str, made: Made,
                                                        tmp_path: Path) -> None:
    isl = made.island(engine, "")
    isl.create()
    name = isl.spec.name
    client = start_session(isl, name, ["bash", "--norc"], socket="atoll", options={})
    client.send_literal(name, "echo MARK-$((40+2))")
    client.send_enter(name)
    assert wait_for(lambda: "MARK-42" in client.capture(name))

    proc, master = _attach(isl.attach_argv(name))
    try:
        assert b"MARK-42" in _read_until(master, b"MARK-42")
        os.write(master, b"echo ATTACHED-$((1+1))\r")
        assert wait_for(lambda: "ATTACHED-2" in client.capture(name))
        os.write(master, b"\x02d")  # prefix C-b, then d: detach
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
        os.close(master)

    proc, master = _attach(isl.attach_argv(name, read_only=True))
    try:
        assert b"MARK-42" in _read_until(master, b"MARK-42")
        os.write(master, b"echo READONLY-TYPED\r")
        _read_until(master, b"READONLY-TYPED", timeout=2)
        assert "READONLY-TYPED" not in client.capture(name)
        os.write(master, b"\x02d")
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
        os.close(master)


def test_grants_read_only_and_read_write(engine: str, made: Made, tmp_path: Path) -> None:
    ref = tmp_path / "ref"
    out = tmp_path / "out"
    ref.mkdir()
    out.mkdir()
    out.chmod(0o777)
    (ref / "data.txt").write_text("reference\n")
    isl = made.island(engine, "", grants=(Grant(str(ref)), Grant(str(out), True)))
    isl.create()
    assert inside(isl, "cat", str(ref / "data.txt")) == "reference\n"
    assert not isl.runner().run(["touch", str(ref / "new")]).ok
    assert not (ref / "new").exists()
    inside(isl, "sh", "-c", f"echo result > {out}/r.txt")
    assert (out / "r.txt").read_text() == "result\n"
    assert (out / "r.txt").stat().st_uid == 1000
    # a path next to the grant is not there
    assert not isl.runner().run(["ls", str(tmp_path / "other")]).ok


def test_granted_project_is_bound_not_copied(engine: str, made: Made, tmp_path: Path) -> None:
    project = git_project(tmp_path / "p")
    isl = made.island(engine, str(project), grants=(Grant(str(project)),))
    isl.create()
    assert isl.workdir == str(project)
    assert inside(isl, "ls", "-A", "/workspace") == ""
    (project / "later.txt").write_text("seen live\n")
    assert inside(isl, "cat", str(project / "later.txt")) == "seen live\n"
    assert not isl.runner().run(["touch", str(project / "x")]).ok


def test_stopped_island_is_listed_as_exited_and_owner_filter(engine: str, made: Made) -> None:
    isl = made.island(engine, "")
    isl.create()
    isl.stop()
    (ref,) = [r for r in list_container_islands(engine) if r.container == isl.island_id]
    assert ref.state == "exited" and not ref.running
    assert isl.describe().state == "exited"
    assert not [r for r in list_container_islands(engine, operator=f"nobody{tag()}")
                if r.container == isl.island_id]


def test_pane_pid_maps_to_the_host_process(engine: str, made: Made) -> None:
    isl = made.island(engine, "")
    isl.create()
    client = start_session(isl, isl.spec.name, ["sleep", "7654321"], socket="atoll",
                           options={})
    (pane,) = client.list_panes()
    assert pane.pane_pid is not None
    inits = init_pids(engine, [isl.island_id])
    maps = host_pid_maps(inits)
    host_pid = maps[isl.island_id][pane.pane_pid]
    seen_inside = isl.runner().run(["cat", f"/proc/{pane.pane_pid}/cmdline"]).check().stdout
    assert Path(f"/proc/{host_pid}/cmdline").read_bytes() == seen_inside
    assert host_pid != pane.pane_pid
    # the pane's process tree, seen from the host, reaches the agent's command
    sleeps = [h for h in maps[isl.island_id].values()
              if Path(f"/proc/{h}/cmdline").read_bytes() == b"sleep\x007654321\x00"]
    assert len(sleeps) == 1


def test_failures_leave_nothing_behind(engine: str, made: Made) -> None:
    isl = made.island(engine, "", image="atoll-missing-image:none")
    with pytest.raises(ImageMissingError, match="atoll image build"):
        isl.create()
    # an image without `sleep`: the volume is made, then `run` fails; both must go
    import io
    import tarfile

    empty = io.BytesIO()
    with tarfile.open(fileobj=empty, mode="w") as tf:
        info = tarfile.TarInfo("etc")
        info.type = tarfile.DIRTYPE
        tf.addfile(info)
    Engine(engine).check("import", "-", "atoll-test-empty:1", input=empty.getvalue())
    isl2 = made.island(engine, "", image="atoll-test-empty:1")
    with pytest.raises(AtollError):
        isl2.create()
    for i in (isl, isl2):
        assert engine_objects(engine, i.island_id) == {"containers": [], "volumes": []}
    with pytest.raises(UsageError, match="does not exist"):
        made.island(engine, "", grants=(Grant(f"/srv/atoll-missing-{tag()}"),)).create()


def test_copy_skips_special_files_and_keeps_symlinks(engine: str, made: Made,
                                                     tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / "a.txt").write_text("a\n")
    os.symlink("/etc/shadow", project / "link")
    os.mkfifo(project / "fifo")
    suid = project / "suid"
    suid.write_text("#!/bin/sh\n")
    suid.chmod(0o4755)
    isl = made.island(engine, str(project))
    isl.create()
    listing = inside(isl, "ls", "-l", "/workspace")
    assert "fifo" not in listing
    assert inside(isl, "readlink", "/workspace/link").strip() == "/etc/shadow"
    assert not isl.runner().run(["cat", "/workspace/link"]).ok  # resolves inside: unreadable
    assert inside(isl, "stat", "-c", "%a", "/workspace/suid").strip() == "755"
    git(tmp_path, "init", "-q")  # unrelated: the host tree is untouched
