"""Name validation and typed-text sanitising (pure, table-driven)."""

from __future__ import annotations

import pytest

from atoll.core.errors import UsageError
from atoll.core.names import (
    parse_target,
    validate_branch_name,
    validate_path_text,
    validate_session_name,
    validate_user_name,
)
from atoll.core.text import sanitize_typed_text

GOOD_NAMES = ["a", "fix-login", "A.b_c-9", "x" * 64, "_lead", "0day"]
BAD_NAMES = [
    "", "-t", ".hidden", "x" * 65, "a b", "a;b", "a:b", "$(id)", "`id`", "a\nb", "a\tb",
    "a/b", "a#{pane_id}", "é", "a\x1bb", "=a", "a*", "..",
]


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_good_session_names_pass(name: str) -> None:
    assert validate_session_name(name) == name


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_session_names_are_usage_errors(name: str) -> None:
    with pytest.raises(UsageError) as err:
        validate_session_name(name)
    assert "\n" not in str(err.value)
    assert err.value.exit_code == 2


@pytest.mark.parametrize("name", ["root", "wes-agent", "_svc", "a1"])
def test_good_user_names(name: str) -> None:
    assert validate_user_name(name) == name


@pytest.mark.parametrize("name", ["Root", "-x", "a b", "a;b", "x" * 33, ""])
def test_bad_user_names(name: str) -> None:
    with pytest.raises(UsageError):
        validate_user_name(name)


@pytest.mark.parametrize("branch", ["main", "feat/x", "review-123", "v1.2"])
def test_good_branches(branch: str) -> None:
    assert validate_branch_name(branch) == branch


@pytest.mark.parametrize("branch", ["-b", "a..b", "a//b", "x.lock", "a/.b", "a b", "a~1", "a^"])
def test_bad_branches(branch: str) -> None:
    with pytest.raises(UsageError):
        validate_branch_name(branch)


def test_paths_with_controls_refused() -> None:
    with pytest.raises(UsageError):
        validate_path_text("/tmp/a\nb")
    assert validate_path_text("/tmp/a b#(x)") == "/tmp/a b#(x)"


def test_parse_target() -> None:
    assert parse_target("web") == (None, "web")
    assert parse_target("hostb:web") == ("hostb", "web")
    with pytest.raises(UsageError):
        parse_target("hostb:")
    with pytest.raises(UsageError):
        parse_target("-o:web")


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("ls -la", "ls -la"),
        ("echo hi\r", "echo hi"),
        ("echo hi\n", "echo hi"),
        ("rm -rf x\x03", "rm -rf x"),
        ("paste\x1b[201~; id\r", "paste[201~; id"),
        ("csi\x9b201~", "csi201~"),
        ("del\x7f\x7f", "del"),
        ("tab\there", "tab here"),
        ("nul\x00x", "nulx"),
        ("ünïcode ✓", "ünïcode ✓"),
        ("\x04\x1a\x1c", ""),
    ],
)
def test_sanitize_typed_text(raw: str, clean: str) -> None:
    out = sanitize_typed_text(raw)
    assert out == clean
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in out)
