"""The resident listing helper (atoll.cli.resident): real users, real sudo, real tmux.

It must answer exactly what the one-shot listing answers, see every change of sudoers,
config and sessions on the very next call, answer nobody but its own operator (not even
through a loosened directory), run nothing but the listings it serves, and never stand in
the way: any failure on its path falls back to the one-shot listing.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.support.proc import atoll, atoll_bin, run_as
from tests.support.users import UserFactory

from atoll.cli import resident
from atoll.cli.resident_server import parse_request, prune

VOLATILE = {"cpu_percent", "rss_bytes", "idle_seconds", "last_activity", "status"}

PLAN = (
    "from atoll.cli import resident as r; from atoll import rundir as d; "
    "fp = r.fingerprint(r.helper_env()); "
    "import json; print(r.socket_path(d.runtime_base(), fp)); print(json.dumps(fp))"
)

CLIENT = r"""
import socket, sys
path, fp, *args = sys.argv[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(60)
try:
    s.connect(path)
except OSError as exc:
    print("connect-failed", exc.errno); raise SystemExit(0)
data = b""
try:  # a refused peer is closed without a word (a reset when its request was unread)
    s.sendall(b"\0".join([b"atoll-ls/1", fp.encode(), *(a.encode() for a in args)]))
    s.shutdown(socket.SHUT_WR)
    while chunk := s.recv(65536):
        data += chunk
except (ConnectionResetError, BrokenPipeError):
    data = b""
print("answer-bytes", len(data))
"""


@dataclass
class Cast:
    op: str
    a1: str
    a2: str
    out: str
    factory: UserFactory


@pytest.fixture(scope="module")
def cast(users: UserFactory) -> Iterator[Cast]:
    op = users.user(users.name("rsop"))
    a1 = users.user(users.name("rsa", "-agent"))
    a2 = users.user(users.name("rsb", "-agent"))
    out = users.user(users.name("rsout"))
    users.allow(op, [a1, a2])
    for agent in (a1, a2):
        for i in range(3):
            res = atoll("new", f"{agent[:4]}{i}", "--as", agent, "--dir", "/tmp", "--",
                        "sleep", "600", user=op)
            assert res.returncode == 0, res.stderr
    assert atoll("new", "own", "--dir", "/tmp", "--", "sleep", "600", user=op).returncode == 0
    yield Cast(op, a1, a2, out, users)


def python() -> str:
    """The interpreter of the console script's shebang (part of the fingerprint)."""
    return str(Path(atoll_bin()).parent / "python3")


def plan_for(user: str, env: dict[str, str] | None = None) -> tuple[Path, str]:
    """(socket path, fingerprint) of ``user``'s helper for ``env``, as atoll works it out."""
    res = run_as(user, [python(), "-c", PLAN], env=env)
    assert res.returncode == 0, res.stderr
    path, fp = res.stdout.splitlines()
    return Path(path), json.loads(fp)


def helper_pids(user: str) -> list[int]:
    res = subprocess.run(["pgrep", "-u", user, "-f", "atoll.cli.resident_server"],
                         capture_output=True, text=True)
    return [int(p) for p in res.stdout.split()]


def wait_for(what: str, cond: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def answered(sock: Path) -> int:
    log = sock.with_suffix(".log")
    return log.read_text().count(" answered ") if log.exists() else 0


def log_text(sock: Path) -> str:
    return sock.with_suffix(".log").read_text()


def ls(user: str, env: dict[str, str] | None = None,
       args: tuple[str, ...] = ("ls", "--json")) -> subprocess.CompletedProcess[str]:
    return atoll(*args, user=user, env=env)


def rows(res: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert res.returncode == 0, res.stderr
    return sorted(json.loads(res.stdout)["sessions"], key=lambda r: (r["agent_user"], r["name"]))


def running_helper(user: str, env: dict[str, str] | None = None) -> Path:
    """Make sure ``user`` has a helper answering for ``env``; its socket path."""
    sock, _ = plan_for(user, env)
    ls(user, env)
    wait_for("the helper's socket", sock.exists)
    before = answered(sock)
    wait_for("an answer from the helper", lambda: ls(user, env).returncode == 0
             and answered(sock) > before)
    return sock


def by_helper(user: str, sock: Path, env: dict[str, str] | None = None,
              args: tuple[str, ...] = ("ls", "--json")) -> subprocess.CompletedProcess[str]:
    """``atoll ls --json`` (or ``args``) as ``user``, asserting that the helper answered."""
    before = answered(sock)
    res = ls(user, env, args)
    assert answered(sock) == before + 1, log_text(sock)
    return res


def raw_request(user: str, sock: Path, fp: str, *args: str) -> str:
    res = run_as(user, [python(), "-c", CLIENT, str(sock), fp, *args])
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def test_the_helper_answers_what_the_one_shot_listing_answers(cast: Cast) -> None:
    sock = running_helper(cast.op)
    assert sock.parent == Path(f"/tmp/atoll-{pwd.getpwnam(cast.op).pw_uid}")
    mode = sock.parent.lstat().st_mode & 0o777
    assert mode == 0o700 and sock.lstat().st_mode & 0o077 == 0
    got = rows(by_helper(cast.op, sock))
    one_shot = rows(ls(cast.op, {"ATOLL_NO_HELPER": "1"}))
    assert {(r["agent_user"], r["name"]) for r in got} == {
        (a, f"{a[:4]}{i}") for a in (cast.a1, cast.a2) for i in range(3)} | {(cast.op, "own")}
    strip = [{k: v for k, v in r.items() if k not in VOLATILE} for r in got]
    assert strip == [{k: v for k, v in r.items() if k not in VOLATILE} for r in one_shot]
    assert all(r["status"] in ("running", "idle") for r in got)
    assert all(isinstance(r["rss_bytes"], int) and r["rss_bytes"] > 0 for r in got)
    # the table for people too: same rows, same fixed columns (IDLE, CPU, AGE move)
    table = by_helper(cast.op, sock, args=("ls",))
    plain = ls(cast.op, {"ATOLL_NO_HELPER": "1"}, args=("ls",))
    assert table.returncode == plain.returncode == 0 and table.stderr == plain.stderr == ""
    cols = [ln.split()[:6] for ln in table.stdout.splitlines()]
    assert cols == [ln.split()[:6] for ln in plain.stdout.splitlines()] and len(cols) == 8


def test_sudoers_and_sessions_changes_show_on_the_next_call(cast: Cast) -> None:
    sock = running_helper(cast.op)
    pid = helper_pids(cast.op)
    try:
        cast.factory.write_sudoers(f"atoll-test-{cast.op}",
                                   f"{cast.op} ALL=({cast.a1}) NOPASSWD: ALL\n")
        users = {r["agent_user"] for r in rows(by_helper(cast.op, sock))}
        assert users == {cast.op, cast.a1}  # revoked: gone at once, no error
        res = atoll("new", "late", "--as", cast.a1, "--dir", "/tmp", "--", "sleep", "600",
                    user=cast.op)
        assert res.returncode == 0, res.stderr
        assert ("late" in {r["name"] for r in rows(by_helper(cast.op, sock))})
        res = atoll("kill", "late", "--as", cast.a1, user=cast.op)
        assert res.returncode == 0, res.stderr
        assert "late" not in {r["name"] for r in rows(by_helper(cast.op, sock))}
    finally:
        cast.factory.allow(cast.op, [cast.a1, cast.a2])
    assert cast.a2 in {r["agent_user"] for r in rows(by_helper(cast.op, sock))}
    assert helper_pids(cast.op) == pid  # the same helper all along


@pytest.mark.parametrize("who", ["out", "a1"])
def test_no_other_user_gets_an_answer_even_through_loosened_permissions(
    cast: Cast, who: str
) -> None:
    sock = running_helper(cast.op)
    _, fp = plan_for(cast.op)
    other = getattr(cast, who)
    os.chmod(sock.parent, 0o755)
    os.chmod(sock, 0o777)
    try:
        assert raw_request(other, sock, fp, "ls", "--json") == "answer-bytes 0"
    finally:
        os.chmod(sock.parent, 0o700)
        os.chmod(sock, 0o600)
    assert "refused: pid" in log_text(sock) and "runs as uid" in log_text(sock)
    assert raw_request(cast.op, sock, fp, "ls", "--json").startswith("answer-bytes ")
    assert raw_request(cast.op, sock, fp, "ls", "--json") != "answer-bytes 0"


def test_same_user_in_another_mount_namespace_gets_no_answer(cast: Cast) -> None:
    sock = running_helper(cast.op)
    _, fp = plan_for(cast.op)
    res = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "runuser", "-u", cast.op, "--",
         python(), "-c", CLIENT, str(sock), fp, "ls", "--json"],
        capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "answer-bytes 0"
    assert "in other namespaces" in log_text(sock)


def test_the_helper_runs_nothing_but_the_listings_it_serves(cast: Cast) -> None:
    sock = running_helper(cast.op)
    _, fp = plan_for(cast.op)
    target = f"{cast.a1[:4]}0"
    for args in (["kill", target], ["kill", "--as", cast.a1, target],
                 ["ls", "--json", "--all-hosts"], ["ls", "-A"], ["ls", "--json", "--json"],
                 ["type", target, "x", "--enter"]):
        assert raw_request(cast.op, sock, fp, *args) == "answer-bytes 0", args
    assert raw_request(cast.op, sock, "not-the-fingerprint", "ls", "--json") == "answer-bytes 0"
    assert target in {r["name"] for r in rows(by_helper(cast.op, sock))}
    assert log_text(sock).count("refused: not a request this helper answers") >= 7


def test_a_squatted_runtime_dir_means_no_helper_and_a_correct_listing(
    users: UserFactory,
) -> None:
    op = users.user(users.name("rssq"))
    squat = Path(f"/tmp/atoll-{pwd.getpwnam(op).pw_uid}")
    squat.mkdir(mode=0o777)
    try:
        os.chown(squat, pwd.getpwnam("nobody").pw_uid, -1)
        os.chmod(squat, 0o777)
        assert atoll("new", "sq", "--dir", "/tmp", "--", "sleep", "600", user=op).returncode == 0
        for _ in range(3):
            assert [r["name"] for r in rows(ls(op))] == ["sq"]
        time.sleep(1)
        assert helper_pids(op) == []
        assert list(squat.iterdir()) == []
    finally:
        subprocess.run(["rm", "-rf", str(squat)], check=True)


def test_a_killed_helper_leaves_no_gap(cast: Cast) -> None:
    sock = running_helper(cast.op)
    (pid,) = helper_pids(cast.op)
    os.kill(pid, 9)
    wait_for("the helper to die", lambda: pid not in helper_pids(cast.op))
    assert sock.exists()  # stale: nobody listens
    assert len(rows(ls(cast.op))) == 7  # answered in-process, and a new helper started
    wait_for("a new helper", lambda: len(helper_pids(cast.op)) == 1)
    assert running_helper(cast.op) == sock and helper_pids(cast.op) != [pid]


def test_each_environment_gets_its_own_helper_and_errors_come_through(cast: Cast) -> None:
    home = Path(pwd.getpwnam(cast.op).pw_dir)
    cfg = home / "cfg-resident"
    (cfg / "atoll").mkdir(parents=True, exist_ok=True)
    subprocess.run(["chown", "-R", f"{cast.op}:", str(cfg)], check=True)
    env = {"XDG_CONFIG_HOME": str(cfg)}
    plain, _ = plan_for(cast.op)
    other = running_helper(cast.op, env)
    assert other != plain and other.parent == plain.parent
    config = cfg / "atoll" / "config.toml"
    config.write_text("no_such_key = 1\n")
    try:
        res = by_helper(cast.op, other, env)
        assert res.returncode == 2 and res.stdout == ""
        assert res.stderr.count("\n") == 1 and "no_such_key" in res.stderr
        config.write_text(f'agent_users = ["{cast.a1}"]\nagent_user_patterns = []\n')
        got = {r["agent_user"] for r in rows(by_helper(cast.op, other, env))}
        assert got == {cast.op, cast.a1}
    finally:
        config.unlink(missing_ok=True)


def test_a_changed_checkout_gets_a_new_helper(cast: Cast) -> None:
    before, _ = plan_for(cast.op)
    source = Path(resident.__file__)
    st = source.stat()
    newest = max(p.stat().st_mtime_ns for p in source.parents[1].rglob("*.py"))
    try:
        os.utime(source, ns=(st.st_atime_ns, newest + 1_000_000_000))
        after = running_helper(cast.op)
        assert after != before
    finally:
        os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_idle_helper_exits_and_removes_its_socket(cast: Cast) -> None:
    env = {"ATOLL_HELPER_IDLE": "1"}
    sock = running_helper(cast.op, env)
    wait_for("the idle helper to exit", lambda: not sock.exists(), timeout=30)
    assert "idle: exiting" in log_text(sock)


def test_a_helper_that_cannot_serve_is_not_started_again_and_again(cast: Cast) -> None:
    env = {"ATOLL_HELPER_IDLE": "11"}
    sock, _ = plan_for(cast.op, env)
    sock.mkdir()  # nothing can listen there
    subprocess.run(["chown", cast.op, str(sock)], check=True)
    try:
        assert len(rows(ls(cast.op, env))) == 7
        marker = sock.with_suffix(".failed")
        wait_for("the helper to give up", marker.exists)
        assert "cannot serve: cannot listen on" in log_text(sock)
        for _ in range(3):
            assert len(rows(ls(cast.op, env))) == 7  # still answered, in-process
        time.sleep(1)
        assert log_text(sock).count("cannot serve") == 1  # no helper started since
    finally:
        sock.rmdir()


def test_opting_out_starts_no_helper(cast: Cast) -> None:
    env = {"ATOLL_NO_HELPER": "1", "ATOLL_HELPER_IDLE": "7"}
    sock, _ = plan_for(cast.op, env)
    for _ in range(3):
        assert len(rows(ls(cast.op, env))) == 7
    time.sleep(1)
    assert not sock.exists() and not sock.with_suffix(".log").exists()


def test_files_of_helpers_long_gone_are_pruned(tmp_path: Path) -> None:
    day = 86400
    now = time.time()
    for stem, age in (("ls-old", 2 * day), ("ls-new", 60), ("ls-held", 2 * day),
                      ("ls-oldlog", 2 * day)):
        for ext in (".lock", ".log", ".failed"):
            (tmp_path / f"{stem}{ext}").touch()
            os.utime(tmp_path / f"{stem}{ext}", (now - age, now - age))
    os.utime(tmp_path / "ls-oldlog.log", (now - 10, now - 10))  # its helper answered lately
    (tmp_path / "other.txt").touch()
    held = os.open(tmp_path / "ls-held.lock", os.O_RDWR)
    try:
        import fcntl

        fcntl.flock(held, fcntl.LOCK_EX)
        assert prune(str(tmp_path), now) == [str(tmp_path / "ls-old")]
    finally:
        os.close(held)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["other.txt"] + [f"{stem}{ext}" for stem in ("ls-new", "ls-held", "ls-oldlog")
                         for ext in (".lock", ".log", ".failed")])


def test_only_listings_of_this_host_are_served() -> None:
    for args in (["ls"], ["ls", "--here"], ["ls", "--json"], ["ls", "--here", "--json"]):
        assert resident.serves(args), args
    for args in ([], ["ls", "--json", "--json"], ["ls", "-H", "b"], ["ls", "--all-hosts"],
                 ["ls", "--json", "-A"], ["ls", "--json", "--host", "b"], ["peek", "--json"],
                 ["ls", "--json", "--here", "x"]):
        assert not resident.serves(args), args


def test_requests_and_answers_are_parsed_strictly() -> None:
    fp = "v\nfp"
    good = resident.encode_request(fp, ["ls", "--json"])
    assert parse_request(good, fp) == ["ls", "--json"]
    for bad in (b"", good.replace(b"atoll-ls/1", b"atoll-ls/2"),
                resident.encode_request("other", ["ls", "--json"]),
                resident.encode_request(fp, ["kill", "x"]),
                resident.encode_request(fp, ["ls", "--json"]) + b"\0\xff"):
        assert parse_request(bad, fp) is None, bad
    answer = resident.encode_answer(3, b"out", b"err\n")
    assert resident.decode_answer(answer) == (3, b"out", b"err\n")
    for bad in (b"", answer[:-1], answer + b"x", b"3 3\nout", b"-1 0 0\n", b"300 0 0\n",
                b"a 0 0\n"):
        assert resident.decode_answer(bad) is None, bad


def test_an_environment_that_is_not_utf8_is_served_too(cast: Cast) -> None:
    home = pwd.getpwnam(cast.op).pw_dir
    odd = f"{home}/cfg-\udcff"  # a byte 0xff in a path, as os.environ holds it
    sock, fp = plan_for(cast.op, {"XDG_CONFIG_HOME": odd})
    assert parse_request(resident.encode_request(fp, ["ls", "--json"]), fp) == ["ls", "--json"]
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # as run_as sets
    argv: list[str | bytes] = [
        "runuser", "-u", cast.op, "--", "env", "-i", b"XDG_CONFIG_HOME=" + os.fsencode(odd),
        f"HOME={home}", f"PATH={path}", "LANG=C.UTF-8", f"USER={cast.op}",
        f"LOGNAME={cast.op}", atoll_bin(), "ls", "--json"]
    for _ in range(2):
        res = subprocess.run(argv, capture_output=True, cwd="/")
        assert res.returncode == 0 and b"Traceback" not in res.stderr, res.stderr
        assert len(json.loads(res.stdout)["sessions"]) == 7
        wait_for("the helper's socket", sock.exists)
    assert answered(sock) == 1


def test_helper_environment_is_the_fingerprinted_part() -> None:
    env = {"PATH": "/bin", "HOME": "/h", "ATOLL_TMUX_SOCKET": "s", "XDG_CONFIG_HOME": "/c",
           "SSH_CLIENT": "10.0.0.1 5555 22", "TERM": "xterm", "LS_COLORS": "di=1"}
    assert resident.helper_env(env) == {"PATH": "/bin", "HOME": "/h",
                                        "ATOLL_TMUX_SOCKET": "s", "XDG_CONFIG_HOME": "/c"}
    fp = resident.fingerprint(resident.helper_env(env))
    assert fp == resident.fingerprint(resident.helper_env({**env, "SSH_CLIENT": "x 1 22"}))
    assert fp != resident.fingerprint(resident.helper_env({**env, "PATH": "/usr/bin"}))
    assert sys.executable in fp.splitlines()
