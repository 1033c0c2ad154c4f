"""Several agents in one island (``atoll new NAME --join OTHER``) through the real CLI, in a
bwrap, docker and podman island with an allow-list, and a user island. Heavy: run under the lock."""

from __future__ import annotations

import glob
import json
import os
import re
import time
from pathlib import Path
from typing import Any

from tests.support.proc import atoll
from tests.support.users import UserFactory

FIRST = "echo from-first > shared.txt; sleep 300"
JOINED = ("sleep 1; cat shared.txt; grep -E 'NoNewPrivs|CapEff' /proc/self/status; "
          "echo \"proxy=$HTTPS_PROXY\"; sleep 300")


def rows(socket: str, env: dict[str, str]) -> list[dict[str, Any]]:
    res = atoll("ls", "--json", socket=socket, env=env)
    assert res.returncode == 0, res.stderr
    out: list[dict[str, Any]] = json.loads(res.stdout)["sessions"]
    return out


def screen_with(name: str, text: str, socket: str, env: dict[str, str]) -> str:
    deadline = time.monotonic() + 30
    screen = ""
    while text not in screen and time.monotonic() < deadline:
        time.sleep(0.3)
        screen = atoll("peek", name, socket=socket, env=env).stdout
    return screen


def check_join(first: str, island: list[str], socket: str, env: dict[str, str],
               project: Path) -> None:
    res = atoll("new", first, *island, "--dir", str(project), "--allow", "api.example.com",
                "--", "sh", "-c", FIRST, socket=socket, env=env)
    assert res.returncode == 0, res.stderr
    widen = atoll("new", f"{first}-w", "--join", first, "--net", "--", "true", socket=socket,
                  env=env)
    assert widen.returncode == 2 and "--net" in widen.stderr
    res = atoll("new", f"{first}-2", "--join", first, "--", "sh", "-c", JOINED,
                socket=socket, env=env)
    assert res.returncode == 0, res.stderr
    screen = screen_with(f"{first}-2", "proxy=", socket, env)
    assert "from-first" in screen  # the same workspace
    assert re.search(r"NoNewPrivs:\s+1\n", screen), screen  # tabs show as spaces
    assert re.search(r"CapEff:\s+0{16}\n", screen), screen
    assert "proxy=http://127.0.0.1:3128" in screen  # the same allow-list, through the proxy
    listed = {r["name"]: r for r in rows(socket, env)}
    assert listed[first]["agent_user"] == listed[f"{first}-2"]["agent_user"]
    assert listed[first]["net"] == listed[f"{first}-2"]["net"] == "allow"
    assert atoll("kill", f"{first}-2", socket=socket, env=env).returncode == 0
    listed = {r["name"]: r for r in rows(socket, env)}
    assert first in listed and f"{first}-2" not in listed
    res = atoll("new", f"{first}-3", "--join", first, "--", "sleep", "300", socket=socket,
                env=env)
    assert res.returncode == 0, res.stderr
    purged = atoll("purge", first, "--yes", "--force", socket=socket, env=env)
    assert purged.returncode == 0, purged.stderr
    names = {r["name"] for r in rows(socket, env)}
    assert first not in names and f"{first}-3" not in names
    assert not [d for d in glob.glob(f"/tmp/atoll-egress-{os.getuid()}/*")
                if f"-{first}." in d]


def test_join_a_bwrap_island(bwrap_ready: None, tmux_socket: str, tmp_path: Path) -> None:
    users = UserFactory()
    tmp_path.chmod(0o755)
    project = tmp_path / "proj"
    project.mkdir(mode=0o755)
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    try:
        agent = users.user(users.name("jb", "-agent"))
        check_join("jb1", ["--island", "bwrap", "--as", agent], tmux_socket, env, project)
    finally:
        atoll("purge", "jb1", "--yes", "--force", socket=tmux_socket, env=env)
        users.cleanup()


def test_join_a_container_island(engine: str, tmux_socket: str, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    env = {"XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CACHE_HOME": str(tmp_path / "c")}
    name = f"jd{engine[0]}"
    try:
        check_join(name, ["--island", engine], tmux_socket, env, project)
    finally:
        atoll("purge", name, "--yes", "--force", socket=tmux_socket, env=env)


def test_join_a_user_island_runs_as_the_same_agent_user_in_its_project(
        tmux_socket: str, tmp_path: Path) -> None:
    users = UserFactory()
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    try:
        agent = users.user(users.name("ju", "-agent"))
        home = f"/home/{agent}"
        res = atoll("new", "ju1", "--as", agent, "--dir", home, "--", "sh", "-c", FIRST,
                    socket=tmux_socket, env=env)
        assert res.returncode == 0, res.stderr
        res = atoll("new", "ju2", "--join", "ju1", "--", "sh", "-c",
                    "sleep 1; cat shared.txt; id -un; sleep 300", socket=tmux_socket, env=env)
        assert res.returncode == 0, res.stderr
        screen = screen_with("ju2", agent, tmux_socket, env)
        assert "from-first" in screen and agent in screen, screen
        listed = {r["name"]: r for r in rows(tmux_socket, env)}
        assert listed["ju1"]["agent_user"] == listed["ju2"]["agent_user"] == agent
        assert atoll("kill", "ju2", "--as", agent, socket=tmux_socket, env=env).returncode == 0
        assert "ju1" in {r["name"] for r in rows(tmux_socket, env)}
    finally:
        atoll("kill", "ju1", "--as", agent, socket=tmux_socket, env=env)
        users.cleanup()
