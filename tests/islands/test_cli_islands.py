"""Container and bwrap islands through the real CLI: new, ls (status, load), type, peek,
kill, purge; the agent's process is confined to the island."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.proc import atoll
from tests.support.users import UserFactory


def rows(socket: str, env: dict[str, str]) -> list[dict[str, Any]]:
    res = atoll("ls", "--json", socket=socket, env=env)
    assert res.returncode == 0, res.stderr
    out: list[dict[str, Any]] = json.loads(res.stdout)["sessions"]
    return out


@pytest.fixture
def project(tmp_path: Path) -> Path:
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "README").write_text("project file\n")
    subprocess.run(["git", "init", "-q", str(proj)], check=True)
    return proj


def test_container_island_end_to_end(engine: str, tmux_socket: str, project: Path,
                                     tmp_path: Path) -> None:
    env = {"XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CACHE_HOME": str(tmp_path / "c")}
    name = f"cli-{engine}"
    res = atoll("new", name, "--island", engine, "--dir", str(project), "--memory", "256m",
                "--pids", "64", "--", "bash", "--norc", socket=tmux_socket, env=env)
    assert res.returncode == 0, res.stderr
    try:
        (row,) = [r for r in rows(tmux_socket, env) if r["name"] == name]
        assert row["island"] == engine and row["agent_user"].startswith(f"{engine}:atoll-")
        assert row["status"] in ("running", "idle") and row["rss_bytes"]
        assert atoll("type", name, "cat README; id -u", "--enter", socket=tmux_socket,
                     env=env).returncode == 0
        deadline = time.monotonic() + 10
        screen = ""
        while "project file" not in screen and time.monotonic() < deadline:
            time.sleep(0.2)
            screen = atoll("peek", name, socket=tmux_socket, env=env).stdout
        assert "project file" in screen and "\n1000" in screen
        assert atoll("kill", name, socket=tmux_socket, env=env).returncode == 0
    finally:
        purged = atoll("purge", name, "--yes", "--force", socket=tmux_socket, env=env)
    assert purged.returncode == 0, purged.stderr
    left = subprocess.run([engine, "ps", "-a", "--format", "{{.Names}}"], capture_output=True,
                          text=True).stdout
    assert f"-{name}" not in left
    evs = json.loads(atoll("audit", "show", "--json", env=env).stdout)
    intents = [e["action"] for e in evs if e["outcome"] == "intent"]
    assert intents[0] == "session.new" and "island.purge" in intents
    assert {"session.type", "session.kill"} <= set(intents)
    # the purge also forgets the session's spec (issue 18), recorded after the kill
    assert intents.index("session.purge-spec") > intents.index("session.kill")


def test_an_oom_killed_podman_agent_leaves_nothing_in_the_operators_directory(
    podman_image: str, tmux_socket: str, project: Path, tmp_path: Path
) -> None:
    # conmon (Debian 12: 2.1.6) creates a file named "oom" in its working directory when
    # the container is OOM-killed (containers/conmon#504), and podman does not change it
    here = tmp_path / "operator-cwd"
    here.mkdir()
    env = {"XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CACHE_HOME": str(tmp_path / "c")}
    hog = "x = [bytearray(1 << 20) for _ in range(4096)]"
    res = atoll("new", "oomhog", "--island", podman_image, "--dir", str(project), "--memory",
                "64m", "--", "python3", "-c", hog, socket=tmux_socket, env=env, cwd=str(here))
    assert res.returncode == 0, res.stderr
    try:
        deadline = time.monotonic() + 60
        row: dict[str, Any] = {}
        while time.monotonic() < deadline:
            (row,) = [r for r in rows(tmux_socket, env) if r["name"] == "oomhog"]
            if row["status"] == "exited":
                break
            time.sleep(0.5)
        assert row.get("status") == "exited" and row["exit_status"] == 137  # SIGKILL: OOM
        assert list(here.iterdir()) == []
    finally:
        atoll("purge", "oomhog", "--yes", "--force", socket=tmux_socket, env=env, cwd=str(here))


def test_island_flags_need_an_island_kind(tmux_socket: str) -> None:
    res = atoll("new", "x", "--memory", "1g", "--", "true", socket=tmux_socket)
    assert res.returncode == 2 and "--island" in res.stderr
    res = atoll("new", "x", "--island", "docker", "--as", "someone-agent", "--", "true",
                socket=tmux_socket)
    assert res.returncode == 2
    res = atoll("new", "x", "--island", "bwrap", "--", "true", socket=tmux_socket)
    assert res.returncode == 2 and "--as" in res.stderr


def test_bwrap_island_through_cli(bwrap_ready: None, tmux_socket: str, project: Path,
                                  tmp_path: Path) -> None:
    users = UserFactory()
    try:
        agent = users.user(users.name("bw", "-agent"))
        env = {"XDG_STATE_HOME": str(tmp_path / "state")}
        project.chmod(0o755)
        tmp_path.chmod(0o755)
        res = atoll("new", "bw1", "--island", "bwrap", "--as", agent, "--dir", str(project),
                    "--", "bash", "--norc", socket=tmux_socket, env=env)
        assert res.returncode == 0, res.stderr
        (row,) = [r for r in rows(tmux_socket, env) if r["name"] == "bw1"]
        assert row["agent_user"] == agent and row["island"] == "bwrap"
        atoll("type", "bw1", "ls /root /home; cat README", "--enter", socket=tmux_socket, env=env)
        time.sleep(1)
        screen = atoll("peek", "bw1", socket=tmux_socket, env=env).stdout
        assert "project file" in screen
        assert atoll("purge", "bw1", "--yes", "--force", socket=tmux_socket,
                     env=env).returncode == 0
        assert not any(r["name"] == "bw1" for r in rows(tmux_socket, env))
    finally:
        users.cleanup()
