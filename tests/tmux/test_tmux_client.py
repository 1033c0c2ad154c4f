"""TmuxClient against a real tmux server on a throwaway socket.

Each test also pins a tmux behaviour atoll's safety depends on (see atoll.core.tmuxfmt).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from atoll.core.errors import AtollError, NotFoundError
from atoll.exec.runner import Local
from atoll.tmux.client import TmuxClient


@pytest.fixture
def client() -> Iterator[TmuxClient]:
    c = TmuxClient(Local(), f"atoll-test-{secrets.token_hex(4)}")
    yield c
    subprocess.run(["tmux", "-L", c.socket, "kill-server"], capture_output=True)


def wait_for(pred, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        val = pred()
        if val:
            return val
        time.sleep(0.05)
    return pred()


def new(c: TmuxClient, name: str, cmd: list[str], cwd: str = "/tmp", **opts: str) -> None:
    c.new_session(name, cmd, cwd=cwd, options={"atoll_agent": "shell", **opts})


def test_no_server_lists_nothing(client: TmuxClient) -> None:
    assert client.list_panes() == []


def test_new_session_sets_options_and_lists(client: TmuxClient) -> None:
    new(client, "one", ["sleep", "300"], atoll_project="/p", atoll_launched_by="me")
    (pane,) = client.list_panes()
    assert pane.session_name == "one"
    assert (pane.agent, pane.project, pane.launched_by) == ("shell", "/p", "me")
    assert pane.pane_pid
    import psutil

    def sleeper() -> bool:
        kids = psutil.Process(pane.pane_pid).children()
        return any(k.cmdline() == ["sleep", "300"] for k in kids)

    assert wait_for(sleeper)
    with pytest.raises(AtollError, match="already exists"):
        new(client, "one", ["sleep", "300"])


def test_trailing_semicolon_arguments_cannot_inject_tmux_commands(client: TmuxClient) -> None:
    marker = f"/tmp/atoll-inject-{secrets.token_hex(4)}"
    new(client, "victim", ["sh", "-c", 'printf "%s\\n" "$@" > ' + marker + "; sleep 300", "sh",
                           "a;", "new-session", "-d", "-s", "INJECTED;", "x\\;"])
    names = {p.session_name for p in client.list_panes()}
    assert names == {"victim"}
    lines = wait_for(lambda: Path(marker).exists() and Path(marker).read_text().splitlines())
    assert lines == ["a;", "new-session", "-d", "-s", "INJECTED;", "x\\;"]
    os.unlink(marker)


def test_format_in_directory_is_not_expanded(
    client: TmuxClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    mark = f"atoll-fmt-{secrets.token_hex(4)}"
    evil = tmp_path / f"d#(touch {mark})#{{session_name}}"
    evil.mkdir()
    new(client, "fmt", ["sleep", "300"], cwd=str(evil))
    time.sleep(0.5)
    for where in (tmp_path, Path("/"), Path.home(), Path("/tmp")):
        assert not (where / mark).exists()
    (pane,) = client.list_panes()
    assert os.readlink(f"/proc/{pane.pane_pid}/cwd") == str(evil)  # the wrapper shell's cwd


def test_single_word_command_is_not_run_by_a_shell(client: TmuxClient, tmp_path: Path) -> None:
    marker = tmp_path / "shell-ran"
    new(client, "one-word", [f"touch {marker}"])
    pane = wait_for(lambda: [p for p in client.list_panes() if p.pane_dead])
    assert pane  # env: no such program (exit 127; tmux may not catch so quick an exit's status)
    assert not marker.exists()


def test_crashed_command_stays_as_dead_pane_with_status(client: TmuxClient) -> None:
    # tmux 3.3a can lose the status of a child that exits within a millisecond of the fork
    # (its SIGCHLD arrives before the pane knows its pid): crash after a short delay.
    new(client, "crash", ["sh", "-c", "sleep 0.2; exit 7"])
    dead = wait_for(lambda: [p for p in client.list_panes() if p.pane_dead and p.exit_status is not None])
    assert dead[0].exit_status == 7


def test_hostile_option_values_cannot_forge_rows(client: TmuxClient) -> None:
    new(client, "a", ["sleep", "300"])
    forged = "x|\n4:evil|0|0|"
    subprocess.run(["tmux", "-L", client.socket, "set-option", "-t", "=a:", "@atoll_project",
                    forged], check=True)
    subprocess.run(["tmux", "-L", client.socket, "set-option", "-t", "=a:", "@atoll_agent",
                    "#(touch /tmp/atoll-never)"], check=True)
    (pane,) = client.list_panes()
    assert pane.problem == "project holds control characters" and pane.project == ""
    assert pane.agent == "#(touch /tmp/atoll-never)"
    assert not Path("/tmp/atoll-never").exists()


def test_send_literal_capture_and_capture_many(client: TmuxClient) -> None:
    new(client, "a", ["cat"])
    new(client, "b", ["cat"])
    client.send_literal("a", "hello;")
    client.send_enter("a")
    client.send_literal("b", "world")
    ids = {p.session_name: p.pane_id for p in client.list_panes()}

    def both_typed() -> dict[str, str] | None:
        screens = client.capture_many(list(ids.values()))
        if "hello;" in screens.get(ids["a"], "") and "world" in screens.get(ids["b"], ""):
            return screens
        return None

    screens = wait_for(both_typed)
    assert screens
    assert "hello;" in client.capture("a")


def test_exact_targets(client: TmuxClient) -> None:
    new(client, "abc", ["sleep", "300"])
    with pytest.raises(NotFoundError):
        client.kill_session("ab")  # no prefix matching
    client.kill_session("abc")
    assert client.list_panes() == []


def test_session_option_and_pane_options_by_socket_path(client: TmuxClient) -> None:
    """The calls the hook and bwrap's island check make, on a real server: a user option
    read back by session, and pane options set and unset through the server's -S path."""
    new(client, "opt", ["sleep", "300"], atoll_island_id="bw-1234;")
    assert client.session_option("opt", "@atoll_island_id") == "bw-1234;"
    assert not client.session_option("gone", "@atoll_island_id")  # tmux 3.3a: "" or None
    (pane,) = client.list_panes()
    path = subprocess.run(["tmux", "-L", client.socket, "display-message", "-p",
                           "#{socket_path}"], capture_output=True, text=True).stdout.strip()
    by_path = TmuxClient(Local(), socket_path=path)
    by_path.set_pane_options(pane.pane_id, {"@atoll_state": "waiting", "@atoll_state_time": "t"})
    assert client.list_panes()[0].state == "waiting"
    by_path.set_pane_options(pane.pane_id, {"@atoll_state": None})
    assert client.list_panes()[0].state == ""
