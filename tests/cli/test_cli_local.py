"""The real ``atoll`` CLI as the operator's own user, against real tmux on a throwaway socket."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from tests.support.proc import atoll


def ls(socket: str, **kw: Any) -> dict[str, Any]:
    res = atoll("ls", "--json", socket=socket, **kw)
    assert res.returncode == 0, res.stderr
    data: dict[str, Any] = json.loads(res.stdout)
    return data


def wait_status(socket: str, name: str, status: str, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    row: dict[str, Any] = {}
    while time.monotonic() < deadline:
        rows = [r for r in ls(socket)["sessions"] if r["name"] == name]
        if rows and rows[0]["status"] == status and (status != "exited" or rows[0]["exit_status"] is not None):
            return rows[0]
        row = rows[0] if rows else {}
        time.sleep(0.3)
    raise AssertionError(f"{name} never became {status}: {row}")


def test_empty_fleet_is_an_empty_list(tmux_socket: str) -> None:
    data = ls(tmux_socket)
    assert data["sessions"] == []
    assert data["hosts"] == [{"host": "local", "reachable": True, "error": None, "stale": False,
                              "age_seconds": None}]


def test_new_ls_json_contract(tmux_socket: str, tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    sub = tmp_path / "pkg"
    sub.mkdir()
    res = atoll("new", "alpha", "--dir", str(sub), "--", "sleep", "300", socket=tmux_socket)
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""
    listing = ls(tmux_socket)
    assert listing["schema_version"] == 1
    (row,) = listing["sessions"]
    assert set(row) == {
        "host", "name", "agent", "project", "worktree", "agent_user", "launched_by", "island",
        "status", "idle_seconds", "created", "last_activity", "attached", "cpu_percent",
        "rss_bytes", "pid", "command", "exit_status", "reason", "opened_to",
        "session_id", "pane_id", "server_pid", "session_created", "mismatch", "ended",
        "net"}
    # tmux's own ids, and the server they belong to, as tmux itself reports them
    own = subprocess.run(["tmux", "-L", tmux_socket, "display-message", "-p", "-t", "=alpha:",
                          "#{session_id} #{pane_id} #{pid} #{session_created}"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert [row["session_id"], row["pane_id"], str(row["server_pid"]),
            str(row["session_created"])] == own
    assert row["name"] == "alpha" and row["agent"] == "custom"
    assert row["project"] == str(tmp_path)
    assert row["agent_user"] == "root" and row["launched_by"] == "root"
    assert row["command"] == "sleep 300"
    assert row["created"].endswith("Z") and row["last_activity"].endswith("Z")
    assert row["rss_bytes"] > 0 and isinstance(row["cpu_percent"], float)
    assert Path(f"/proc/{row['pid']}").exists()


def test_table_output_has_the_documented_columns(tmux_socket: str) -> None:
    assert atoll("new", "tab", "--", "sleep", "300", socket=tmux_socket).returncode == 0
    res = atoll("ls", socket=tmux_socket)
    header, line = res.stdout.splitlines()[:2]
    assert header.split() == ["HOST", "NAME", "AGENT", "PROJECT", "USER", "NET", "BY",
                              "STATUS", "IDLE", "CPU", "MEM", "AGE"]
    assert line.split()[:2] == ["local", "tab"]


def test_cpu_percent_is_current_not_lifetime(tmux_socket: str) -> None:
    atoll("new", "busy", "--", "python3", "-c", "while True: pass", socket=tmux_socket)
    atoll("new", "calm", "--", "sleep", "300", socket=tmux_socket)
    time.sleep(1.0)
    ls(tmux_socket)  # the first sample may still hold the processes' start-up
    time.sleep(1.0)
    rows = {r["name"]: r for r in ls(tmux_socket)["sessions"]}
    assert rows["busy"]["cpu_percent"] > 40
    assert rows["calm"]["cpu_percent"] < 5


def test_rss_is_summed_over_the_process_tree(tmux_socket: str) -> None:
    # a shell whose child holds ~64 MiB: the pane's own process is tiny
    prog = "import time; b = bytearray(64 << 20); b[::4096] = b'x' * len(b[::4096]); time.sleep(300)"
    atoll("new", "tree", "--", "sh", "-c", f"python3 -c \"{prog}\"; true", socket=tmux_socket)
    deadline = time.monotonic() + 10
    rss = 0
    while time.monotonic() < deadline and rss < 64 << 20:
        rss = next(r for r in ls(tmux_socket)["sessions"] if r["name"] == "tree")["rss_bytes"]
        time.sleep(0.2)
    assert rss >= 64 << 20


def test_crashed_agent_shows_exited_with_code(tmux_socket: str) -> None:
    atoll("new", "crash", "--", "sh", "-c", "sleep 0.2; exit 42", socket=tmux_socket)
    row = wait_status(tmux_socket, "crash", "exited")
    assert row["exit_status"] == 42 and row["pid"] is None


def test_idle_then_running_by_activity(tmux_socket: str) -> None:
    atoll("new", "quiet", "--", "sleep", "300", socket=tmux_socket)
    row = wait_status(tmux_socket, "quiet", "idle")
    assert row["idle_seconds"] >= 3
    atoll("new", "chatty", "--", "sh", "-c", "while :; do date; sleep 0.5; done",
          socket=tmux_socket)
    time.sleep(1)
    assert wait_status(tmux_socket, "chatty", "running")["idle_seconds"] is None


def test_hook_reports_win_over_activity(tmux_socket: str) -> None:
    script = "sleep 1; atoll hook waiting; sleep 300"
    res = atoll("new", "hooked", "--", "sh", "-c", script, socket=tmux_socket)
    assert res.returncode == 0
    wait_status(tmux_socket, "hooked", "waiting")


def test_hook_outside_tmux_warns_and_exits_zero() -> None:
    res = atoll("hook", "waiting", '{"json": "payload"}')
    assert res.returncode == 0
    assert "inside a tmux pane" in res.stderr


def test_peek_type_kill(tmux_socket: str, tmp_path: Path) -> None:
    marker = tmp_path / "typed"
    atoll("new", "sh1", "--", "bash", "--norc", "--noprofile", socket=tmux_socket)
    time.sleep(0.5)
    res = atoll("type", "sh1", f"touch {marker}", socket=tmux_socket)
    assert res.returncode == 0
    time.sleep(0.5)
    assert not marker.exists(), "typing without --enter must not submit"
    assert f"touch {marker}" in atoll("peek", "sh1", socket=tmux_socket).stdout
    assert atoll("type", "sh1", "", "--enter", socket=tmux_socket).returncode == 0
    deadline = time.monotonic() + 5
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.exists()
    assert atoll("kill", "sh1", socket=tmux_socket).returncode == 0
    assert ls(tmux_socket)["sessions"] == []


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["new", "bad;name"], 2, "invalid session name"),
        (["new", "-rf"], 2, "No such option"),
        (["new", "x", "--agent", "nope"], 2, "unknown agent"),
        (["new", "x", "--dir", "/nonexistent/dir"], 2, "does not exist"),
        (["new", "x", "--as", "Bad User"], 2, "invalid user name"),
        (["kill", "ghost"], 3, "no session"),
        (["peek", "ghost"], 3, "no session"),
        (["type", "ghost", "hi"], 3, "no session"),
        (["attach", "ghost"], 3, "no session"),
        (["peek", "x", "--lines", "-5"], 2, "--lines"),
        (["bogus"], 2, "No such command"),
    ],
)
def test_bad_input_one_line_error_and_exit_code(
    tmux_socket: str, args: list[str], code: int, needle: str
) -> None:
    res = atoll(*args, socket=tmux_socket)
    assert res.returncode == code, (res.returncode, res.stderr)
    assert res.stderr.startswith("atoll: error: ")
    assert len(res.stderr.strip().splitlines()) == 1
    assert needle in res.stderr
    assert "Traceback" not in res.stderr
    assert res.stdout == ""


def test_existing_name_is_refused_not_reused(tmux_socket: str) -> None:
    assert atoll("new", "dup", "--", "sleep", "300", socket=tmux_socket).returncode == 0
    res = atoll("new", "dup", "--", "sleep", "1", socket=tmux_socket)
    assert res.returncode == 2 and "already exists" in res.stderr
    (row,) = ls(tmux_socket)["sessions"]
    assert row["command"] == "sleep 300"


def test_worktree_created_and_reused(tmux_socket: str, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t",
                    "commit", "-q", "--allow-empty", "-m", "init"], check=True)
    for name in ("wt1", "wt2"):
        res = atoll("new", name, "--dir", str(repo), "--worktree", "feat/x", "--", "sleep", "300",
                    socket=tmux_socket)
        assert res.returncode == 0, res.stderr
    rows = {r["name"]: r for r in ls(tmux_socket)["sessions"]}
    wt = repo / ".atoll-worktrees" / "feat-x"
    for name in ("wt1", "wt2"):
        assert rows[name]["worktree"] == "feat/x" and rows[name]["project"] == str(repo)
        assert os.readlink(f"/proc/{rows[name]['pid']}/cwd") == str(wt)
    branch = subprocess.run(["git", "-C", str(wt), "branch", "--show-current"],
                            capture_output=True, text=True).stdout.strip()
    assert branch == "feat/x"
    status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain"],
                            capture_output=True, text=True).stdout
    assert status == ""
    bad = atoll("new", "wt3", "--dir", str(repo), "--worktree", "../escape", socket=tmux_socket)
    assert bad.returncode == 2


def test_a_listed_key_reaches_that_session_only(tmux_socket: str) -> None:
    """What a peer does with the fleet view's ``--key``: the listed session or nothing. A
    session made again under the same name is refused (exit 3) and left as it is."""
    assert atoll("new", "keyed", "--", "sleep", "300", socket=tmux_socket).returncode == 0
    atoll("new", "keeper", "--", "sleep", "300", socket=tmux_socket)  # keeps the server
    (row,) = [r for r in ls(tmux_socket)["sessions"] if r["name"] == "keyed"]
    old = f"{row['server_pid']}/{row['session_id']}/{row['session_created']}"
    assert atoll("kill", "keyed", socket=tmux_socket).returncode == 0
    assert atoll("new", "keyed", "--", "sleep", "300", socket=tmux_socket).returncode == 0
    for argv in (["kill", "keyed"], ["type", "keyed", "rm"], ["peek", "keyed"],
                 ["key", "keyed", "C-c"], ["logs", "keyed"]):
        res = atoll(*argv, "--key", old, socket=tmux_socket)
        assert res.returncode == 3, (argv, res.stderr)
        assert "was made again since it was listed" in res.stderr
    (now,) = [r for r in ls(tmux_socket)["sessions"] if r["name"] == "keyed"]
    assert now["session_id"] != row["session_id"] and now["status"] != "exited"
    fresh = f"{now['server_pid']}/{now['session_id']}/{now['session_created']}"
    assert atoll("kill", "keyed", "--key", fresh, socket=tmux_socket).returncode == 0
    bad = atoll("kill", "keeper", "--key", "not-a-key", socket=tmux_socket)
    assert bad.returncode == 2 and "invalid session key" in bad.stderr
