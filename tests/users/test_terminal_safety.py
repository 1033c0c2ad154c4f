"""Bytes that reach the operator's terminal, and text typed into panes, with real agent
users, real sudo, real tmux and a real terminal (an outer tmux read with capture-pane).

Attach (issues 11.5 and 13.2): the agent owns its tmux server, so it re-sets, in a loop while
the operator is attached, ``set-clipboard on``, ``set-titles`` and ``terminal-overrides``
whose entries carry OSC 52 and title bytes, and its pane prints OSC 52 and OSC 2 itself. The
operator's outer tmux accepts clipboard writes (``set-clipboard on``): a paste buffer there,
or a changed pane title, means the agent's bytes reached the operator's terminal.

Typing (issue 11.6): bash under LANG=C reads the bytes of U+2C63 as M-b M-1 M-#, which
uncomments the line and runs it; a cooked-mode reader under ``stty istrip`` reads the 0x8D
of U+010D as CR. Nothing may run without Enter.
"""

from __future__ import annotations

import json
import pwd
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.support.proc import atoll, atoll_bin
from tests.support.terminal import WAIT, Terminal
from tests.support.users import UserFactory

pytestmark = [pytest.mark.root, pytest.mark.slow]

PWNED = "cHduZWQ="  # base64 of "pwned"
HOSTILE_LOOP = (
    "while :; do tmux -L atoll set -g set-clipboard on \\; set -g set-titles on \\; "
    "set -g set-titles-string pwned-title \\; set -g terminal-overrides "
    "'*:Ms=\\E]52;c;%p2%s\\007:tsl=\\E]2;:fsl=^G:"
    f"cnorm=\\E]52;c;{PWNED}\\007\\E]2;pwned-ov\\007\\E[?25h' "
    "2>/dev/null; sleep 0.2; done"
)
PANE_ATTACK = (
    "echo hostile-marker; while :; do "
    f"printf '\\033]52;c;{PWNED}\\007\\033]2;pwned-pane\\007\\033Ptmux;\\033\\033]52;c;"
    f"{PWNED}\\007\\033\\\\'; sleep 0.3; done"
)


@dataclass
class Cast:
    op: str
    agent: str


@pytest.fixture(scope="module")
def cast(users: UserFactory) -> Iterator[Cast]:
    op = users.user(users.name("tsop"))
    agent = users.user(f"{op}-agent")
    users.allow(op, [agent])
    yield Cast(op, agent)


def env_for(user: str, **extra: str) -> dict[str, str]:
    pw = pwd.getpwnam(user)
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": pw.pw_dir, "USER": user,
            "LOGNAME": user, "LANG": "C.UTF-8", "TERM": "screen", **extra}


def as_user(user: str, *argv: str, **extra: str) -> list[str]:
    return ["runuser", "-u", user, "--", "env", "-i",
            *(f"{k}={v}" for k, v in env_for(user, **extra).items()), *argv]


class OperatorTerminal(Terminal):
    """The outer terminal run by the operator's own tmux server (so ``$TMUX`` in its pane
    names a server the operator owns, as for a real tmux user)."""

    def __init__(self, user: str, command: list[str]) -> None:
        self.user = user
        super().__init__(command, {}, Path("/tmp"))

    def tmux(self, *args: str) -> str:
        res = subprocess.run(as_user(self.user, "tmux", "-L", self.socket, *args),
                             capture_output=True, text=True, timeout=30, check=True)
        return res.stdout

    def alive(self) -> bool:
        return subprocess.run(as_user(self.user, "tmux", "-L", self.socket, "has-session"),
                              capture_output=True, timeout=30).returncode == 0

    def close(self) -> None:
        subprocess.run(as_user(self.user, "tmux", "-L", self.socket, "kill-server"),
                       capture_output=True, timeout=30)


def outer_clipboard_and_title(term: Terminal) -> tuple[str, str]:
    buffers = term.tmux("list-buffers", "-F", "#{buffer_sample}")
    return buffers, term.tmux("display-message", "-p", "-t", "0", "#{pane_title}")


def start_hostile(cast: Cast, name: str) -> subprocess.Popen[bytes]:
    res = atoll("new", name, "--as", cast.agent, "--dir", "/tmp", "--", "sh", "-c",
                PANE_ATTACK, user=cast.op)
    assert res.returncode == 0, res.stderr
    # the agent re-sets its server's options all the time, also while we are attached
    return subprocess.Popen(as_user(cast.agent, "sh", "-c", HOSTILE_LOOP),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def clients(cast: Cast) -> str:
    res = subprocess.run(as_user(cast.agent, "tmux", "-L", "atoll", "list-clients", "-F",
                                 "#{session_name}"), capture_output=True, text=True, timeout=30)
    return res.stdout


def attach_and_come_back(term: Terminal, cast: Cast, name: str, back: list[str]) -> str:
    term.wait(lambda s: "hostile-marker" in s, "the agent's screen")
    time.sleep(3)  # several rounds of the agent's loop and of its pane's escapes
    assert clients(cast) == f"{name}\n"
    term.keys(*back)
    return term.wait(lambda s: "atoll-exit=" in s, "atoll attach to return")


@pytest.mark.parametrize("inside_tmux", [False, True], ids=["plain-terminal", "inside-tmux"])
def test_an_agent_server_cannot_write_the_operators_clipboard_or_title(
    cast: Cast, inside_tmux: bool
) -> None:
    name = f"hostile-{'in' if inside_tmux else 'plain'}"
    loop = start_hostile(cast, name)
    script = f"{atoll_bin()} attach {name}; echo atoll-exit=$?; sleep 600"
    if inside_tmux:
        term: Terminal = OperatorTerminal(cast.op, ["sh", "-c", script])
    else:
        term = Terminal(as_user(cast.op, "sh", "-c", script), {}, Path("/tmp"))
    try:
        term.tmux("set-option", "-g", "set-clipboard", "on")
        title_before = outer_clipboard_and_title(term)[1]
        # inside tmux the agent's detach key is shadowed by the operator's own prefix:
        # Ctrl-] is atoll's; in a plain terminal the agent's own C-b d works too
        done = attach_and_come_back(term, cast, name, ["C-]"] if inside_tmux else ["C-b", "d"])
        buffers, title = outer_clipboard_and_title(term)
        assert buffers == "", f"the agent wrote the operator's clipboard: {buffers!r}"
        assert "pwned" not in title and title == title_before
        assert "atoll-exit=0" in done
        assert f"atoll: attaching to {name}: press Ctrl-] to come back here" in done
        assert clients(cast) == ""
    finally:
        term.close()
        loop.kill()
        loop.wait()
        atoll("kill", name, "--as", cast.agent, user=cast.op)


def own_clients(cast: Cast) -> str:
    res = subprocess.run(as_user(cast.op, "tmux", "-L", "atoll", "list-clients", "-F",
                                 "#{session_name} #{client_width}x#{client_height}"),
                         capture_output=True, text=True, timeout=30)
    return res.stdout


def test_own_session_from_inside_tmux_detaches_with_ctrl_bracket(cast: Cast) -> None:
    res = atoll("new", "mine", "--as", cast.op, "--dir", "/tmp", "--", "sh", "-c",
                "echo own-marker; exec sleep 100000", user=cast.op)
    assert res.returncode == 0, res.stderr
    term = OperatorTerminal(cast.op, ["sh", "-c",
                                      f"{atoll_bin()} attach mine; echo atoll-exit=$?; sleep 600"])
    try:
        term.wait(lambda s: "own-marker" in s, "the session's screen")
        assert own_clients(cast) == "mine 160x40\n"  # the relay's pty has the terminal's size
        term.tmux("resize-window", "-t", "0", "-x", "120", "-y", "30")  # SIGWINCH to atoll
        deadline = time.monotonic() + WAIT
        while own_clients(cast) != "mine 120x30\n" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert own_clients(cast) == "mine 120x30\n"
        term.keys("C-]")
        done = term.wait(lambda s: "atoll-exit=" in s, "atoll attach to return")
        assert "atoll-exit=0" in done
        assert "atoll: attaching to mine: press Ctrl-] to come back here" in done
        assert term.alive()  # the operator's own tmux is still there, nothing detached it
    finally:
        term.close()
        atoll("kill", "mine", user=cast.op)


# -- typing ---------------------------------------------------------------------------------

def typed_session(cast: Cast, name: str, *command: str) -> Path:
    marker = Path(f"/tmp/atoll-typed-{uuid.uuid4().hex[:8]}")
    res = atoll("new", name, "--as", cast.agent, "--dir", "/tmp", "--", *command, user=cast.op)
    assert res.returncode == 0, res.stderr
    return marker


def screen(cast: Cast, name: str) -> str:
    res = atoll("peek", name, "--as", cast.agent, user=cast.op)
    assert res.returncode == 0, res.stderr
    return res.stdout


def wait_screen(cast: Cast, name: str, text: str) -> str:
    deadline = time.monotonic() + WAIT
    while True:
        seen = screen(cast, name)
        if text in seen:
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {text!r}:\n{seen}")
        time.sleep(0.2)


def type_(cast: Cast, name: str, text: str) -> subprocess.CompletedProcess[str]:
    return atoll("type", name, text, "--as", cast.agent, user=cast.op)


BASH_C = ["env", "LANG=C", "LC_ALL=", "PS1=ready$ ", "bash", "--norc", "--noprofile", "-i"]


@pytest.mark.parametrize("vi", [False, True], ids=["emacs-mode", "vi-mode"])
def test_non_ascii_into_a_c_locale_bash_is_refused(cast: Cast, vi: bool) -> None:
    name = f"typec-{'vi' if vi else 'emacs'}"
    marker = typed_session(cast, name, *BASH_C)
    try:
        wait_screen(cast, name, "ready$")
        if vi:
            assert type_(cast, name, "set -o vi").returncode == 0
            assert atoll("type", name, "", "--enter", "--as", cast.agent,
                         user=cast.op).returncode == 0
            time.sleep(0.5)
        assert type_(cast, name, f"#touch {marker}").returncode == 0
        res = type_(cast, name, "\u2c63")  # E2 B1 A3: M-b M-1 M-# -> uncomment, accept-line
        assert res.returncode == 2, res.stderr
        assert res.stderr.strip().splitlines() == [
            "atoll: error: refusing to type U+2C63: the pane's locale is not UTF-8 or its "
            "terminal strips bit 8, so its bytes would act as keys; type ASCII only"]
        time.sleep(1)
        assert not marker.exists(), "the line ran without Enter"
        last = [ln for ln in screen(cast, name).splitlines() if ln.strip()][-1]
        assert last.rstrip() == f"ready$ #touch {marker}"  # nothing of U+2C63 was typed
    finally:
        atoll("kill", name, "--as", cast.agent, user=cast.op)
        marker.unlink(missing_ok=True)


def test_istrip_in_a_utf8_pane_is_refused(cast: Cast) -> None:
    name = "typeistrip"
    typed_session(cast, name, "env", "LANG=C.UTF-8", "sh", "-c",
                  'stty istrip; echo reading; read -r line; echo "GOT[$line]"; exec sleep 1000')
    try:
        wait_screen(cast, name, "reading")
        assert type_(cast, name, "abc").returncode == 0
        res = type_(cast, name, "\u010d")  # C4 8D: under istrip 0x8D is CR, the line goes
        assert res.returncode == 2, res.stderr
        time.sleep(1)
        assert "GOT[" not in screen(cast, name), "the line was submitted without Enter"
    finally:
        atoll("kill", name, "--as", cast.agent, user=cast.op)


def test_non_ascii_into_a_utf8_bash_is_typed(cast: Cast) -> None:
    name = "typeutf8"
    marker = typed_session(cast, name, "env", "LANG=C.UTF-8", "PS1=ready$ ", "bash", "--norc",
                           "--noprofile", "-i")
    try:
        wait_screen(cast, name, "ready$")
        assert type_(cast, name, f"#touch {marker} \u2c63 \u010d").returncode == 0
        wait_screen(cast, name, f"#touch {marker} \u2c63 \u010d")
        time.sleep(1)
        assert not marker.exists()
    finally:
        atoll("kill", name, "--as", cast.agent, user=cast.op)


def test_new_attach_from_inside_tmux_as_the_agent_user(cast: Cast) -> None:
    script = (f"{atoll_bin()} new newatt --as {cast.agent} --dir /tmp --attach -- sh -c "
              "'echo newatt-marker; exec sleep 100000'; echo atoll-exit=$?; sleep 600")
    term = OperatorTerminal(cast.op, ["sh", "-c", script])
    try:
        term.wait(lambda s: "newatt-marker" in s, "the new session's screen")
        assert clients(cast) == "newatt\n"
        term.keys("C-]")
        done = term.wait(lambda s: "atoll-exit=" in s, "atoll new --attach to return")
        assert "atoll-exit=0" in done
        assert "atoll: attaching to newatt: press Ctrl-] to come back here" in done
        assert clients(cast) == ""
    finally:
        term.close()
        atoll("kill", "newatt", "--as", cast.agent, user=cast.op)


def test_a_terminal_that_goes_away_ends_the_attach_and_is_recorded(cast: Cast) -> None:
    res = atoll("new", "hangup", "--as", cast.agent, "--dir", "/tmp", "--", "sh", "-c",
                "echo hangup-marker; exec sleep 100000", user=cast.op)
    assert res.returncode == 0, res.stderr
    term = Terminal(as_user(cast.op, atoll_bin(), "attach", "hangup"), {}, Path("/tmp"))
    try:
        term.wait(lambda s: "hangup-marker" in s, "the agent's screen")
        assert clients(cast) == "hangup\n"
    finally:
        term.close()  # the terminal hangs up: SIGHUP to atoll
    deadline = time.monotonic() + WAIT
    while clients(cast) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert clients(cast) == ""
    shown = atoll("audit", "show", "--json", "--action", "session.detach", user=cast.op)
    events = [e for e in json.loads(shown.stdout) if e["target"]["session"] == "hangup"]
    atoll("kill", "hangup", "--as", cast.agent, user=cast.op)
    assert events, "the detach after a hangup is not in the ledger"
