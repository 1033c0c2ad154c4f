"""The escape filter between a tmux client of a server the operator does not own and the
operator's terminal (issue 11.5): table-driven cases from xterm ctlseqs, and a hypothesis
battery (10,000 cases per property) checking that the output is always a sequence of
allowed tokens, whatever the input and however it is split."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atoll.core.termfilter import MAX_CSI, PRIVATE_MODES, EscapeFilter, filter_all

CASES = [
    # (what, input, output)
    ("text", b"hello world", b"hello world"),
    ("utf-8 text", "zdravo č Ᵽ 😀".encode(), "zdravo č Ᵽ 😀".encode()),
    ("rendering C0", b"a\r\nb\tc\x08d\x07", b"a\r\nb\tc\x08d\x07"),
    ("other C0 and DEL", b"a\x00\x01\x1c\x1f\x7fb", b"ab"),
    ("SO/SI line drawing", b"\x1b)0\x0eqqq\x0f", b"\x1b)0\x0eqqq\x0f"),
    ("OSC 52 clipboard, BEL", b"x\x1b]52;c;cHduZWQ=\x07y", b"xy"),
    ("OSC 52 clipboard, ST", b"x\x1b]52;c;cHduZWQ=\x1b\\y", b"xy"),
    ("OSC 0/2 title", b"\x1b]0;t\x07\x1b]2;t\x1b\\z", b"z"),
    ("OSC 8 hyperlink", b"\x1b]8;;http://e\x1b\\L\x1b]8;;\x1b\\", b"L"),
    ("DCS tmux passthrough",
     b"\x1bPtmux;\x1b\x1b]52;c;eA==\x07\x1b\\ok", b"ok"),
    ("DECRQSS", b"\x1bP$qm\x1b\\ok", b"ok"),
    ("APC, PM, SOS", b"\x1b_a\x1b\\\x1b^b\x1b\\\x1bXc\x1b\\ok", b"ok"),
    ("8-bit C1 CSI and OSC", b"\x9b31m\x9d52;c;x\x07ok", b"31m52;c;x\x07ok"),
    ("UTF-8 encoded C1 CSI", "\u009b2J\u009d0;t\u0007ok".encode(), b"2J0;t\x07ok"),
    ("SGR", b"\x1b[1;38;5;196m\x1b[38:2::1:2:3m\x1b[0m", b"\x1b[1;38;5;196m\x1b[38:2::1:2:3m\x1b[0m"),
    ("cursor and erase", b"\x1b[H\x1b[10;20H\x1b[2J\x1b[K\x1b[3A", b"\x1b[H\x1b[10;20H\x1b[2J\x1b[K\x1b[3A"),
    ("scroll region", b"\x1b[1;39r", b"\x1b[1;39r"),
    ("alt screen, cursor, paste, mouse",
     b"\x1b[?1049h\x1b[?25l\x1b[?2004h\x1b[?1000;1006h\x1b[?1049l",
     b"\x1b[?1049h\x1b[?25l\x1b[?2004h\x1b[?1000;1006h\x1b[?1049l"),
    ("cursor style", b"\x1b[2 q\x1b[ q", b"\x1b[2 q\x1b[ q"),
    ("window ops (title report, resize)", b"\x1b[21t\x1b[8;100;100t\x1b[22;0tok", b"ok"),
    ("device queries", b"\x1b[6n\x1b[c\x1b[>c\x1b[>0q\x1b[?1$pok", b"ok"),
    ("modifyOtherKeys and kitty keys", b"\x1b[>4;2m\x1b[>1uok", b"ok"),
    ("unknown private mode", b"\x1b[?9999h\x1b[?1049;9999hok", b"ok"),
    ("RIS and DECSTR", b"\x1bc\x1b[!pok", b"ok"),
    ("save/restore, keypad, index", b"\x1b7\x1b8\x1b=\x1b>\x1bM", b"\x1b7\x1b8\x1b=\x1b>\x1bM"),
    ("line drawing charset", b"\x1b(0qqq\x1b(B", b"\x1b(0qqq\x1b(B"),
    ("other charset", b"\x1b(%5x", b"5x"),
    ("overlong and invalid UTF-8", b"a\xc0\xafb\xed\xa0\x80c\xffd\x80e", b"abcde"),
    ("too long a CSI", b"\x1b[" + b"1;" * MAX_CSI + b"mok", b"ok"),
    ("CAN aborts OSC", b"\x1b]52;c;x\x18ok", b"ok"),
]


@pytest.mark.parametrize(("what", "data", "want"), CASES, ids=[c[0] for c in CASES])
def test_filter_cases(what: str, data: bytes, want: bytes) -> None:
    assert filter_all(data) == want, what


@pytest.mark.parametrize(("what", "data", "want"), CASES, ids=[c[0] for c in CASES])
def test_byte_at_a_time_is_the_same(what: str, data: bytes, want: bytes) -> None:
    f = EscapeFilter()
    assert b"".join(f.feed(bytes((b,))) for b in data) == want, what


# An independent description of what may come out: the tokens the module docstring lists.
_MODES = "|".join(str(m) for m in sorted(PRIVATE_MODES))
_TOKEN = re.compile(
    rb"[\x20-\x7e\x07\x08\x09\x0a\x0d\x0e\x0f]"
    rb"|\x1b[78=>DEM]"
    rb"|\x1b[()][0AB]"
    rb"|\x1b\[[0-9;:]*[@ABCDEFGHIJKLMPSTXZ`abdefgmrs]"
    rb"|\x1b\[4[hl]"
    rb"|\x1b\[[0-9]{0,2} q"
    rb"|\x1b\[\?(?:(?:" + _MODES.encode() + rb");)*(?:" + _MODES.encode() + rb")[hl]"
    rb"|[\xc2-\xf4][\x80-\xbf]{1,3}"
)


def only_allowed_tokens(out: bytes) -> bool:
    pos = 0
    while pos < len(out):
        m = _TOKEN.match(out, pos)
        if m is None:
            return False
        tok = m.group()
        if tok[0] >= 0xC2:  # one whole, valid character >= U+00A0
            try:
                ch = tok.decode("utf-8")
            except UnicodeDecodeError:
                return False
            if len(ch) != 1 or ord(ch) < 0xA0:
                return False
        if tok.startswith(b"\x1b[") and len(tok) > MAX_CSI:
            return False
        pos = m.end()
    return True


_PIECES = st.sampled_from([
    b"\x1b", b"[", b"]", b"P", b"_", b"^", b"X", b"?", b">", b"\\", b"\x07", b"\x18",
    b"52;c;", b"0;", b"1049", b"h", b"l", b"m", b"t", b"q", b" ", b";", b"1", b"9",
    b"\x9b", b"\x9d", b"\xc2\x9b", b"\xc2", b"\xe2\xb1\xa3", b"\xf0\x9f\x98", b"(", b"0",
    b"tmux;", b"\x1b\\", b"\x00", b"\x7f", b"A", b"\r\n",
])
_HOSTILE = st.one_of(
    st.binary(max_size=300),
    st.lists(_PIECES, max_size=80).map(b"".join),
)


@settings(max_examples=10_000, deadline=None)
@given(_HOSTILE, st.lists(st.integers(0, 300), max_size=6))
def test_fuzz_output_is_only_allowed_tokens_however_split(data: bytes, cuts: list[int]) -> None:
    whole = filter_all(data)
    assert len(whole) <= len(data)
    assert only_allowed_tokens(whole), whole
    f = EscapeFilter()
    bounds = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    pieces = [f.feed(data[a:b]) for a, b in itertools.pairwise(bounds)]
    assert b"".join(pieces) == whole
    # whatever came before, CAN ends any sequence left open, and text is text again
    assert f.feed(b"\x18ok") == b"ok"
