"""Attaching to a container island's session from inside tmux, in a real terminal (issues
11.5 and 13.2): the island's tmux server belongs to the agent in the container, which
re-sets ``set-clipboard``, ``set-titles`` and ``terminal-overrides`` (carrying OSC 52 and
title bytes) in a loop while the operator is attached; its pane prints OSC 52 itself. The
operator's outer tmux (``set-clipboard on``) must get neither a paste buffer nor a title,
and atoll's Ctrl-] brings the operator back."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.proc import atoll, atoll_bin
from tests.support.terminal import Terminal
from tests.users.test_terminal_safety import HOSTILE_LOOP, PANE_ATTACK

pytestmark = [pytest.mark.root, pytest.mark.slow]


def test_container_session_from_inside_tmux_is_filtered_and_detaches(
    engine: str, tmux_socket: str, tmp_path: Path
) -> None:
    env = {"XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CACHE_HOME": str(tmp_path / "c")}
    proj = tmp_path / "proj"
    proj.mkdir()
    name = f"att-{engine}"
    res = atoll("new", name, "--island", engine, "--dir", str(proj), "--", "sh", "-c",
                PANE_ATTACK, socket=tmux_socket, env=env)
    assert res.returncode == 0, res.stderr
    listing = json.loads(atoll("ls", "--json", socket=tmux_socket, env=env).stdout)
    (row,) = [r for r in listing["sessions"] if r["name"] == name]
    container = row["agent_user"].split(":", 1)[1]
    loop = subprocess.Popen(
        [engine, "exec", "-u", "1000", container, "sh", "-c",
         HOSTILE_LOOP.replace("tmux -L atoll", f"tmux -L {tmux_socket}")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    script = f"{atoll_bin()} attach {name}; echo atoll-exit=$?; sleep 600"
    term = Terminal(["sh", "-c", script],
                    {"ATOLL_TMUX_SOCKET": tmux_socket, "PATH": f"{Path(sys.executable).parent}:"
                     "/usr/local/bin:/usr/bin:/bin", "TERM": "screen", **env}, tmp_path)
    try:
        term.tmux("set-option", "-g", "set-clipboard", "on")
        title = term.tmux("display-message", "-p", "-t", "0", "#{pane_title}")
        term.wait(lambda s: "hostile-marker" in s, "the island's screen")
        time.sleep(3)  # rounds of the agent's loop and of its pane's escapes
        term.keys("C-]")
        done = term.wait(lambda s: "atoll-exit=" in s, "atoll attach to return")
        assert term.tmux("list-buffers", "-F", "#{buffer_sample}") == ""
        assert term.tmux("display-message", "-p", "-t", "0", "#{pane_title}") == title
        assert "atoll-exit=0" in done
        assert f"atoll: attaching to {name}: press Ctrl-] to come back here" in done
    finally:
        term.close()
        loop.kill()
        loop.wait()
        atoll("kill", name, socket=tmux_socket, env=env)
        atoll("purge", name, "--yes", "--force", socket=tmux_socket, env=env)
