"""A peer's answers to ``atoll mcp call`` and the requests sent to it (issue 15, point 2:
sessions on other hosts through the peer's atoll). The peer is hostile: whatever bytes it
sends, the AI gets a bounded, plain-text Screen or one UsageError, and a request word is
either decoded whole or refused."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atoll.core.errors import UsageError
from atoll.core.operator import (
    MAX_PEER_ANSWER,
    Screen,
    decode_peer_screen,
    decode_peer_sessions,
    plain_text,
)
from atoll.service.operator import ClientInfo, decode_request, encode_request

FUZZ = settings(max_examples=2000, deadline=None, database=None)


def _screen(**over: object) -> bytes:
    base: dict[str, object] = {"session": "evil", "width": 80, "height": 24, "cursor_x": 1,
                               "cursor_y": 2, "screen": "ok"}
    return msgspec.json.encode({**base, **over})


def test_a_screen_is_relabelled_clamped_and_made_plain() -> None:
    got = decode_peer_screen(_screen(cursor_x=500, screen="a\x1b]52;c;eA==\x07b\x9bc\nd"),
                             "b:x")
    assert got == Screen("b:x", 80, 24, 80, 2, "a]52;c;eA==bc\nd", None)


@pytest.mark.parametrize("data", [
    b"", b"not json", b"[]", _screen(width=-1), _screen(height=10**6), _screen(width="80"),
    _screen(cursor_y=10**30), b'{"session":"x"}', b"9" * 5000,
    b'{"screen": "' + b"A" * (MAX_PEER_ANSWER + 1) + b'"}',
])
def test_a_screen_out_of_shape_is_one_usage_error(data: bytes) -> None:
    with pytest.raises(UsageError):
        decode_peer_screen(data, "b:x")


def test_sessions_are_kept_to_what_this_side_opened() -> None:
    data = msgspec.json.encode([
        {"session": "mine", "host": "local", "status": "waiting", "width": 80, "height": 24},
        {"session": "other", "host": "local", "status": "idle", "width": 80, "height": 24},
        {"session": "odd", "host": "x", "status": "pwned\x1b", "width": 1, "height": 1},
    ])
    got = decode_peer_sessions(data, "b", {"mine", "odd"})
    assert [(s.session, s.host, s.status) for s in got] == [
        ("b:mine", "b", "waiting"), ("b:odd", "b", "unknown")]
    with pytest.raises(UsageError):
        decode_peer_sessions(msgspec.json.encode([{"session": "a"}] * 300), "b", {"a"})


@FUZZ
@given(st.binary(max_size=4096))
def test_any_bytes_give_a_plain_screen_or_a_usage_error(data: bytes) -> None:
    try:
        got = decode_peer_screen(data, "b:x")
    except UsageError:
        return
    assert got.session == "b:x" and got.screen == plain_text(got.screen)
    assert 0 <= got.cursor_x <= got.width <= 10_000 and 0 <= got.cursor_y <= got.height


@FUZZ
@given(st.text(max_size=300), st.text(max_size=50))
def test_a_request_survives_the_word_and_nothing_else_decodes(text: str, key: str) -> None:
    word = encode_request("type_text", {"session": "s", "text": text, "key": key},
                          ClientInfo("c", "1"))
    assert word.replace("-", "").replace("_", "").replace("=", "").isalnum()
    req = decode_request(word)
    assert (req.tool, req.args["text"], req.args["key"]) == ("type_text", text, key)


@pytest.mark.parametrize("word", ["", "!!", "--help", "e30=" * 30000,
                                  encode_request("run_shell", {}, ClientInfo())])
def test_a_bad_request_word_is_refused(word: str) -> None:
    with pytest.raises(UsageError):
        decode_request(word)


_ints = st.one_of(st.integers(), st.integers(min_value=-(10**30), max_value=10**30))


@FUZZ
@given(st.fixed_dictionaries({"session": st.text(max_size=20), "width": _ints,
                              "height": _ints, "cursor_x": _ints, "cursor_y": _ints,
                              "screen": st.text(max_size=500),
                              "matched": st.one_of(st.none(), st.booleans())}))
def test_any_screen_shaped_answer_is_bounded_and_plain(answer: dict[str, object]) -> None:
    try:
        got = decode_peer_screen(msgspec.json.encode(answer), "b:x")
    except UsageError:
        return
    assert got.screen == plain_text(got.screen) and "\x1b" not in got.screen
    assert 0 <= got.cursor_x <= got.width <= 10_000
    assert 0 <= got.cursor_y <= got.height <= 10_000
