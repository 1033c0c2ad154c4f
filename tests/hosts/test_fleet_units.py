"""Table-driven tests of the fleet's pure parts and local plumbing (no test hosts needed):
answer validation, argv composition, the cache, capped runs, master probing, control dir."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import struct
import sys
import tempfile
import threading
from pathlib import Path

import msgspec
import pytest

from atoll.cli.doctor import _select, table
from atoll.core.config import HostConfig
from atoll.core.errors import UsageError
from atoll.core.models import SessionRow
from atoll.exec.process import run_capped
from atoll.fleet import sshctl
from atoll.fleet.remote import (
    MAX_ANSWER_BYTES,
    HostCache,
    InvalidAnswer,
    clean,
    remote_argv,
    row_problem,
    validate_answer,
)

ROW = SessionRow(
    host="peer", name="fix-1", agent="claude", project="/src/app", worktree="", agent_user="w",
    launched_by="m", island="user", status="idle", idle_seconds=3,
    created="2026-11-20T12:00:00Z", last_activity="2026-11-20T12:00:03.5+01:00", attached=1,
    cpu_percent=1.5, rss_bytes=10, pid=7, command="claude", exit_status=None,
)


def _listing(*rows: SessionRow) -> bytes:
    return msgspec.json.encode({"hosts": [], "sessions": list(rows)})


ROW_PROBLEMS = [
    ({}, None),
    ({"name": ""}, "empty session name"),
    ({"name": "a\x1bb"}, "name holds control characters"),
    ({"agent_user": "w\x85"}, "agent_user holds control characters"),
    ({"launched_by": "m\x7f"}, "launched_by holds control characters"),
    ({"worktree": "w" * 4097}, "worktree longer than 4096"),
    ({"island": "i" * 257}, "island longer than 256"),
    ({"created": "2026-11-20 12:00:00"}, "created is not an RFC 3339 time"),
    ({"last_activity": "2026-11-20T12:00:00Z\n"}, "last_activity is not an RFC 3339"),
    ({"idle_seconds": -1}, "idle_seconds out of range"),
    ({"attached": 10**6}, "attached out of range"),
    ({"cpu_percent": float("inf")}, "cpu_percent out of range"),
    ({"cpu_percent": float("nan")}, "cpu_percent out of range"),
    ({"pid": 0}, "pid out of range"),
    ({"exit_status": 2**20}, "exit_status out of range"),
    ({"pid": None, "cpu_percent": None, "created": None}, None),
    ({"session_id": "$3", "pane_id": "%7", "server_pid": 4242, "session_created": 1}, None),
    ({"session_id": "3"}, "session_id is not a tmux session id"),
    ({"session_id": "$3;kill"}, "session_id is not a tmux session id"),
    ({"pane_id": "$7"}, "pane_id is not a tmux pane id"),
    ({"server_pid": 0}, "server_pid out of range"),
    ({"session_created": -1}, "session_created out of range"),
]


@pytest.mark.parametrize(("changes", "problem"), ROW_PROBLEMS)
def test_row_problem(changes: dict[str, object], problem: str | None) -> None:
    found = row_problem(msgspec.structs.replace(ROW, **changes))
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_validate_answer_relabels_and_rejects_whole_answer() -> None:
    rows = validate_answer(_listing(ROW, msgspec.structs.replace(ROW, name="two")), "ours")
    assert [(r.host, r.name) for r in rows] == [("ours", "fix-1"), ("ours", "two")]
    bad = msgspec.structs.replace(ROW, name="x\x07")
    with pytest.raises(InvalidAnswer, match=r"session 1: name holds control"):
        validate_answer(_listing(ROW, bad), "ours")
    with pytest.raises(InvalidAnswer, match="larger than"):
        validate_answer(b" " * (MAX_ANSWER_BYTES + 1), "ours")
    with pytest.raises(InvalidAnswer, match="malformed answer"):
        validate_answer(b'{"hosts": [], "sessions": [{"name": 1}]}', "ours")


def test_schema_version_missing_is_read_newer_major_is_refused() -> None:
    """A peer's atoll from before versioning sends no schema_version (major 0): its rows
    are read, without keys; a newer major is refused whole, saying why."""
    (old,) = validate_answer(_listing(ROW), "ours")
    assert (old.session_id, old.server_pid) == ("", None)
    keyed = msgspec.structs.replace(ROW, session_id="$3", pane_id="%7", server_pid=4242,
                                    session_created=1_700_000_000)
    now = msgspec.json.encode({"hosts": [], "sessions": [keyed], "schema_version": 1})
    assert validate_answer(now, "ours")[0].session_id == "$3"
    for version, shown in ((2, "2"), (10**30, "beyond 10^9")):
        newer = msgspec.json.encode({"hosts": [], "sessions": [ROW],
                                     "schema_version": version})
        with pytest.raises(InvalidAnswer, match=rf"schema {re.escape(shown)}, newer than this atoll "
                                                r"reads \(1\): upgrade atoll here"):
            validate_answer(newer, "ours")
    with pytest.raises(InvalidAnswer, match="negative"):
        validate_answer(b'{"hosts": [], "sessions": [], "schema_version": -1}', "ours")


CLEAN = [
    ("plain", "plain"),
    ("a\nb\tc", "a b c"),
    ("\x1b[31mred\x1b[0m", "[31mred[0m"),
    ("csi\x9b2J", "csi2J"),
    ("x" * 300, "x" * 197 + "..."),
]


@pytest.mark.parametrize(("raw", "shown"), CLEAN)
def test_clean(raw: str, shown: str) -> None:
    assert clean(raw) == shown


ARGVS = [
    (["atoll", "kill", "n"], "cid1", ["atoll", "kill", "n", "--correlation-id", "cid1"]),
    (["atoll", "new", "n", "--", "sh", "-c", "echo; rm -rf ~"], "c2",
     ["atoll", "new", "n", "--correlation-id", "c2", "--", "sh", "-c", "echo; rm -rf ~"]),
    (["atoll", "type", "n", "$(reboot)`id`"], None, ["atoll", "type", "n", "$(reboot)`id`"]),
]


@pytest.mark.parametrize(("argv", "cid", "remote"), ARGVS)
def test_remote_argv_is_one_shlex_joined_word_list(
        argv: list[str], cid: str | None, remote: list[str], tmp_path: Path) -> None:
    full = remote_argv("hostb", argv, cid, cdir=tmp_path)
    at = full.index("hostb")
    assert full[at + 1] == "--"
    assert shlex.split(full[at + 2]) == remote  # the remote shell sees exactly these words
    assert full[0] == "ssh" and "BatchMode=yes" in full


BAD_ACTIONS = [
    ("-oProxyCommand=x", ["atoll", "ls"], None, "invalid host name"),
    ("hostb", ["sh", "-c", "id"], None, "runs atoll only"),
    ("hostb", [], None, "runs atoll only"),
    ("hostb", ["atoll", "a\0b"], None, "NUL"),
    ("hostb", ["atoll", "ls"], "bad id;rm", "invalid correlation id"),
]


@pytest.mark.parametrize(("alias", "argv", "cid", "message"), BAD_ACTIONS)
def test_remote_argv_refuses(alias: str, argv: list[str], cid: str | None, message: str,
                             tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=message):
        remote_argv(alias, argv, cid, cdir=tmp_path)


def test_cache_round_trip_and_tampering(tmp_path: Path) -> None:
    cache = HostCache(tmp_path / "hosts")
    assert cache.load("b", 100.0) is None
    rows = [msgspec.structs.replace(ROW, host="b")]
    cache.save("b", rows, 100.0)
    assert cache.load("b", 160.5) == (rows, 60.5)
    assert (tmp_path / "hosts").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "hosts" / "b.json").stat().st_mode & 0o777 == 0o600
    path = tmp_path / "hosts" / "b.json"
    path.write_bytes(path.read_bytes().replace(b'"fix-1"', b'"fix\\u001b1"'))
    assert cache.load("b", 200.0) is None  # a tampered entry is not shown
    cache.save("b", rows, 100.0)
    assert cache.load("c", 100.0) is None
    path.rename(tmp_path / "hosts" / "c.json")  # an entry of another host is not shown
    assert cache.load("c", 100.0) is None


def test_run_capped_caps_and_times_out() -> None:
    big = run_capped([sys.executable, "-c", "print('x' * 100000)"], 30, 1000)
    assert big.truncated and len(big.stdout) == 1000 and big.returncode is None
    slow = run_capped(["sleep", "30"], 0.2, 1000)
    assert slow.timed_out and slow.returncode is None
    ok = run_capped(["sh", "-c", "echo out; echo err >&2; exit 3"], 30, 1000)
    assert (ok.returncode, ok.stdout, ok.stderr) == (3, b"out\n", "err\n")
    assert not ok.timed_out and not ok.truncated


def _unix_listener(path: Path) -> socket.socket:
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(4)
    return srv


def test_master_state(tmp_path: Path) -> None:
    path = tmp_path / "m"
    assert sshctl.master_state(path) == "none"
    srv = _unix_listener(path)
    assert sshctl.master_state(path, timeout=0.2) == "wedged"  # accepts, never says hello
    srv.close()
    path.unlink()
    srv = _unix_listener(path)

    def hello() -> None:
        conn, _ = srv.accept()
        conn.sendall(struct.pack(">III", 8, sshctl.MUX_MSG_HELLO, 4))
        conn.close()

    server = threading.Thread(target=hello)
    server.start()
    try:
        assert sshctl.master_state(path, timeout=30) == "ok"
    finally:
        server.join()
        srv.close()
    assert sshctl.master_state(path) == "stale"  # the file stays, nobody listens


def test_control_dir_is_private(monkeypatch: pytest.MonkeyPatch) -> None:
    tmp_path = Path(tempfile.mkdtemp(prefix="acd"))  # short: sockets must fit in sun_path
    runtime = tmp_path / "run"
    runtime.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    (runtime / "atoll").mkdir(mode=0o755)
    (runtime / "atoll" / "ssh").mkdir(mode=0o755)
    found = sshctl.control_dir()
    assert found == runtime / "atoll" / "ssh"
    assert found.stat().st_mode & 0o777 == 0o700
    os.chown(found, 12345, 12345)  # not ours any more: never used
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert sshctl.control_dir() == tmp_path / "state" / "atoll" / "ssh"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / ("long" * 30)))
    fallback = sshctl.control_dir()  # too long for a socket path: /tmp/atoll-UID/ssh
    assert fallback == Path(f"/tmp/atoll-{os.getuid()}/ssh")
    assert fallback.stat().st_mode & 0o777 == 0o700
    shutil.rmtree(tmp_path)


HOSTS = (HostConfig(name="b", ssh="hostb"), HostConfig(name="c", ssh="hostc"))
SELECT = [
    ((), (True, list(HOSTS))),
    (("b",), (False, [HOSTS[0]])),
    (("local", "b", "b"), (True, [HOSTS[0]])),
    (("other",), (False, [HostConfig(name="other", ssh="other")])),
]


@pytest.mark.parametrize(("wanted", "expected"), SELECT)
def test_doctor_host_selection(wanted: tuple[str, ...],
                               expected: tuple[bool, list[HostConfig]]) -> None:
    assert _select(wanted, HOSTS) == expected


def test_doctor_host_selection_refuses_options() -> None:
    with pytest.raises(UsageError):
        _select(("-oProxyCommand=x",), HOSTS)


def test_doctor_table_is_aligned() -> None:
    reports = [
        {"host": "local", "reachable": True, "atoll": {"present": True, "version": "0.1.0"},
         "tmux": {"present": True, "version": "3.3a"},
         "agent_users": {"candidates": ["w"], "allowed": ["w"]}, "problems": [],
         "warnings": []},
        {"host": "a-long-host-name", "reachable": False, "problems": ["unreachable: x"],
         "warnings": ["note"]},
    ]
    lines = table(reports).splitlines()
    assert lines[1].split() == ["local", "yes", "0.1.0", "3.3a", "w", "-"]
    assert lines[2].split()[:5] == ["a-long-host-name", "no", "-", "-", "-"]
    assert lines[3] == "warning: a-long-host-name: note"
    at = lines[0].index("REACHABLE")
    assert lines[1][at - 2:at] == "  " and lines[2][at:at + 2] == "no"
