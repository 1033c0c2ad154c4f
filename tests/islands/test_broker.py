"""The grant broker against real islands (issue 16): a real agent user, real sudo, real
FUSE (fusermount3, libfuse3 through mfusepy), real bwrap; the real CLI as the operator.

Each test reads or writes as the agent user (``runuser -u AGENT``), as an agent would,
and checks what the host and the ledger saw.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.proc import atoll, run_as
from tests.support.users import UserFactory


@dataclass
class World:
    agent: str
    other: str
    env: dict[str, str]
    state: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return atoll(*args, env=self.env)

    def ok(self, *args: str) -> str:
        res = self.cli(*args)
        assert res.returncode == 0, res.stderr
        return res.stdout

    def as_agent(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return run_as(self.agent, list(argv), timeout=timeout)

    def events(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = json.loads(self.ok("audit", "show", "--json"))
        return out


def _stop_brokers() -> None:
    """Ask every broker of root's to stop (each unmounts its filesystem and exits)."""
    import socket

    from atoll.broker.control import broker_dir

    for path in broker_dir().glob("*.sock"):
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            try:
                s.connect(str(path))
                s.sendall(b'{"op": "stop"}\n')
                s.recv(100)
            except OSError:
                continue


@pytest.fixture(scope="module")
def world(users: UserFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if shutil.which("fusermount3") is None:
        pytest.fail("fusermount3 is missing: run scripts/setup.sh --dev (fuse3)")
    os.chmod("/dev/fuse", 0o666)  # as udev sets it on a host (scripts/deps/50-islands.sh)
    agent = users.user(users.name("brk", "-agent"))
    other = users.user(users.name("brko"))
    state = tmp_path_factory.mktemp("brokerstate")
    sock = f"atoll-test-{secrets.token_hex(4)}"
    env = {"XDG_STATE_HOME": str(state), "XDG_CACHE_HOME": str(state / "cache"),
           "ATOLL_TMUX_SOCKET": sock}
    w = World(agent, other, env, state)
    res = w.cli("new", "brk", "--as", agent, "--dir", "/tmp", "--", "sleep", "3600")
    assert res.returncode == 0, res.stderr
    yield w
    _stop_brokers()
    time.sleep(0.5)
    subprocess.run(["runuser", "-u", agent, "--", "tmux", "-L", sock, "kill-server"],
                   capture_output=True)


@pytest.fixture
def granted(world: World, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A granted folder (world-readable, root's) and the path the agent sees it at."""
    top = tmp_path / f"g{secrets.token_hex(3)}"
    (top / "sub").mkdir(parents=True)
    (top / "data.txt").write_bytes(b"granted data\n" * 1000)
    (top / "sub" / "f").write_text("inside\n")
    for p in (tmp_path, top, top / "sub"):
        p.chmod(0o755)
    inside = world.ok("grant", "brk", "--as", world.agent, str(top)).strip()
    yield top, inside
    world.cli("revoke", "brk", "--as", world.agent, str(top))


def crossings(world: World, path: str) -> list[dict[str, Any]]:
    out = json.loads(world.ok("audit", "crossings", "--json"))["crossings"]
    return [c for c in out if c["path"] == path]


def test_read_through_a_grant_is_recorded_before_and_hashed_after(
        world: World, granted: tuple[Path, str]) -> None:
    top, inside = granted
    assert inside == f"/home/{world.agent}/.atoll/grants/{top.name}"
    res = world.as_agent("cat", f"{inside}/data.txt")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "granted data\n" * 1000
    (row,) = crossings(world, str(top / "data.txt"))
    assert row["action"] == "crossing.read" and row["state"] == "closed"
    assert row["bytes"] == 13000
    assert row["sha256"] == hashlib.sha256(b"granted data\n" * 1000).hexdigest()
    assert row["uid"] == int(subprocess.check_output(["id", "-u", world.agent]))
    assert row["granted_by"]["user"] == "root"
    evs = [e for e in world.events() if e["action"] == "crossing.read"
           and e["target"]["path"] == str(top / "data.txt")]
    assert [e["outcome"] for e in evs] == ["intent", "ok"]
    assert evs[1]["details"]["intent"] == evs[0]["seq"]
    listed = json.loads(world.ok("grants", "brk", "--as", world.agent, "--json"))
    (g,) = [g for g in listed["grants"] if g["path"] == str(top)]
    assert g["crossings"] == 1 and g["rw"] is False and g["by"]["user"] == "root"
    assert world.cli("audit", "verify").returncode == 0


def test_read_only_grant_refuses_every_change(world: World,
                                              granted: tuple[Path, str]) -> None:
    top, inside = granted
    for argv in (["sh", "-c", f"echo x >> {inside}/data.txt"],
                 ["sh", "-c", f"echo x > {inside}/new.txt"],
                 ["rm", "-f", f"{inside}/data.txt"], ["mkdir", f"{inside}/d"],
                 ["mv", f"{inside}/data.txt", f"{inside}/moved"],
                 ["chmod", "777", f"{inside}/data.txt"]):
        res = world.as_agent(*argv)
        assert res.returncode != 0, argv
        assert "Read-only file system" in res.stderr or "Operation not permitted" in \
            res.stderr, (argv, res.stderr)
    assert (top / "data.txt").read_bytes() == b"granted data\n" * 1000
    assert sorted(p.name for p in top.iterdir()) == ["data.txt", "sub"]


def test_only_the_agent_uid_is_served(world: World, granted: tuple[Path, str]) -> None:
    _top, inside = granted
    # make the way to the mountpoint traversable, so only the mount itself can refuse
    home = Path(f"/home/{world.agent}")
    modes = {p: p.stat().st_mode & 0o777 for p in (home, home / ".atoll")}
    try:
        for p in modes:
            p.chmod(0o755)
        res = run_as(world.other, ["cat", f"{inside}/data.txt"])
        assert res.returncode != 0 and "granted data" not in res.stdout
        res = run_as(None, ["cat", f"{inside}/data.txt"])  # root, even
        assert res.returncode != 0 and "Permission denied" in res.stderr
    finally:
        for p, mode in modes.items():
            p.chmod(mode)


def test_revoke_is_immediate_also_for_an_open_file(world: World, tmp_path: Path) -> None:
    top = tmp_path / "rv"
    top.mkdir()
    (top / "f").write_bytes(b"a" * 100_000)
    tmp_path.chmod(0o755)
    top.chmod(0o755)
    (top / "f").chmod(0o644)
    inside = world.ok("grant", "brk", "--as", world.agent, str(top), "--name", "rv").strip()
    go = Path(f"/tmp/atoll-rv-{secrets.token_hex(3)}")
    script = (
        "import os, sys, time\n"
        f"fd = os.open({inside + '/f'!r}, os.O_RDONLY)\n"
        "print(len(os.read(fd, 10)), flush=True)\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.05)\n"
        "try:\n"
        "    print('read', len(os.pread(fd, 10, 10)))\n"
        "except OSError as e:\n"
        "    print('refused', e.errno)\n"
    )
    proc = subprocess.Popen(["runuser", "-u", world.agent, "--", "python3", "-c", script],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "10"
    world.ok("revoke", "brk", "--as", world.agent, "rv")
    go.write_text("")
    try:
        out, _ = proc.communicate(timeout=30)
    finally:
        go.unlink()
    assert out.strip() == "refused 13"  # EACCES
    assert world.as_agent("ls", inside).returncode != 0
    revokes = [e for e in world.events() if e["action"] == "grant.revoke"
               and e["target"]["path"] == str(top)]
    assert [e["outcome"] for e in revokes] == ["intent", "ok"]


def test_symlinks_to_operator_secrets_are_not_followed(world: World, tmp_path: Path) -> None:
    secret_dir = Path(f"/root/.atoll-test-ssh-{secrets.token_hex(3)}")
    secret_dir.mkdir(mode=0o700)
    marker = f"SECRET-{secrets.token_hex(8)}"
    (secret_dir / "id_ed25519").write_text(marker)
    top = tmp_path / "links"
    top.mkdir()
    tmp_path.chmod(0o755)
    top.chmod(0o755)
    os.symlink(secret_dir, top / "ssh")
    os.symlink(secret_dir / "id_ed25519", top / "key")
    os.symlink("/etc/shadow", top / "shadow")
    inside = world.ok("grant", "brk", "--as", world.agent, str(top), "--name", "links").strip()
    try:
        for rel in ("ssh/id_ed25519", "key", "shadow"):
            res = world.as_agent("cat", f"{inside}/{rel}")
            assert res.returncode != 0, rel
            assert marker not in res.stdout and "root:" not in res.stdout
        # the broker shows the links as links (their text is data), never their targets
        res = world.as_agent("readlink", f"{inside}/key")
        assert res.stdout.strip() == str(secret_dir / "id_ed25519")
        assert not [c for c in json.loads(world.ok("audit", "crossings", "--json"))[
            "crossings"] if c["path"].startswith(str(top))]
    finally:
        world.cli("revoke", "brk", "--as", world.agent, "links")
        shutil.rmtree(secret_dir)


def test_swapping_a_granted_subfolder_for_a_symlink_never_exposes_outside_data(
        world: World, tmp_path: Path) -> None:
    secret_dir = Path(f"/root/.atoll-test-swap-{secrets.token_hex(3)}")
    secret_dir.mkdir(mode=0o700)
    marker = f"OUTSIDE-{secrets.token_hex(8)}"
    (secret_dir / "f").write_text(marker)
    top = tmp_path / "swap"
    (top / "sub").mkdir(parents=True)
    (top / "sub" / "f").write_text("inside\n")
    for p in (tmp_path, top, top / "sub"):
        p.chmod(0o755)
    (top / "sub" / "f").chmod(0o644)
    inside = world.ok("grant", "brk", "--as", world.agent, str(top), "--name", "swap").strip()
    swapper = subprocess.Popen(["python3", "-c", (
        "import os, time\n"
        f"top = {str(top)!r}\n"
        "end = time.monotonic() + 4\n"
        "while time.monotonic() < end:\n"
        "    os.rename(top + '/sub', top + '/sub.real')\n"
        f"    os.symlink({str(secret_dir)!r}, top + '/sub')\n"
        "    os.unlink(top + '/sub')\n"
        "    os.rename(top + '/sub.real', top + '/sub')\n")])
    reader = (
        "import time\n"
        "seen = set()\n"
        "end = time.monotonic() + 4\n"
        "while time.monotonic() < end:\n"
        "    try:\n"
        f"        seen.add(open({inside + '/sub/f'!r}).read())\n"
        "    except OSError as e:\n"
        "        seen.add('error')\n"
        "print(sorted(seen))\n")
    try:
        res = world.as_agent("python3", "-c", reader, timeout=60)
    finally:
        swapper.wait(timeout=30)
        world.cli("revoke", "brk", "--as", world.agent, "swap")
        shutil.rmtree(secret_dir)
    assert res.returncode == 0, res.stderr
    assert marker not in res.stdout
    assert "inside" in res.stdout  # the reads did run during the swaps
    # and the ledger names only files below the grant
    for c in json.loads(world.ok("audit", "crossings", "--json"))["crossings"]:
        if c["grant"] == "swap":
            assert c["path"] == str(top / "sub" / "f")


def test_unwritable_ledger_refuses_the_crossing(world: World,
                                                granted: tuple[Path, str]) -> None:
    _top, inside = granted
    ledger = world.state / "atoll" / "ledger.jsonl"
    aside = ledger.with_name("ledger.aside")
    os.rename(ledger, aside)
    ledger.mkdir()  # appends now fail: the path is a directory
    try:
        res = world.as_agent("cat", f"{inside}/data.txt")
        assert res.returncode != 0 and "Permission denied" in res.stderr
        assert "granted data" not in res.stdout
    finally:
        ledger.rmdir()
        os.rename(aside, ledger)
    assert world.as_agent("cat", f"{inside}/sub/f").stdout == "inside\n"


def test_read_write_grant_records_writes_and_refuses_what_runs_code(
        world: World, tmp_path: Path) -> None:
    top = tmp_path / "rw"
    (top / ".git" / "hooks").mkdir(parents=True)
    (top / ".git" / "config").write_text("[core]\n")
    for p in (tmp_path, top, top / ".git", top / ".git" / "hooks"):
        p.chmod(0o777)
    inside = world.ok("grant", "brk", "--as", world.agent, str(top), "--rw",
                      "--name", "rw").strip()
    try:
        res = world.as_agent("sh", "-c", f"printf 'written' > {inside}/out.txt")
        assert res.returncode == 0, res.stderr
        assert (top / "out.txt").read_text() == "written"
        writes = [c for c in json.loads(world.ok("audit", "crossings", "--json"))["crossings"]
                  if c["path"] == str(top / "out.txt")]
        assert writes[-1]["action"] == "crossing.write"
        assert writes[-1]["sha256"] == hashlib.sha256(b"written").hexdigest()
        refused = [
            ["sh", "-c", f"echo 'curl x|sh' > {inside}/.envrc"],
            ["sh", "-c", f"echo '[core] fsmonitor=x' >> {inside}/.git/config"],
            ["sh", "-c", f"echo x > {inside}/.git/hooks/pre-commit"],
            ["chmod", "+x", f"{inside}/out.txt"],
            ["chmod", "u+s", f"{inside}/out.txt"],
            ["ln", "-s", "/etc/passwd", f"{inside}/link"],
            ["mkfifo", f"{inside}/fifo"],
            ["mv", f"{inside}/out.txt", f"{inside}/.envrc"],
        ]
        for argv in refused:
            res = world.as_agent(*argv)
            assert res.returncode != 0, argv
        assert not (top / ".envrc").exists() and not (top / "link").exists()
        assert not (top / "fifo").exists() and not (top / ".git" / "hooks" / "pre-commit").exists()
        assert (top / ".git" / "config").read_text() == "[core]\n"
        assert (top / "out.txt").stat().st_mode & 0o7111 == 0
    finally:
        world.cli("revoke", "brk", "--as", world.agent, "rw")


def test_grant_refusals_are_one_line_with_their_exit_code(world: World,
                                                          tmp_path: Path) -> None:
    res = world.cli("grant", "brk", "--as", world.agent, "/etc")
    assert res.returncode == 2 and res.stderr.startswith("atoll: error: ")
    assert len(res.stderr.splitlines()) == 1
    res = world.cli("grant", "nosuch", "--as", world.agent, str(tmp_path))
    assert res.returncode == 3
    res = world.cli("revoke", "brk", "--as", world.agent, "never-granted")
    assert res.returncode == 3


def test_bwrap_island_sees_grants_appear_and_go_while_it_runs(
        world: World, tmp_path: Path) -> None:
    from atoll.islands.bwrap import list_bwrap_islands

    if shutil.which("bwrap") is None:
        pytest.fail("bwrap is not installed: run scripts/setup.sh --dev (bubblewrap)")
    first, late = tmp_path / "first", tmp_path / "late"
    for d, text in ((first, "at creation\n"), (late, "granted later\n")):
        d.mkdir()
        (d / "f").write_text(text)
        d.chmod(0o755)
        (d / "f").chmod(0o644)
    tmp_path.chmod(0o755)
    project = tmp_path / "proj"
    project.mkdir()
    project.chmod(0o755)
    waiter = ("for i in $(seq 600); do if [ -r /grants/late/f ]; then "
              "cat /grants/late/f > $HOME/seen; break; fi; sleep 0.1; done; sleep 600")
    name = f"bw{secrets.token_hex(3)}"
    world.ok("new", name, "--island", "bwrap", "--as", world.agent, "--dir", str(project),
             "--grant", str(first), "--", "sh", "-c", waiter)
    (isl,) = [i for i in list_bwrap_islands(world.agent) if i.spec.name == name]
    secret = Path(f"/root/.atoll-test-bw-{secrets.token_hex(3)}")
    secret.write_text("BWSECRET")
    secret.chmod(0o600)
    os.symlink(secret, first / "key")
    os.symlink("/etc/shadow", first / "shadow")
    try:
        res = isl.runner().run(["cat", "/grants/first/f"])
        assert res.ok and res.text() == "at creation\n"
        for link in ("key", "shadow"):  # a link is data: the broker never follows it
            res = isl.runner().run(["cat", f"/grants/first/{link}"])
            assert not res.ok and "BWSECRET" not in res.text() and "root:" not in res.text()
        assert not isl.runner().run(["sh", "-c", "echo x > /grants/first/f"]).ok
        assert not isl.runner().run(["rm", "/grants/first/f"]).ok
        assert isl.runner().run(["ls", "/grants"]).text().split() == ["first"]
        # nothing of the host's grant path is bound: only the broker serves it
        assert not isl.runner().run(["test", "-e", str(first)]).ok
        inside = world.ok("grant", name, "--as", world.agent, str(late)).strip()
        assert inside == "/grants/late"
        seen = Path(isl.sandbox_home) / "seen"
        deadline = time.monotonic() + 60
        while not seen.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert seen.read_text() == "granted later\n"  # the running pane saw it appear
        rows = [c for c in json.loads(world.ok("audit", "crossings", "--json"))["crossings"]
                if c["island"] == f"bwrap:{world.agent}:{isl.island_id}"]
        assert {r["path"] for r in rows} == {str(first / "f"), str(late / "f")}
        assert all(r["sha256"] for r in rows if r["state"] == "closed")
        world.ok("revoke", name, "--as", world.agent, "first")
        assert not isl.runner().run(["cat", "/grants/first/f"]).ok
        # a path outside every grant is not reachable through the broker
        for probe in ("/grants/../etc/shadow", "/grants/late/../../root"):
            assert not isl.runner().run(["cat", probe]).ok
    finally:
        world.cli("purge", name, "--as", world.agent, "--yes", "--force")
        secret.unlink()
    assert not Path(isl.broker_mount).exists()


def test_intake_copies_in_with_a_hash_per_file(world: World, tmp_path: Path) -> None:
    src = tmp_path / f"in{secrets.token_hex(3)}"
    (src / "d").mkdir(parents=True)
    (src / "a.txt").write_text("alpha\n")
    (src / "d" / "b.txt").write_text("beta\n")
    where = world.ok("intake", "brk", "--as", world.agent, str(src)).strip()
    assert where == f"/home/{world.agent}/{src.name}"
    res = world.as_agent("cat", f"{where}/a.txt", f"{where}/d/b.txt")
    assert res.stdout == "alpha\nbeta\n"
    assert Path(where, "a.txt").stat().st_uid == int(
        subprocess.check_output(["id", "-u", world.agent]))
    (rec,) = [e for e in world.events() if e["action"] == "crossing.intake"
              and e["outcome"] == "intent" and e["target"]["path"] == str(src)]
    files = {f[0].removeprefix("./"): f[2] for f in rec["details"]["files"]}
    assert files == {"a.txt": hashlib.sha256(b"alpha\n").hexdigest(),
                     "d/b.txt": hashlib.sha256(b"beta\n").hexdigest()}
    assert rec["details"]["count"] == 2
    again = world.cli("intake", "brk", "--as", world.agent, str(src))
    assert again.returncode == 2 and "exists" in again.stderr  # never over what is there


def test_export_never_writes_outside_hostdest(world: World, tmp_path: Path) -> None:
    box = f"/home/{world.agent}/out{secrets.token_hex(3)}"
    assert world.as_agent("mkdir", "-p", f"{box}/sub").returncode == 0
    assert world.as_agent("sh", "-c", f"printf result > {box}/sub/r.txt").returncode == 0
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    # 1. a plain export lands below HOSTDEST with each file's hash recorded
    world.ok("export", "brk", "--as", world.agent, box, str(dest))
    assert (dest / Path(box).name / "sub" / "r.txt").read_text() == "result"
    (rec,) = [e for e in world.events() if e["action"] == "crossing.export"
              and e["outcome"] == "intent" and e["details"]["to"] == str(dest)]
    assert [f[2] for f in rec["details"]["files"]] == [hashlib.sha256(b"result").hexdigest()]
    # 2. never over an existing HOSTDEST without --force
    res = world.cli("export", "brk", "--as", world.agent, box, str(dest))
    assert res.returncode == 2 and "--force" in res.stderr
    # 3. a symlink in the island is data: the export is refused, nothing is written
    assert world.as_agent("ln", "-s", str(outside), f"{box}/sub/escape").returncode == 0
    dest2 = tmp_path / "dest2"
    res = world.cli("export", "brk", "--as", world.agent, box, str(dest2))
    assert res.returncode == 2 and "symlink" in res.stderr
    assert not dest2.exists() and list(outside.iterdir()) == []
    assert world.as_agent("rm", f"{box}/sub/escape").returncode == 0
    # 4. a symlink planted in HOSTDEST is not written through, even with --force
    dest3 = tmp_path / "dest3"
    dest3.mkdir()
    os.symlink(outside, dest3 / Path(box).name)
    res = world.cli("export", "brk", "--as", world.agent, box, str(dest3), "--force")
    assert res.returncode == 4 and "symlink" in res.stderr
    assert list(outside.iterdir()) == []
    # 5. what would run the operator's code is refused
    assert world.as_agent("sh", "-c", f"echo x > {box}/.envrc").returncode == 0
    res = world.cli("export", "brk", "--as", world.agent, box, str(tmp_path / "dest4"))
    assert res.returncode == 2 and ".envrc" in res.stderr


def test_container_island_reads_through_its_broker(world: World, engine: str,
                                                   tmp_path: Path) -> None:
    import pwd

    from atoll.core.islands import container_name
    from atoll.exec.runner import ContainerExec
    from atoll.islands.brokermount import container_place

    first, late = tmp_path / "cfirst", tmp_path / "clate"
    for d, text in ((first, "at creation\n"), (late, "granted later\n")):
        d.mkdir()
        (d / "f").write_text(text)
    project = tmp_path / "cproj"
    project.mkdir()
    name = f"c{secrets.token_hex(3)}"
    world.ok("new", name, "--island", engine, "--dir", str(project), "--grant", str(first),
             "--", "sleep", "3600")
    container = container_name(str(project), name)
    place = container_place(engine, container)
    run = ContainerExec(engine, container, "1000")
    os.symlink("/etc/shadow", first / "shadow")
    try:
        res = run.run(["cat", "/grants/cfirst/f"])
        assert res.ok and res.text() == "at creation\n", res.stderr
        # the link resolves in the container's own view (its /etc/shadow, unreadable to
        # uid 1000), never through the broker to the host's
        assert not run.run(["cat", "/grants/cfirst/shadow"]).ok
        assert run.run(["readlink", "/grants/cfirst/shadow"]).text().strip() == "/etc/shadow"
        assert run.run(["test", "-e", str(first)]).returncode != 0  # no bind of the host path
        assert world.ok("grant", name, str(late)).strip() == "/grants/clate"
        assert run.run(["cat", "/grants/clate/f"]).text() == "granted later\n"
        assert run.run(["sh", "-c", "echo x > /grants/clate/f"]).returncode != 0
        rows = [c for c in json.loads(world.ok("audit", "crossings", "--json"))["crossings"]
                if c["island"] == f"{engine}:{container}"]
        assert {r["path"] for r in rows} == {str(first / "f"), str(late / "f")}
        assert {r["uid"] for r in rows} == {1000}
        assert all(r["sha256"] == hashlib.sha256(Path(r["path"]).read_bytes()).hexdigest()
                   for r in rows)
        # host uid 1000 (whoever it is) cannot reach the mountpoint: operator-only 0700
        try:
            host1000 = pwd.getpwuid(1000).pw_name
        except KeyError:
            host1000 = None
        if host1000 is not None:
            res = run_as(host1000, ["cat", f"{place.mountpoint}/clate/f"])
            assert res.returncode != 0 and "granted later" not in res.stdout
        world.ok("revoke", name, "clate")
        assert run.run(["cat", "/grants/clate/f"]).returncode != 0
    finally:
        world.cli("purge", name, "--yes", "--force")
    assert not os.path.ismount(place.mountpoint)


def test_new_with_grant_for_a_user_island_uses_the_agent_users_broker(
        world: World, tmp_path: Path) -> None:
    top = tmp_path / "atnew"
    top.mkdir()
    (top / "f").write_text("from new\n")
    for p in (tmp_path, top):
        p.chmod(0o755)
    (top / "f").chmod(0o644)
    name = f"n{secrets.token_hex(3)}"
    out = f"/home/{world.agent}/{name}.out"
    world.ok("new", name, "--as", world.agent, "--dir", "/tmp", "--grant", str(top), "--",
             "sh", "-c", f"cat /home/{world.agent}/.atoll/grants/atnew/f > {out}; sleep 600")
    try:
        deadline = time.monotonic() + 30
        while not Path(out).exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.3)
        assert Path(out).read_text() == "from new\n"  # there before the agent started
        new = [e for e in world.events() if e["action"] == "session.new"
               and e["target"]["session"] == name]
        assert new[0]["details"]["grants"] == [f"{top}:ro"]
        assert world.cli("new", f"{name}x", "--as", world.agent, "--dir", "/tmp",
                         "--grant", str(top), "--", "sleep", "1").returncode == 0
    finally:
        world.cli("kill", name, "--as", world.agent)
        world.cli("revoke", "brk", "--as", world.agent, str(top))
    res = world.cli("new", f"{name}y", "--as", "root", "--grant", str(top), "--", "true")
    assert res.returncode == 2 and "sees your files already" in res.stderr


def test_control_socket_answers_only_the_operator(world: World, tmp_path: Path) -> None:
    import socket
    import threading

    from atoll.broker.daemon import serve_control
    from atoll.broker.state import Broker
    from atoll.ledger import Actor, Audit, Ledger

    class _FS:
        ready = threading.Event()

    import tempfile

    reachable = Path(tempfile.mkdtemp(prefix="atoll-ctl-", dir="/tmp"))
    reachable.chmod(0o755)
    path = reachable / "ctl.sock"
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(str(path))
    path.chmod(0o777)  # even reachable, another uid must get no answer
    srv.listen(4)
    broker = Broker("test:ctl", "/grants", {0},
                    Audit(Ledger(tmp_path / "l.jsonl"), "h", Actor.current()))
    stop = threading.Event()
    t = threading.Thread(target=serve_control, args=(srv, broker, _FS(), stop, lambda: None),
                         daemon=True)
    t.start()
    probe = ("import socket\ns = socket.socket(socket.AF_UNIX)\n"
             f"s.connect({str(path)!r})\n"
             "try:\n    s.sendall(b'{\"op\": \"list\"}\\n')\n    print(repr(s.recv(100)))\n"
             "except OSError:\n    print(repr(b''))\n")
    try:
        res = run_as(world.other, ["python3", "-c", probe])
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip() == "b''"  # closed without a word
        mine = run_as(None, ["python3", "-c", probe])
        assert '"ok": true' in mine.stdout
    finally:
        stop.set()
        with socket.socket(socket.AF_UNIX) as s:  # wake the accept so the thread ends
            s.connect(str(path))
        t.join(timeout=10)
        srv.close()
        shutil.rmtree(reachable)
