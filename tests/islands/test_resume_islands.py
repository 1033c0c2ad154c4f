"""``atoll resume`` of a session in a bwrap island (issue 18, point 2): the island kind,
agent user and workspace stay; what the lost session wrote in its workspace is still
there. Real bwrap, a real agent user, a real tmux server killed for real."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.islands.test_cli_islands import project  # noqa: F401 - the fixture
from tests.support.proc import atoll, run_as
from tests.support.users import UserFactory


def rows(socket: str, env: dict[str, str]) -> dict[str, dict[str, Any]]:
    res = atoll("ls", "--json", socket=socket, env=env)
    assert res.returncode == 0, res.stderr
    return {r["name"]: r for r in json.loads(res.stdout)["sessions"]}


def screen_has(socket: str, env: dict[str, str], name: str, text: str) -> bool:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if text in atoll("peek", name, socket=socket, env=env).stdout:
            return True
        time.sleep(0.3)
    return False


def test_bwrap_session_resumes_in_its_island(bwrap_ready: None, tmux_socket: str,
                                             project: Path, tmp_path: Path) -> None:  # noqa: F811
    users = UserFactory()
    try:
        agent = users.user(users.name("rbw", "-agent"))
        env = {"XDG_STATE_HOME": str(tmp_path / "state"), "ATOLL_NO_HELPER": "1"}
        project.chmod(0o755)
        tmp_path.chmod(0o755)
        res = atoll("new", "rb1", "--island", "bwrap", "--as", agent, "--dir", str(project),
                    "--pids", "200", "--", "bash", "--norc", socket=tmux_socket, env=env)
        assert res.returncode == 0, res.stderr
        atoll("type", "rb1", "echo survived > left-here; cat left-here", "--enter",
              socket=tmux_socket, env=env)
        assert screen_has(tmux_socket, env, "rb1", "survived")
        run_as(agent, ["tmux", "-L", tmux_socket, "kill-server"])  # the server dies
        lost = rows(tmux_socket, env)["rb1"]
        assert lost["status"] == "lost" and lost["island"] == "bwrap"
        res = atoll("resume", "rb1", socket=tmux_socket, env=env)
        assert res.returncode == 0, res.stderr
        back = rows(tmux_socket, env)["rb1"]
        assert back["status"] != "lost" and back["island"] == "bwrap"
        assert back["agent_user"] == agent
        atoll("type", "rb1", "cat left-here; ls /home | wc -l", "--enter",
              socket=tmux_socket, env=env)
        assert screen_has(tmux_socket, env, "rb1", "survived")  # the same workspace
        spec = json.loads((tmp_path / "state/atoll/sessions" / tmux_socket /
                           f"{agent}@rb1.json").read_text())
        assert spec["island"] == "bwrap" and spec["pids"] == 200 and spec["resumes"] == 1
        assert atoll("purge", "rb1", "--yes", "--force", socket=tmux_socket,
                     env=env).returncode == 0
        assert not (tmp_path / "state/atoll/sessions" / tmux_socket /
                    f"{agent}@rb1.json").exists()
    finally:
        users.cleanup()


def test_container_session_resumes_in_its_container(docker_image: str, tmux_socket: str,
                                                    project: Path,  # noqa: F811
                                                    tmp_path: Path) -> None:
    """A reboot stops containers: the session inside is lost; resume starts the same
    container again (its workspace kept) and the session in it."""
    import subprocess

    env = {"XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CACHE_HOME": str(tmp_path / "c"),
           "ATOLL_NO_HELPER": "1"}
    name = "rs-docker"
    res = atoll("new", name, "--island", "docker", "--dir", str(project), "--pids", "64",
                "--", "bash", "--norc", socket=tmux_socket, env=env)
    assert res.returncode == 0, res.stderr
    try:
        row = rows(tmux_socket, env)[name]
        container = row["agent_user"].split(":", 1)[1]
        atoll("type", name, "echo kept > /workspace/left-here; cat /workspace/left-here",
              "--enter", socket=tmux_socket, env=env)
        assert screen_has(tmux_socket, env, name, "kept")
        subprocess.run(["docker", "stop", "-t", "1", container], check=True,
                       capture_output=True)
        lost = rows(tmux_socket, env)[name]
        assert lost["status"] == "lost" and lost["island"] == "docker"
        res = atoll("resume", name, socket=tmux_socket, env=env)
        assert res.returncode == 0, res.stderr
        back = rows(tmux_socket, env)[name]
        assert back["status"] != "lost" and back["agent_user"] == row["agent_user"]
        atoll("type", name, "cat /workspace/left-here", "--enter", socket=tmux_socket, env=env)
        assert screen_has(tmux_socket, env, name, "kept")
    finally:
        purged = atoll("purge", name, "--yes", "--force", socket=tmux_socket, env=env)
    assert purged.returncode == 0, purged.stderr
