"""The broker's pure rules (atoll.core.broker, atoll.core.crossings): table-driven."""

from __future__ import annotations

import stat

import pytest

from atoll.core.broker import (
    BrokerPathError,
    ExportEntry,
    default_grant_name,
    export_refusal,
    mode_reason,
    protected_reason,
    shown_mode,
    split_path,
    validate_grant_name,
)
from atoll.core.crossings import crossing_rows


@pytest.mark.parametrize("path,want", [
    ("/", ("", ())),
    ("/docs", ("docs", ())),
    ("/docs/a/b.txt", ("docs", ("a", "b.txt"))),
])
def test_split_path(path: str, want: tuple[str, tuple[str, ...]]) -> None:
    assert split_path(path) == want


@pytest.mark.parametrize("path", ["", "docs", "/docs/../etc", "/docs/./a", "/docs//a",
                                  "/docs/a/", "/..", "/docs/a\0b"])
def test_split_path_refuses_what_could_climb(path: str) -> None:
    with pytest.raises(BrokerPathError):
        split_path(path)


@pytest.mark.parametrize("name", ["docs", "a.b-c_d", "0", "x" * 64])
def test_grant_names_accepted(name: str) -> None:
    assert validate_grant_name(name) == name


@pytest.mark.parametrize("name", ["", ".hidden", "-x", "a/b", "..", "x" * 65, "a b", "é"])
def test_grant_names_refused(name: str) -> None:
    with pytest.raises(ValueError):
        validate_grant_name(name)


def test_default_grant_name_is_valid_and_unique() -> None:
    assert default_grant_name("/srv/my docs", set()) == "my_docs"
    assert default_grant_name("/srv/docs", {"docs", "docs-2"}) == "docs-3"
    assert default_grant_name("/srv/...", set()) == "grant"
    validate_grant_name(default_grant_name("/srv/" + "é" * 100, set()))


@pytest.mark.parametrize("rel,refused", [
    (("src", "main.py"), False),
    ((".git", "config"), True),
    (("sub", "repo", ".git", "config"), True),
    ((".git", "hooks"), True),
    ((".git", "hooks", "pre-commit"), True),
    ((".git", "objects", "ab"), False),
    ((".envrc",), True),
    (("a", ".envrc"), True),
    ((".envrc", "x"), False),
])
def test_protected_paths(rel: tuple[str, ...], refused: bool) -> None:
    assert (protected_reason(rel) is not None) is refused


@pytest.mark.parametrize("mode,refused", [
    (stat.S_IFREG | 0o644, False), (stat.S_IFREG | 0o755, True),
    (stat.S_IFREG | 0o4644, True), (stat.S_IFDIR | 0o755, False),
    (stat.S_IFDIR | 0o2755, True), (0o600, False), (0o700, True),
])
def test_mode_rules(mode: int, refused: bool) -> None:
    assert (mode_reason(mode) is not None) is refused


def test_shown_mode_drops_special_and_write_bits() -> None:
    assert shown_mode(stat.S_IFREG | 0o4755, rw=False) == stat.S_IFREG | 0o555
    assert shown_mode(stat.S_IFREG | 0o664, rw=True) == stat.S_IFREG | 0o664


def _e(rel: str, kind: str = "file", mode: int = 0o644, size: int = 1) -> ExportEntry:
    return ExportEntry(rel, kind, mode, size)


@pytest.mark.parametrize("entries,why", [
    ([_e("d", "dir"), _e("d/f")], None),
    ([_e("d/l", "symlink")], "symlink"),
    ([_e("d/p", "other")], "other"),
    ([_e("../x")], "relative"),
    ([_e("/etc/x")], "relative"),
    ([_e("d/.git/hooks/post-checkout")], ".git/hooks"),
    ([_e("d/run.sh", mode=0o755)], "execute"),
    ([_e("f", size=11)], "cap of 10"),
    ([_e(f"f{i}") for i in range(4)], "cap of 3"),
])
def test_export_refusal(entries: list[ExportEntry], why: str | None) -> None:
    got = export_refusal(entries, max_bytes=10, max_files=3)
    assert (got is None) if why is None else (got is not None and why in got)


def _ev(seq: int, action: str, outcome: str, target: dict[str, str],
        details: dict[str, object], user: str = "op") -> dict[str, object]:
    return {"seq": seq, "time": "t", "action": action, "outcome": outcome, "target": target,
            "details": details, "actor": {"user": user}}


def test_crossing_rows_pair_intent_and_outcome_and_name_the_granter() -> None:
    isl = {"island": "user:a"}
    events = [
        _ev(1, "grant.add", "intent", {**isl, "path": "/srv/d"}, {}, user="lead"),
        _ev(2, "grant.add", "ok", {**isl, "path": "/srv/d"}, {"intent": 1}),
        _ev(3, "crossing.read", "intent", {**isl, "grant": "d", "path": "/srv/d/f"},
            {"uid": 5, "pid": 9}),
        _ev(4, "crossing.read", "intent", {**isl, "grant": "d", "path": "/srv/d/g"}, {}),
        _ev(5, "crossing.read", "ok", {**isl, "grant": "d", "path": "/srv/d/f"},
            {"intent": 3, "bytes": 4, "sha256": "ab"}),
        _ev(6, "crossing.egress", "intent", {"island": "docker:c", "path": "x:443"}, {}),
        _ev(7, "session.kill", "intent", {"session": "s"}, {}),
    ]
    rows = crossing_rows(events)
    assert [(r["seq"], r["state"]) for r in rows] == [(3, "closed"), (4, "open"), (6, "open")]
    assert rows[0]["bytes"] == 4 and rows[0]["sha256"] == "ab" and rows[0]["uid"] == 5
    assert rows[0]["granted_by"] == {"user": "lead"} and rows[0]["grant_seq"] == 1
    assert rows[2]["granted_by"] is None  # an egress is not through a grant
    assert [r["seq"] for r in crossing_rows(events, "docker:c")] == [6]


def test_egress_crossings_are_rows_with_host_port_state_and_bytes() -> None:
    from atoll.core.crossings import crossing_rows

    island = {"island": "docker:atoll-12345678-x", "island_id": "atoll-12345678-x"}
    events = [
        {"seq": 1, "action": "crossing.egress", "outcome": "intent", "target": island,
         "details": {"host": "api.example.com", "port": 443, "allowed": True,
                     "address": "93.184.216.34"}},
        {"seq": 2, "action": "crossing.egress", "outcome": "denied", "target": island,
         "details": {"host": "evil.example.com", "port": 443, "allowed": False,
                     "address": None, "reason": "not on the allow-list"}},
        {"seq": 3, "action": "crossing.egress", "outcome": "ok", "target": island,
         "details": {"intent": 1, "bytes_up": 10, "bytes_down": 32, "duration_s": 0.5}},
    ]
    rows = crossing_rows(events, "docker:atoll-12345678-x")
    assert [(r["path"], r["state"], r["allowed"], r["bytes"]) for r in rows] == [
        ("api.example.com:443", "closed", True, 42),
        ("evil.example.com:443", "denied", False, None)]
    assert rows[0]["address"] == "93.184.216.34" and rows[1]["reason"]
