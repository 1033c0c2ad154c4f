"""Issue 14 point 4: container and bwrap sessions get their status from the agent's own
hooks too, through a channel the island can write but that reaches nothing else.

Real bubblewrap with a real agent user, real docker and podman: inside the island, the
agent's hook command is ``atoll hook EVENT`` (the island's ``atoll`` is the shim), typed
into the pane as an agent's hook would run it; ``atoll ls`` outside shows the state (reason
``hook`` for waiting). The sandbox floods and tampers with its channel; the state still follows
only exact hook words, the FIFO cannot be replaced, the pane's exit status is kept, and
``atoll new --agent A`` wires A's hooks in the island's own fresh home."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.proc import atoll
from tests.support.users import UserFactory


def _row(socket: str, env: dict[str, str], name: str) -> dict[str, Any]:
    res = atoll("ls", "--json", socket=socket, env=env)
    assert res.returncode == 0, res.stderr
    rows = [r for r in json.loads(res.stdout)["sessions"] if r["name"] == name]
    assert len(rows) == 1, rows
    row: dict[str, Any] = rows[0]
    return row


def _type(socket: str, env: dict[str, str], name: str, line: str) -> None:
    res = atoll("type", name, line, "--enter", socket=socket, env=env)
    assert res.returncode == 0, res.stderr


def _until(socket: str, env: dict[str, str], name: str, key: str, want: object,
           limit: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + limit
    while True:
        row = _row(socket, env, name)
        if row.get(key) == want:
            return row
        assert time.monotonic() < deadline, f"{key} stayed {row.get(key)!r}: {row}"
        time.sleep(0.3)


def _peek(socket: str, env: dict[str, str], name: str) -> str:
    return atoll("peek", name, socket=socket, env=env).stdout


def _screen_shows(socket: str, env: dict[str, str], name: str, text: str) -> str:
    deadline = time.monotonic() + 15
    while text not in (screen := _peek(socket, env, name)):
        assert time.monotonic() < deadline, f"{text!r} not on screen:\n{screen}"
        time.sleep(0.3)
    return screen


@pytest.fixture
def project(tmp_path: Path) -> Path:
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "README").write_text("project file\n")
    subprocess.run(["git", "init", "-q", str(proj)], check=True)
    tmp_path.chmod(0o755)
    proj.chmod(0o755)
    return proj


def _states_follow_the_hooks(socket: str, env: dict[str, str], name: str) -> None:
    _type(socket, env, name, "atoll hook permission")
    row = _until(socket, env, name, "status", "waiting")
    assert row["reason"] == "hook", row  # the hook said so, not the screen
    _type(socket, env, name, "atoll hook stop")
    _until(socket, env, name, "status", "idle")
    # the island's atoll does nothing but report hooks
    _type(socket, env, name, "atoll ls; echo shim-exit=$?")
    _screen_shows(socket, env, name, "shim-exit=2")
    _type(socket, env, name, "atoll hook rm-rf; echo bad-event=$?")
    _screen_shows(socket, env, name, "bad-event=2")


def test_a_bwrap_sessions_hooks_reach_its_row_and_nothing_else(
    bwrap_ready: None, tmux_socket: str, project: Path, tmp_path: Path
) -> None:
    users = UserFactory()
    try:
        agent = users.user(users.name("bh", "-agent"))
        env = {"XDG_STATE_HOME": str(tmp_path / "state")}
        res = atoll("new", "bh1", "--island", "bwrap", "--as", agent, "--dir", str(project),
                    "--agent", "codex", "--", "bash", "--norc", socket=tmux_socket, env=env)
        assert res.returncode == 0, res.stderr
        _screen_shows(tmux_socket, env, "bh1", "$")
        # `new --agent codex` wired codex's hooks in the island's own home
        _type(tmux_socket, env, "bh1",
              "grep -q 'atoll hook' ~/.codex/hooks.json && echo wired-$((6*7))")
        _screen_shows(tmux_socket, env, "bh1", "wired-42")
        _states_follow_the_hooks(tmux_socket, env, "bh1")
        # the sandbox cannot replace its FIFO, and a flood of junk sets nothing
        _type(tmux_socket, env, "bh1",
              "rm -f /run/atoll/hook; mv /run/atoll/hook /tmp/x; echo gone=$?")
        _screen_shows(tmux_socket, env, "bh1", "gone=1")
        _type(tmux_socket, env, "bh1", "head -c 200000 /dev/urandom > /run/atoll/hook; "
              "printf 'waitingx\\nrunning running\\n' > /run/atoll/hook; echo flood-$((1+1))")
        _screen_shows(tmux_socket, env, "bh1", "flood-2")
        time.sleep(1.0)
        assert _row(tmux_socket, env, "bh1")["status"] == "idle"
        _type(tmux_socket, env, "bh1", "atoll hook running")
        _until(tmux_socket, env, "bh1", "status", "running")
        # the pane's exit status is the sandbox's, through the relay
        _type(tmux_socket, env, "bh1", "exit 7")
        row = _until(tmux_socket, env, "bh1", "status", "exited")
        assert row["exit_status"] == 7, row
        # the relay removed its FIFO, and left no process behind
        deadline = time.monotonic() + 10
        while (left := subprocess.run(["pgrep", "-a", "-u", agent, "-f",
                                       "^[^ ]*python[^ ]* -I -m atoll[.]islands[.]hookrelay"],
                                      capture_output=True, text=True).stdout):
            assert time.monotonic() < deadline, left
            time.sleep(0.3)
    finally:
        atoll("purge", "bh1", "--yes", "--force", socket=tmux_socket, env=env)
        users.cleanup()


def test_a_container_sessions_hooks_reach_its_row(engine: str, tmux_socket: str,
                                                  project: Path, tmp_path: Path) -> None:
    env = {"XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CACHE_HOME": str(tmp_path / "c")}
    name = f"hk-{engine}"
    res = atoll("new", name, "--island", engine, "--dir", str(project), "--agent", "claude",
                "--", "bash", "--norc", socket=tmux_socket, env=env)
    assert res.returncode == 0, res.stderr
    try:
        _screen_shows(tmux_socket, env, name, "$")
        _type(tmux_socket, env, name,
              "grep -q 'atoll hook' ~/.claude/settings.json && echo wired-$((6*7))")
        _screen_shows(tmux_socket, env, name, "wired-42")
        _states_follow_the_hooks(tmux_socket, env, name)
        # the shim is read-only inside
        _type(tmux_socket, env, name, "echo x > /usr/local/bin/atoll; echo ro=$?")
        _screen_shows(tmux_socket, env, name, "ro=1")
    finally:
        atoll("purge", name, "--yes", "--force", socket=tmux_socket, env=env)


def test_new_never_wires_hooks_in_an_agent_users_own_home(tmux_socket: str,
                                                          tmp_path: Path) -> None:
    users = UserFactory()
    try:
        agent = users.user(users.name("hn", "-agent"))
        env = {"XDG_STATE_HOME": str(tmp_path / "state")}
        res = atoll("new", "hn1", "--as", agent, "--dir", f"/home/{agent}", "--agent", "codex",
                    "--", "sleep", "60", socket=tmux_socket, env=env)
        assert res.returncode == 0, res.stderr
        assert not Path(f"/home/{agent}/.codex").exists()  # `atoll hooks install --as` does it
        atoll("kill", "hn1", "--as", agent, socket=tmux_socket, env=env)
    finally:
        users.cleanup()
