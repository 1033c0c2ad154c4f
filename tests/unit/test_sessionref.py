"""Labels of sessions atoll did not name, and labels as targets (table-driven)."""

from __future__ import annotations

import pytest

from atoll.core.errors import UsageError
from atoll.core.names import parse_target
from atoll.core.sessionref import matches, session_label, validate_session_target


@pytest.mark.parametrize(
    ("name", "label"),
    [("agent-1", "agent-1"), ("\u04551", "'\\u04551'"), ("my session", "'my session'"),
     ("-dash", "'-dash'"), (".hidden", "'.hidden'"), ("it's", "'it\\x27s'"),
     ("a\\b", "'a\\x5cb'"), ("x:y", "'x\\x3ay'"), ("\U0001f600", "'\\U0001f600'"),
     ("x" * 64, "x" * 64), ("x" * 65, "'" + "x" * 65 + "'"),
     ("x" * 81, "'" + "x" * 56 + "...'$9")],
)
def test_labels(name: str, label: str) -> None:
    assert session_label(name, "$9") == label
    assert matches(validate_session_target(label), name, "$9")


def test_a_look_alike_is_not_its_original() -> None:
    assert not matches("s1", "\u04551", "$1")
    assert not matches(session_label("\u04551", "$1"), "s1", "$1")


def test_ids_are_targets_of_their_own_session_only() -> None:
    assert matches("$3", "anything at all", "$3") and not matches("$3", "x", "$4")


@pytest.mark.parametrize("target", ["x;y", "'unterminated", "$", "$x", "'\u0455'", "`id`"])
def test_other_text_is_refused(target: str) -> None:
    with pytest.raises(UsageError):
        validate_session_target(target)


def test_host_and_label() -> None:
    assert parse_target("box:'my session'") == ("box", "'my session'")


@pytest.mark.parametrize("text", ["4242/$3/1700000000", "1/$0/0"])
def test_session_keys_round_trip(text: str) -> None:
    from atoll.core.sessionref import parse_session_key

    assert parse_session_key(text).text() == text


@pytest.mark.parametrize("text", ["", "4242/3/1", "4242/$3", "x/$3/1", "4242/$3/1/2",
                                  "--as/$3/1", "4242/$3/1\n", "12345678/$3/1"])
def test_bad_session_keys_are_usage_errors(text: str) -> None:
    from atoll.core.sessionref import parse_session_key

    with pytest.raises(UsageError, match="invalid session key"):
        parse_session_key(text)


def test_a_row_without_every_part_has_no_key() -> None:
    from atoll.core.sessionref import SessionKey, key_of

    assert key_of(None, "$3", 1) is None and key_of(7, "", 1) is None
    assert key_of(7, "$3", None) is None
    assert key_of(7, "$3", 1) == SessionKey(7, "$3", 1)
