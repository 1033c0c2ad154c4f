"""Fuzz battery for the tmux format-row parser and session labels (issue 11, point 10).

Property: on any input, :func:`atoll.core.tmuxfmt.parse_panes` returns a value or raises
FormatParseError (an AtollError), within a time bound (linear parsing, checked by size) and
a memory bound (no record larger than its caps); labels are always printable ASCII that no
atoll name equals, and each label is a target that finds its session again.
10,000 generated cases per property per run (``max_examples``).
"""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atoll.core.errors import AtollError
from atoll.core.sessionref import is_atoll_name, matches, session_label, validate_session_target
from atoll.core.timefmt import rfc3339
from atoll.core.tmuxfmt import (
    FIELD_CAPS,
    FIELDS,
    FormatParseError,
    PaneList,
    _exact_panes,
    parse_panes,
)

FUZZ = settings(max_examples=10_000, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

_BASE = [b"s", b"4242", b"$1", b"100", b"0", b"150", b"%1", b"42", b"0", b"", b"bash", b"t",
         b"claude", b"/p", b"", b"op", b"user", b"", b"", b"", b"", b"", b""]
_BASE += [b""] * (len(FIELDS) - len(_BASE))  # later option fields: empty, as tmux shows unset
_value = st.binary(max_size=40) | st.sampled_from(
    [b"", b"0", b"4194305", b"\xc2\xb2", b"a|b", b"x\n1:y|", b"\xff", b"9" * 21,
     b"253402300800", b"1099511627776", b"256", b"99999"])
_edit = st.tuples(st.integers(0, len(FIELDS) - 1), _value, st.integers(-3, 3))


def _encode(edits: list[tuple[int, bytes, int]], tail: bytes) -> bytes:
    """A record as tmux renders list_panes_format(), with hostile values put in; a
    non-zero third element makes that field's length prefix lie by that much."""
    values, lies = list(_BASE), [0] * len(FIELDS)
    for i, value, lie in edits:
        values[i], lies[i] = value, lie
    out = b""
    for (_k, _v, is_text), value, lie in zip(FIELDS, values, lies, strict=True):
        out += (str(max(0, len(value) + lie)).encode() + b":" if is_text else b"") + value + b"|"
    return out + tail


rows = st.builds(_encode, st.lists(_edit, max_size=3),
                 st.sampled_from([b"\n", b"\n", b"\n", b"", b"|", b"x\n"]))
answers = st.lists(rows, max_size=3).map(b"".join) | st.binary(max_size=300)


def _check(data: bytes, truncated: bool) -> None:
    started = time.process_time()
    try:
        result = parse_panes(data, truncated=truncated)
    except FormatParseError as exc:
        assert isinstance(exc, AtollError) and "\n" not in str(exc)
        return
    finally:
        # time bound, generous (a case takes well under a millisecond): nothing superlinear
        assert time.process_time() - started < 2.0
    # memory bound: what the result keeps is no larger than its input (no amplification)
    kept = sum(len(str(getattr(p, k))) for p in result.panes for k in FIELD_CAPS)
    assert kept <= len(data) + 100 * len(result.panes)
    assert isinstance(result, PaneList)
    assert len(result.panes) <= data.count(b"\n")
    for p in result.panes:
        for key, cap in FIELD_CAPS.items():
            value = getattr(p, key)
            assert len(value.encode("utf-8", "surrogatepass")) <= 3 * cap
        if p.problem is None:
            assert p.session_name and (p.exit_status is None or 0 <= p.exit_status <= 2**16)
            for stamp in (p.session_created, p.window_activity):
                rfc3339(stamp)  # every time tmux gave can be written out
        else:
            assert "\n" not in p.problem


@FUZZ
@given(answers, st.booleans())
def test_parse_panes_returns_or_raises_the_documented_error(data: bytes, cut: bool) -> None:
    _check(data, cut)
    # the split-based fast path reads exactly what the length-driven parser reads
    try:
        fast = parse_panes(data, truncated=cut)
    except FormatParseError:
        fast = None
    try:
        exact = _exact_panes(data, cut)
    except FormatParseError:
        exact = None
    assert fast == exact


@FUZZ
@given(st.text(max_size=120), st.integers(0, 10**6))
def test_labels_are_safe_unique_targets(name: str, sid: int) -> None:
    session_id = f"${sid}"
    label = session_label(name, session_id)
    assert label.isascii() and label.isprintable() and ":" not in label
    assert len(label) <= 80 + 13
    assert is_atoll_name(label) == is_atoll_name(name)
    assert validate_session_target(label) == label
    assert matches(label, name, session_id)
    if not is_atoll_name(name) and label.endswith("'"):  # not cut: the label alone is unique
        assert not matches(label, name + "x", session_id)
