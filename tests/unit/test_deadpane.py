"""Why a pane died, and terminal output made plain (atoll.core.deadpane)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atoll.core.deadpane import explain, last_output, plain_terminal_text, why


@pytest.mark.parametrize(("status", "command", "phrase"), [
    (127, "nosuch --flag", "status 127: command not found: nosuch"),
    (126, "'./run me'", "status 126: ./run me was found but could not be run (not executable?)"),
    (137, "codex", "status 137: killed by SIGKILL"),
    (130, "codex", "status 130: killed by SIGINT"),
    (0, "make", "status 0: it finished"),
    (3, "make", "status 3"),
    (None, "make", "exit status unknown"),
    (127, "'unbalanced", "status 127: command not found: 'unbalanced"),
])
def test_why(status: int | None, command: str, phrase: str) -> None:
    assert why(status, command) == phrase


def test_last_output_drops_tmux_line_and_blanks() -> None:
    screen = "\n\nout 1\n\nout 2\n\n\n\nPane is dead (status 1, Wed Dec  2 13:07:52 2026)\n\n"
    assert last_output(screen) == ["out 1", "", "out 2"]
    assert explain("s", "\n\n", 1, "x").endswith("it printed nothing atoll could capture")


def test_plain_terminal_text_removes_escapes() -> None:
    raw = b"\x1b[1;31mred\x1b[0m\r\n\x1b]0;title\x07ok\x1bPdcs\x1b\\\xc2\x9b2J\x07bell\tt\r\n"
    assert plain_terminal_text(raw) == "red\nokbell\tt\n"  # U+009B: the 8-bit CSI


@given(st.binary(max_size=2000))
def test_plain_terminal_text_never_keeps_controls(raw: bytes) -> None:
    out = plain_terminal_text(raw)
    assert not any(ord(c) < 0x20 and c not in "\n\t" for c in out)
    assert not any(0x7F <= ord(c) <= 0x9F for c in out)
