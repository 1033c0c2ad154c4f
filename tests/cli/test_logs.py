"""`atoll peek` says why a session died; `atoll logs` shows its scrollback and transcript.
The real CLI against real tmux on a throwaway socket (as root, the operator here)."""

from __future__ import annotations

import tempfile

from tests.cli.test_cli_local import wait_status
from tests.support.proc import atoll


def new(socket: str, name: str, *argv: str, record: bool = False) -> None:
    extra = ["--record"] if record else []
    res = atoll("new", name, "--as", "root", "--dir", tempfile.gettempdir(), *extra, "--",
                *argv, socket=socket)
    assert res.returncode == 0, res.stderr


def test_peek_of_a_missing_program_says_command_not_found(tmux_socket: str) -> None:
    new(tmux_socket, "nope", "no-such-program-atoll")
    wait_status(tmux_socket, "nope", "exited")
    res = atoll("peek", "nope", socket=tmux_socket)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[-1].startswith(
        "atoll: nope exited (status 127: command not found: no-such-program-atoll); ")
    assert not any(line.startswith("Pane is dead") for line in lines)
    assert all(line.strip() for line in lines)  # not a screenful of blank lines


def test_peek_of_a_crashed_program_shows_its_last_lines(tmux_socket: str) -> None:
    new(tmux_socket, "crash", "sh", "-c",
        "for i in $(seq 1 100); do echo step $i; done; echo 'fatal: disk full' >&2; exit 3")
    wait_status(tmux_socket, "crash", "exited")
    lines = atoll("peek", "crash", socket=tmux_socket).stdout.splitlines()
    assert lines[-2:] == ["fatal: disk full",
                          "atoll: crash exited (status 3); its last output is above"]
    assert len(lines) == 21  # the last 20 lines and atoll's
    assert atoll("peek", "crash", "--lines", "3", socket=tmux_socket).stdout.splitlines() == [
        "step 99", "step 100", "fatal: disk full",
        "atoll: crash exited (status 3); its last output is above"]


def test_logs_shows_scrollback_beyond_the_screen(tmux_socket: str) -> None:
    new(tmux_socket, "long", "sh", "-c", "seq 1 300; sleep 60")
    wait_status(tmux_socket, "long", "idle")
    res = atoll("logs", "long", socket=tmux_socket)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [str(i) for i in range(1, 301)]
    assert atoll("logs", "long", "-n", "5", socket=tmux_socket).stdout.splitlines()[-1] == "300"


def test_logs_shows_the_transcript_plain_even_after_kill(tmux_socket: str) -> None:
    name = f"rec-{tmux_socket[-8:]}"  # transcripts outlive sockets: a name of this run only
    new(tmux_socket, name, "sh", "-c",
        r"printf '\033[31mred alert\033[0m\n\033]0;title\007done\n'; sleep 60", record=True)
    wait_status(tmux_socket, name, "idle")
    res = atoll("logs", name, socket=tmux_socket)
    assert res.returncode == 0, res.stderr
    head, *body = res.stdout.split("--- transcript ", 1)[1].splitlines()
    assert "still recording" in head
    assert body == ["red alert", "done"]
    assert "\x1b" not in res.stdout
    assert atoll("kill", name, socket=tmux_socket).returncode == 0
    gone = atoll("logs", name, socket=tmux_socket)
    assert gone.returncode == 0, gone.stderr
    assert gone.stdout.startswith("--- transcript ")
    assert gone.stdout.splitlines()[1:] == ["red alert", "done"]


def test_logs_of_nothing_is_not_found(tmux_socket: str) -> None:
    res = atoll("logs", "never-was", socket=tmux_socket)
    assert res.returncode == 3
    assert res.stderr == ("atoll: error: no session 'never-was' visible to root, "
                          "and no transcript\n")
