"""Pure view logic: cells, filtering, sorting, grouping, transitions (table-driven)."""

from __future__ import annotations

import pytest

from atoll.core.models import HostRow, Listing
from atoll.tui import model

from .fixtures import NOW, fleet_listing, row


def test_cells_are_formatted_and_cleaned() -> None:
    r = row("x", "exited", idle=125, cpu=None, rss=5 << 20, age=7200, exit_status=3,
            project="/p/[bold]evil\x1b[31m", worktree="b")
    cells = model.row_cells(r, NOW)
    text = [c for c, _ in cells]
    assert text == ["local", "x", "[bold]evil?[31m@b", "claude", "alice", "alice", "exited(3)",
                    "2m", "-", "5M", "2h"]
    assert cells[6][1] == model.STATUS_STYLE["exited"]


@pytest.mark.parametrize("status", ["waiting", "running", "idle", "exited", "lost", "unknown"])
def test_every_status_has_its_own_style(status: str) -> None:
    styles = list(model.STATUS_STYLE.values())
    assert len(set(styles)) == len(styles)
    assert model.STATUS_STYLE[status]  # type: ignore[index]


def test_long_text_is_cut() -> None:
    assert model.clean("a" * 100).endswith("…") and len(model.clean("a" * 100)) == 40


@pytest.mark.parametrize(("text", "expected"), [
    ("", 7),
    ("gpu", 2),
    ("waiting", 1),
    ("EXITED", 1),
    ("alice-agent review", 1),
    ("shop", 4),
    ("nomatch", 0),
])
def test_filter_matches_every_word_in_any_column(text: str, expected: int) -> None:
    rows = fleet_listing().sessions
    assert sum(model.matches(r, text, NOW) for r in rows) == expected


def test_status_sort_puts_waiting_first_then_running_idle_exited() -> None:
    lines = model.layout(fleet_listing().sessions, sort="status", group="none",
                         filter_text="", now=NOW)
    statuses = [line.row.status for line in lines if line.row]
    assert statuses == ["waiting", "running", "running", "running", "idle", "exited", "unknown"]


@pytest.mark.parametrize(("mode", "first"), [
    ("name", "docs"), ("cpu", "train"), ("mem", "train"), ("age", "mystery"),
    ("idle", "nightly"), ("host", "nightly"),
])
def test_other_sorts(mode: str, first: str) -> None:
    lines = model.layout(fleet_listing().sessions, sort=mode, group="none", filter_text="",
                         now=NOW)
    assert lines[0].row is not None and lines[0].row.name == first


def test_grouping_by_host_and_project_adds_headings() -> None:
    lines = model.layout(fleet_listing().sessions, sort="status", group="host",
                         filter_text="", now=NOW)
    heads = [line for line in lines if line.row is None]
    assert [h.cells[0][0] for h in heads] == ["▾ gpu-1 · 2", "▾ local · 5"]
    assert heads[1].cells[1][0] == "1 waiting"
    lines = model.layout(fleet_listing().sessions, sort="status", group="project",
                         filter_text="", now=NOW)
    assert [line.cells[0][0] for line in lines if line.row is None] == [
        "▾ docs · 1", "▾ shop · 2", "▾ shop@fix/login · 1", "▾ shop@review/42 · 1",
        "▾ train · 2"]


def test_grouping_by_person_names_the_operator_and_its_agent_users() -> None:
    sessions = [*fleet_listing().sessions,
                row("orphan", "error", user="carol-agent", by="")]
    lines = model.layout(sessions, sort="status", group="person", filter_text="", now=NOW)
    heads = [(line.cells[0][0], line.cells[1][0]) for line in lines if line.row is None]
    assert heads == [
        ("▾ alice · 5 (as alice, alice-agent)", "1 waiting"),
        ("▾ bob · 2 (as bob-agent)", ""),
        ("▾ carol-agent · 1 (as carol-agent)", "1 error"),  # not launched by atoll
    ]
    under_bob = [line.row.name for line in lines[lines.index(next(
        line for line in lines if line.key == model.group_key("bob"))) + 1:][:2] if line.row]
    assert under_bob == ["train", "nightly"]


def test_a_status_this_version_does_not_know_sorts_last_unstyled() -> None:
    odd = row("odd", "stuck-in-a-new-way")
    lines = model.layout([odd, *fleet_listing().sessions], sort="status", group="none",
                         filter_text="", now=NOW)
    assert lines[-1].row is odd
    assert lines[-1].cells[6] == ("stuck-in-a-new-way", "")


def test_summary_counts_and_host_loads() -> None:
    s = model.summary(fleet_listing(), shown=7, sort="status", group="none", filter_text="",
                      read_only=False)
    assert s.counts == "hosts 2/3  ·  sessions 7  ·  waiting 1  ·  sort status  ·  group none"
    assert s.loads[0] == ("local: 5 sessions, cpu 100%, mem 1012M", False)
    assert s.loads[2] == ("✗ build-2 unreachable: ssh: connect timed out", True)


def test_stale_host_is_a_problem() -> None:
    listing = Listing(hosts=[HostRow(host="b", reachable=True, stale=True, age_seconds=42)],
                      sessions=[])
    s = model.summary(listing, shown=0, sort="status", group="none", filter_text="x",
                      read_only=True)
    assert s.loads == (("b: 0 sessions, cpu -, mem - (stale 42s old)", True),)
    assert "READ-ONLY" in s.counts and "filter 'x' (0 shown)" in s.counts


def test_newly_waiting() -> None:
    a, b = row("a", "waiting"), row("b", "waiting")
    assert model.newly_waiting(None, [a, b]) == []
    before = {model.row_key(a): "running", model.row_key(b): "waiting"}
    assert model.newly_waiting(before, [a, b]) == [a]  # type: ignore[arg-type]
    assert model.newly_waiting({}, [a]) == [a]  # appeared after the first listing


def test_screen_text_keeps_the_bottom_and_cleans() -> None:
    assert model.screen_text("1\n2\n3\x07\n\n\n", 2) == "2\n3?"


def test_the_user_cell_says_when_an_island_has_an_allow_list_or_no_network() -> None:
    import msgspec

    base = row("n1", user="docker:atoll-1234-n1")
    cells = {net: model.row_cells(msgspec.structs.replace(base, net=net), NOW)[4][0]
             for net in ("allow", "none", "net", "")}
    assert cells == {"allow": "docker:atoll-1234-n1 [allow]",
                     "none": "docker:atoll-1234-n1 [no net]",
                     "net": "docker:atoll-1234-n1", "": "docker:atoll-1234-n1"}
