"""Listing does not ask sudo, on every refresh, for agent users the operator has no rule for:
refusals are remembered for fleet.users.REFUSAL_TTL seconds; grants never are, so a revoked
rule hides its agent user at the very next listing. Real sudo, with its own log file as the
witness of every time it was asked."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from tests.support.proc import atoll
from tests.support.users import UserFactory

from atoll.fleet.users import REFUSAL_TTL, not_recently_refused, note_refusals


def asked(log: Path, user: str) -> int:
    if not log.exists():
        return 0
    return sum(1 for line in log.read_text().splitlines() if f"USER={user} ;" in line)


def agent_users(op: str) -> set[str]:
    res = atoll("ls", "--json", user=op)
    assert res.returncode == 0, res.stderr
    return {r["agent_user"] for r in json.loads(res.stdout)["sessions"]}


def test_refusals_are_cached_grants_are_not(users: UserFactory) -> None:
    op = users.user(users.name("srop"))
    mine = users.user(f"{op}-agent")
    other = users.user(users.name("srnot", "-agent"))  # a candidate op has no rule for
    log = Path(f"/var/log/atoll-test-{users.tag}.sudo.log")
    users.write_sudoers(f"atoll-test-{op}-log", f"Defaults:{op} logfile={log}\n")
    rule = users.allow(op, [mine])
    ok = atoll("new", "s1", "--dir", "/tmp", "--", "sleep", "300", user=op)
    assert ok.returncode == 0, ok.stderr
    try:
        start = asked(log, other)
        assert mine in agent_users(op)
        assert asked(log, other) == start + 1  # asked once, refused
        granted = asked(log, mine)
        for _ in range(3):
            assert mine in agent_users(op)
        assert asked(log, other) == start + 1  # the refusal is not asked again
        assert asked(log, mine) >= granted + 3  # the grant is asked every time
        users.revoke(rule)
        assert mine not in agent_users(op)  # a revoked rule vanishes at the next listing
        # a changed sudoers.d forgets every refusal: other is asked again, once
        assert asked(log, other) == start + 2
        assert mine not in agent_users(op)
        assert asked(log, other) == start + 2
        users.allow(op, [mine])  # a new rule: visible at the next listing, not in 60 s
        assert mine in agent_users(op)
    finally:
        log.unlink(missing_ok=True)


def test_refusals_expire(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    now = time.time()
    note_refusals(["a", "b"], ["b"], now)
    assert not_recently_refused(["a", "b"], now + 1) == ["a"]
    assert not_recently_refused(["a", "b"], now + REFUSAL_TTL + 1) == ["a", "b"]
    note_refusals(["b"], [], now + 2)  # allowed now: forgotten at once
    assert not_recently_refused(["a", "b"], now + 3) == ["a", "b"]
    (tmp_path / "atoll" / "sudo-refusals.json").write_text("not json")
    assert not_recently_refused(["a"], now) == ["a"]
