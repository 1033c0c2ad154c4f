"""Typed text in a pane whose locale is not UTF-8 or whose tty strips bit 8 (issue 11.6):
the pure parts (locale from a process environment, the foreground group from
``/proc/PID/stat``, ``istrip`` from real ``stty -a`` output, the refusal), and a hypothesis
battery of 10,000 cases per property over the sanitiser and these parsers."""

from __future__ import annotations

import os
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atoll.core.errors import UsageError
from atoll.core.text import (
    check_typable,
    environ_is_utf8,
    foreground_pgid,
    sanitize_typed_text,
    stty_strips_bit8,
)


@pytest.mark.parametrize(("environ", "utf8"), [
    (b"LANG=C.UTF-8\0PATH=/bin\0", True),
    (b"LANG=en_US.utf8\0", True),
    (b"LANG=de_DE.UTF-8@euro\0", True),
    (b"LANG=C\0", False),
    (b"LANG=POSIX\0", False),
    (b"LANG=en_US.ISO-8859-1\0", False),
    (b"PATH=/bin\0", False),  # nothing set: the POSIX locale
    (b"LC_ALL=C\0LANG=C.UTF-8\0", False),  # LC_ALL wins
    (b"LC_ALL=\0LC_CTYPE=C.UTF-8\0LANG=C\0", True),  # empty counts as unset
    (b"LC_CTYPE=C\0LANG=C.UTF-8\0", False),
    (b"LANG=C.UTF-8", True),  # truncated read
    (b"", False),
])
def test_locale_of_an_environment(environ: bytes, utf8: bool) -> None:
    assert environ_is_utf8(environ) is utf8


def test_foreground_group_of_a_real_stat() -> None:
    with open("/proc/self/stat", "rb") as f:
        stat = f.read()
    fields = stat.rpartition(b")")[2].split()
    want = int(fields[5]) if int(fields[5]) > 0 else None
    assert foreground_pgid(stat) == want


@pytest.mark.parametrize(("stat", "want"), [
    (b"12 (bash) S 1 12 12 34816 4242 4194560 0", 4242),
    (b"12 (a) b) (c) S 1 12 12 34816 77 4194560", 77),  # ) in comm
    (b"12 (sleep) S 1 12 12 0 -1 4194560", None),  # no controlling terminal
    (b"garbage", None),
    (b"12 (x) S 1", None),
])
def test_foreground_group_parsing(stat: bytes, want: int | None) -> None:
    assert foreground_pgid(stat) == want


@pytest.mark.parametrize(("setting", "strips"), [
    ("-istrip", False), ("istrip", True),
])
def test_istrip_from_real_stty(setting: str, strips: bool) -> None:
    master, slave = os.openpty()
    try:
        tty = os.ttyname(slave)
        subprocess.run(["stty", "-F", tty, "sane", setting], check=True)
        out = subprocess.run(["stty", "-a", "-F", tty], check=True, capture_output=True,
                             text=True).stdout
        assert stty_strips_bit8(out) is strips
    finally:
        os.close(master)
        os.close(slave)


def test_unreadable_stty_counts_as_stripping() -> None:
    assert stty_strips_bit8("")
    assert stty_strips_bit8("stty: /dev/pts/9: Permission denied")


def test_refusal_names_the_character() -> None:
    check_typable("touch /tmp/p", eight_bit_safe=False)
    check_typable("Ᵽ č", eight_bit_safe=True)
    with pytest.raises(UsageError, match=r"U\+2C63.*ASCII only"):
        check_typable("#touch Ᵽ", eight_bit_safe=False)


_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=200)
_CONTROL = {*range(0x20), 0x7F, *range(0x80, 0xA0)}


@settings(max_examples=10_000, deadline=None)
@given(_TEXT, st.booleans())
def test_fuzz_typed_text_never_carries_a_key(text: str, eight_bit_safe: bool) -> None:
    clean = sanitize_typed_text(text)
    assert not any(ord(c) in _CONTROL for c in clean)
    assert len(clean) <= len(text)
    try:
        check_typable(clean, eight_bit_safe=eight_bit_safe)
    except UsageError:
        assert not eight_bit_safe and not clean.isascii()
        return
    if not eight_bit_safe:  # what may be sent to a non-UTF-8 pane: ASCII printable only
        assert all(0x20 <= ord(c) <= 0x7E for c in clean)


@settings(max_examples=10_000, deadline=None)
@given(st.binary(max_size=400), st.text(max_size=400))
def test_fuzz_pane_probes_parse_anything(raw: bytes, text: str) -> None:
    assert isinstance(environ_is_utf8(raw), bool)
    pgid = foreground_pgid(raw)
    assert pgid is None or 0 < pgid < 10**10
    assert isinstance(stty_strips_bit8(text), bool)
