"""tmux format parsing, status classification and load arithmetic (pure, table-driven)."""

from __future__ import annotations

import pytest

from atoll.core.load import Proc, children_map, cpu_percent, rss_total, tree
from atoll.core.status import Evidence, classify
from atoll.core.tmuxfmt import (
    FIELDS,
    MAX_PANES,
    FormatParseError,
    escape_arg,
    escape_format,
    list_panes_format,
    parse_list_panes,
    parse_panes,
)


def encode(values: dict[str, str]) -> bytes:
    """Build one record the way tmux renders list_panes_format()."""
    out = b""
    for key, _var, is_text in FIELDS:
        raw = values.get(key, "").encode()
        out += (str(len(raw)).encode() + b":" + raw + b"|") if is_text else raw + b"|"
    return out + b"\n"


BASE = {"session_name": "s", "session_id": "$1", "session_created": "100", "session_attached": "0",
        "window_activity": "150", "pane_id": "%1", "pane_pid": "42", "pane_dead": "0",
        "pane_dead_status": "", "pane_current_command": "bash", "pane_title": "t",
        "agent": "claude"}


def test_format_has_every_field_length_prefixed_when_text() -> None:
    fmt = list_panes_format()
    for _key, var, is_text in FIELDS:
        assert (f"#{{n:{var}}}:#{{{var}}}|" in fmt) == is_text


def test_parse_roundtrip() -> None:
    recs = parse_list_panes(encode(BASE) + encode({**BASE, "session_name": "t", "pane_dead": "1",
                                                   "pane_dead_status": "7"}))
    assert [r.session_name for r in recs] == ["s", "t"]
    assert recs[0].pane_pid == 42 and recs[0].window_activity == 150 and not recs[0].pane_dead
    assert recs[1].pane_dead and recs[1].pane_dead_status == 7
    assert recs[0].agent == "claude" and recs[0].project == ""


def test_hostile_values_cannot_forge_fields_or_rows() -> None:
    forged = "x|9:forged|\n2:zz|"
    evil = {**BASE, "project": forged, "pane_title": "a\nb\tc|d"}
    recs = parse_list_panes(encode(evil) + encode({**BASE, "agent": "a|b", "session_name": "u"}))
    assert [r.session_name for r in recs] == ["s", "u"]
    # a control character in an atoll option fails that row alone, with a reason
    assert recs[0].problem == "project holds control characters" and recs[0].project == ""
    assert recs[0].pane_title == "a?b?c|d"  # tmux's own text is shown, controls replaced
    assert recs[0].agent == "claude"
    assert recs[1].problem is None and recs[1].agent == "a|b"


@pytest.mark.parametrize(
    ("values", "problem"),
    [({"exit": "\u00b2"}, "exit is not a number"),
     ({"exit": "1" * 9}, "exit is 9 bytes (at most 8)"),
     ({"project": "x" * 75_000}, "project is 75000 bytes (at most 4096)"),
     ({"pane_pid": "4x"}, "pane_pid is not a number"),
     ({"pane_pid": "9" * 20}, "pane_pid out of range"),
     ({"pane_pid": "0"}, "pane_pid out of range"),
     ({"created": "yesterday"}, "created is not an RFC 3339 time"),
     ({"launched_by": "\xe9t\u00e9\x07"}, "launched_by holds control characters"),
     ({"pane_id": "%1;rm"}, "pane_id is not a tmux id"),
     ({"session_name": ""}, "empty session name")],
)
def test_bad_field_is_that_rows_problem(values: dict[str, str], problem: str) -> None:
    (bad, good) = parse_list_panes(encode({**BASE, **values}) + encode({**BASE, "session_name": "g"}))
    assert bad.problem == problem and bad.exit_status is None
    assert good.problem is None and good.session_name == "g" and good.pane_pid == 42


def test_non_utf8_option_is_a_problem() -> None:
    raw = encode(BASE).replace(b"6:claude|", b"2:\xff\xfe|")
    (rec,) = parse_list_panes(raw)
    assert rec.problem == "agent is not UTF-8"


def test_answer_over_its_byte_cap_keeps_whole_rows() -> None:
    one = encode(BASE)
    data = (one * 10)[: len(one) * 3 + 5]  # cut inside the fourth row
    listed = parse_panes(data, truncated=True)
    assert len(listed.panes) == 3 and listed.problem is not None
    assert "larger than" in listed.problem


def test_answer_over_its_row_cap() -> None:
    listed = parse_panes(encode(BASE) * (MAX_PANES + 5))
    assert len(listed.panes) == MAX_PANES
    assert listed.problem == f"more than {MAX_PANES} panes; the rest are not shown"


@pytest.mark.parametrize(
    "data",
    [b"garbage\n", b"3:abc", encode(BASE)[:-2],
     b"99999999:x|", encode(BASE).replace(b"\n", b"|"), b"12345678901:x|"],
)
def test_malformed_output_is_an_error(data: bytes) -> None:
    with pytest.raises(FormatParseError):
        parse_list_panes(data)


@pytest.mark.parametrize(
    ("arg", "escaped"),
    [("a", "a"), ("a;", "a\\;"), (";", "\\;"), ("a\\;", "a\\\\;"), ("a;b", "a;b")],
)
def test_escape_arg(arg: str, escaped: str) -> None:
    assert escape_arg(arg) == escaped


def test_escape_format() -> None:
    assert escape_format("/tmp/#(id)") == "/tmp/##(id)"


NOW = 1000.0


@pytest.mark.parametrize(
    ("ev", "status", "idle", "source"),
    [
        (Evidence("claude", dead=True, dead_status=3, window_activity=900), "exited", 100, "dead"),
        (Evidence("claude", hook_state="waiting", window_activity=999), "waiting", None, "hook"),
        (Evidence("claude", hook_state="idle", window_activity=940,
                  screen="esc to interrupt"), "idle", 60, "hook"),
        (Evidence("claude", window_activity=990,
                  screen="Do you want to proceed?\n❯ 1. Yes"), "waiting", 10, "screen"),
        (Evidence("claude", window_activity=500, screen="✻ Thinking… (esc to interrupt)"),
         "running", None, "screen"),
        (Evidence("shell", window_activity=999, screen="$ "), "running", None, "activity"),
        (Evidence("shell", window_activity=900, screen="$ "), "idle", 100, "activity"),
        (Evidence("shell", window_activity=None, screen="$ "), "unknown", None, "none"),
        (Evidence("custom", window_activity=100, screen="Overwrite? [y/N] "), "waiting", 900,
         "screen"),
    ],
)
def test_classify(ev: Evidence, status: str, idle: int | None, source: str) -> None:
    v = classify(ev, NOW)
    assert (v.status, v.idle_seconds, v.source) == (status, idle, source)
    if status == "exited":
        assert v.exit_status == ev.dead_status


def test_load_tree_cpu_rss() -> None:
    before = {1: Proc(0, 1.0, 0.0, 10), 10: Proc(1, 5.0, 1.0, 100), 11: Proc(10, 6.0, 2.0, 200),
              12: Proc(11, 7.0, 0.5, 300), 20: Proc(1, 8.0, 9.0, 50)}
    after = {**before, 10: Proc(1, 5.0, 1.5, 100), 11: Proc(10, 6.0, 3.0, 200),
             13: Proc(11, 9.0, 0.25, 400)}
    del after[12]
    kids = children_map(after)
    pids = tree(10, kids, after)
    assert sorted(pids) == [10, 11, 13]
    assert rss_total(pids, after) == 700
    # 0.5 + 1.0 + 0.25 (new process) over 2 s = 87.5 %
    assert cpu_percent(pids, before, after, 2.0) == 87.5
    # pid reuse: same pid, different start time counts from zero
    reused = {**after, 11: Proc(10, 99.0, 0.5, 200)}
    assert cpu_percent([11], before, reused, 1.0) == 50.0
    assert cpu_percent(pids, before, after, 0) is None
    assert tree(999, kids, after) == []


def test_long_title_is_cut_not_a_problem() -> None:
    # a pane's title is whatever its program printed (OSC 2), not an atoll option
    (rec,) = parse_list_panes(encode({**BASE, "pane_title": "\u00e9" * 3000}))
    assert rec.problem is None and len(rec.pane_title.encode()) <= 1024 + 2
