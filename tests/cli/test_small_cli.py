"""Small CLI contracts (issue 13 point 9), through the real CLI and real tmux: the name is
checked first, --help shows whole lines, ls filters, `key` presses named keys but never
Enter without --enter, and attach writes its intent record before it happens."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import pytest
from tests.cli.test_cli_local import wait_status
from tests.support.proc import atoll


def new(socket: str, name: str, *argv: str) -> None:
    res = atoll("new", name, "--as", "root", "--dir", tempfile.gettempdir(), "--", *argv,
                socket=socket)
    assert res.returncode == 0, res.stderr


def test_bad_name_is_reported_first(tmux_socket: str) -> None:
    res = atoll("new", "bad name!", "--memory", "lots", "--host", "nowhere", "--dir",
                "/nonexistent", "--", "true", socket=tmux_socket)
    assert res.returncode == 2
    assert res.stderr.startswith("atoll: error: invalid session name 'bad name!'")
    assert len(res.stderr.splitlines()) == 1


def test_help_lists_whole_one_line_descriptions() -> None:
    out = atoll("--help", env={"COLUMNS": "80"}).stdout
    section = out.split("Commands:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(section) >= 14
    for line in section:
        _name, text = line.split(None, 1)
        assert len(line) <= 80 and text.endswith("."), line  # one line each, not cut
        assert not text.endswith("..."), line
    assert any(line.split()[0] == "key" for line in section)


def test_ls_filters_by_status_and_user(tmux_socket: str) -> None:
    new(tmux_socket, "alive", "sleep", "300")
    new(tmux_socket, "gone", "sh", "-c", "exit 4")
    wait_status(tmux_socket, "gone", "exited")

    def names(*args: str) -> set[str]:
        res = atoll("ls", "--json", *args, socket=tmux_socket)
        assert res.returncode == 0, res.stderr
        return {r["name"] for r in json.loads(res.stdout)["sessions"]}

    assert names() == {"alive", "gone"}
    assert names("--status", "exited") == {"gone"}
    assert names("--status", "exited", "--status", "idle", "--status", "running") == {
        "alive", "gone"}
    assert names("--user", "root") == {"alive", "gone"}
    assert names("--user", "nobody") == set()
    table = atoll("ls", "--status", "exited", socket=tmux_socket).stdout
    assert "gone" in table and "alive" not in table
    bad = atoll("ls", "--status", "sleepy", socket=tmux_socket)
    assert bad.returncode == 2 and bad.stderr.startswith("atoll: error: ")


KEYLOG = ("import os, sys, tty\n"
          "tty.setraw(0)\n"
          "os.write(1, b'ready\\r\\n')\n"
          "while True:\n"
          "    os.write(1, repr(os.read(0, 64)).encode() + b'\\r\\n')\n")


def screen(socket: str, name: str) -> str:
    return atoll("peek", name, socket=socket).stdout


def wait_screen(socket: str, name: str, needle: str) -> str:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        text = screen(socket, name)
        if needle in text:
            return text
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} never appeared: {screen(socket, name)}")


def test_key_presses_named_keys_and_refuses_enter(tmux_socket: str) -> None:
    new(tmux_socket, "keys", "python3", "-c", KEYLOG)
    wait_screen(tmux_socket, "keys", "ready")
    for key, seen in (("Esc", r"b'\x1b'"), ("Tab", r"b'\t'"), ("C-c", r"b'\x03'"),
                      ("Up", r"b'\x1b[A'"), ("^D", r"b'\x04'")):
        res = atoll("key", "keys", key, socket=tmux_socket)
        assert res.returncode == 0, res.stderr
        wait_screen(tmux_socket, "keys", seen)
    before = screen(tmux_socket, "keys")
    for key in ("Enter", "C-m", "c-j", "KPEnter", "Ctrl-M", "Return"):
        res = atoll("key", "keys", key, socket=tmux_socket)
        assert res.returncode == 2, (key, res.stderr)
        assert res.stderr == (f"atoll: error: key {key!r} submits the line: add --enter to "
                              "press it\n")
    unknown = atoll("key", "keys", "M-x", socket=tmux_socket)
    assert unknown.returncode == 2 and "unknown key 'M-x'" in unknown.stderr
    time.sleep(0.5)  # nothing was sent: the screen is as it was
    assert screen(tmux_socket, "keys") == before
    res = atoll("key", "keys", "Enter", "--enter", socket=tmux_socket)
    assert res.returncode == 0, res.stderr
    wait_screen(tmux_socket, "keys", r"b'\r'")


@pytest.fixture
def state_home(tmp_path: Path) -> dict[str, str]:
    return {"XDG_STATE_HOME": str(tmp_path)}


def test_attach_writes_intent_first_then_outcome(
    tmux_socket: str, state_home: dict[str, str], tmp_path: Path,
) -> None:
    res = atoll("new", "att", "--as", "root", "--dir", "/tmp", "--", "sleep", "300",
                socket=tmux_socket, env=state_home)
    assert res.returncode == 0, res.stderr
    # no terminal here, so tmux cannot attach: the intent is recorded, then the error
    failed = atoll("attach", "att", socket=tmux_socket, env=state_home)
    assert failed.returncode == 1
    ledger = tmp_path / "atoll" / "ledger.jsonl"
    events = [json.loads(line) for line in ledger.read_text().splitlines()]
    attach = [(e["action"], e["outcome"]) for e in events
              if e["action"] in ("session.attach", "session.detach")]
    assert attach == [("session.attach", "intent"), ("session.attach", "error")]
