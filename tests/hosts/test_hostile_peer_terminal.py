"""A hostile peer cannot reach the operator's terminal (issue 11.5): its ``atoll`` is
replaced by one that answers ``peek`` with escape sequences (OSC 52 clipboard write, OSC 0
title, CSI, 8-bit CSI) and ``attach`` with a screen that keeps writing them. ``peek`` prints
plain text; an attach in a real terminal (an outer tmux with ``set-clipboard on``) leaves
the operator's clipboard and title untouched, and Ctrl-] comes back."""

from __future__ import annotations

import pwd
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.hosts.harness import TestHost
from tests.hosts.testbed import Testbed
from tests.support.proc import atoll_bin
from tests.support.terminal import Terminal

pytestmark = [pytest.mark.root, pytest.mark.slow]

ESCAPES = r"\033]52;c;cHduZWQ=\007\033]0;pwned\007\033[2J\233" + "31m"
FAKE = f"""#!/bin/sh
case "$*" in
  *peek*) printf 'screen line\\n{ESCAPES}end\\n' ;;
  *attach*) while :; do printf '{ESCAPES}\rremote-marker'; sleep 0.3; done ;;
esac
"""


def as_marcus(*argv: str) -> list[str]:
    pw = pwd.getpwnam("marcus")
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": pw.pw_dir, "USER": "marcus",
           "LOGNAME": "marcus", "LANG": "C.UTF-8", "TERM": "screen"}
    return ["runuser", "-u", "marcus", "--", "env", "-i",
            *(f"{k}={v}" for k, v in env.items()), *argv]


def test_a_peers_peek_reaches_the_terminal_as_plain_text(
    spare_host: Callable[[], TestHost], testbed: Testbed
) -> None:
    host = spare_host()
    host.install_fake_atoll(FAKE)
    res = subprocess.run(as_marcus(atoll_bin(), "peek", f"{host.name}:x"), capture_output=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert not any(b < 0x20 and b not in b"\n\t" for b in out), out
    assert b"\x7f" not in out and "\x9b" not in out.decode("utf-8", "replace")
    assert out.startswith(b"screen line\n") and out.rstrip().endswith(b"end")


def test_a_peers_attach_cannot_write_the_operators_clipboard_or_title(
    spare_host: Callable[[], TestHost], testbed: Testbed
) -> None:
    host = spare_host()
    host.install_fake_atoll(FAKE)
    script = f"{atoll_bin()} attach {host.name}:x; echo atoll-exit=$?; sleep 600"
    term = Terminal(as_marcus("sh", "-c", script), {}, Path("/tmp"))
    try:
        term.tmux("set-option", "-g", "set-clipboard", "on")
        title = term.tmux("display-message", "-p", "-t", "0", "#{pane_title}")
        term.wait(lambda s: "remote-marker" in s, "the peer's screen")
        time.sleep(2)
        assert term.tmux("list-buffers", "-F", "#{buffer_sample}") == ""  # while attached
        term.keys("C-]")
        done = term.wait(lambda s: "atoll-exit=" in s, "atoll attach to return")
        assert term.tmux("list-buffers", "-F", "#{buffer_sample}") == ""
        assert term.tmux("display-message", "-p", "-t", "0", "#{pane_title}") == title
        assert "atoll-exit=0" in done  # (the peer's CSI 2J, passed, cleared atoll's line)
    finally:
        term.close()
