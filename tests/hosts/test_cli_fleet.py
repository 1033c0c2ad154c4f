"""The real CLI across hosts, as the lead ``marcus``: ``ls --all-hosts`` from a config file,
and HOST:NAME actions whose correlation id joins both hosts' ledgers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.hosts.conftest import drive
from tests.hosts.testbed import Testbed
from tests.support.proc import atoll

pytestmark = [pytest.mark.root, pytest.mark.slow]


def test_ls_all_hosts_lists_granted_sessions_and_reports_the_down_host(
    marcus_config: str,
) -> None:
    res = atoll("ls", "--all-hosts", "--json", user=marcus_config)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    hosts = {h["host"]: h for h in data["hosts"]}
    assert set(hosts) == {"local", "b", "c", "d"}
    assert hosts["b"]["reachable"] and hosts["c"]["reachable"]
    assert hosts["d"]["reachable"] is False and hosts["d"]["error"]
    remote = {(s["host"], s["agent_user"], s["name"]) for s in data["sessions"]
              if s["host"] != "local"}
    assert remote == {("b", "wes-agent", "wes-fix-login"), ("b", "nadia-agent", "nadia-review")}
    table = atoll("ls", "--host", "b", user=marcus_config)
    assert table.returncode == 0 and "wes-fix-login" in table.stdout
    assert "nadia-review" in table.stdout


def test_host_name_targets_act_remotely_with_one_correlation_id(
    testbed: Testbed, marcus_config: str
) -> None:
    b = testbed.hosts["hostb"]
    b.tmux_session("wes-agent", "cli-typed")
    res = atoll("type", "b:cli-typed", "--as", "wes-agent", "--", "-echo remote-typed\r",
                user=marcus_config)
    assert res.returncode == 0, res.stderr
    screen = atoll("peek", "b:cli-typed", "--as", "wes-agent", user=marcus_config)
    assert screen.returncode == 0 and "-echo remote-typed" in screen.stdout
    assert atoll("kill", "b:cli-typed", "--as", "wes-agent", user=marcus_config).returncode == 0
    missing = atoll("kill", "b:cli-typed", "--as", "wes-agent", user=marcus_config)
    assert missing.returncode == 3 and missing.stderr.startswith("atoll: error: ")
    down = atoll("peek", "d:x", user=marcus_config)
    assert down.returncode == 5
    # both ledgers hold the kill with the same correlation id
    ours = json.loads(atoll("audit", "show", "--json", "--action", "session.kill",
                            user=marcus_config).stdout)
    cid = next(e["correlation"] for e in ours if e["outcome"] == "intent"
               and e["target"].get("host") == "b")
    assert cid
    theirs = b.run(["grep", "-rl", cid, "/home/marcus/.local/state"], check=False)
    assert theirs.returncode == 0, "the peer's ledger does not carry our correlation id"


def test_fleet_view_actions_each_carry_their_own_correlation_id(
    testbed: Testbed, marcus_config: str
) -> None:
    """Two remote actions from one long-lived fleet-view process: each has its own id, and
    each id is in both ledgers (a cached Audit once stamped the first id, or none, locally)."""
    b = testbed.hosts["hostb"]
    names = ["fv-one", "fv-two"]
    for name in names:
        b.tmux_session("wes-agent", name)
    out = drive(testbed, "fleet-kill", "b", *names)
    assert sorted(out["killed"]) == names
    ours = json.loads(atoll("audit", "show", "--json", "--action", "session.kill",
                            user=marcus_config).stdout)
    mine = [e for e in ours if e["target"].get("session") in names]
    assert len(mine) == 4  # intent and ok of each kill
    ids = {e["target"]["session"]: set() for e in mine}
    for e in mine:
        ids[e["target"]["session"]].add(e["correlation"])
        if e["outcome"] == "intent":
            assert e["details"].get("via") == "hostb"  # the SSH alias is a field of its own
    one, two = (ids[n] for n in names)
    assert len(one) == 1 and len(two) == 1 and None not in one | two and one != two
    for cid in one | two:
        theirs = b.run(["grep", "-rl", str(cid), "/home/marcus/.local/state"], check=False)
        assert theirs.returncode == 0, f"the peer's ledger does not carry {cid}"


def test_key_and_logs_reach_a_peer_and_every_action_has_one_record_shape(
    testbed: Testbed, marcus_config: str
) -> None:
    """``key`` and ``logs`` take HOST:NAME like the other actions (issue 12: every use case
    dispatches in service), and a peer action's records have the local action's shape:
    target {host, session, agent_user}, the same details plus ``via``."""
    b = testbed.hosts["hostb"]
    b.tmux_session("wes-agent", "cli-shape")
    try:
        _key_and_logs(b, marcus_config)
    finally:  # the testbed is shared: leave hostb's sessions as other tests expect them
        atoll("kill", "b:cli-shape", "--as", "wes-agent", user=marcus_config)


def _key_and_logs(b: Any, marcus_config: str) -> None:
    typed = atoll("type", "b:cli-shape", "--as", "wes-agent", "--", "echo shape-typed",
                  user=marcus_config)
    assert typed.returncode == 0, typed.stderr
    key = atoll("key", "b:cli-shape", "--as", "wes-agent", "Enter", "--enter",
                user=marcus_config)
    assert key.returncode == 0, key.stderr
    logs = atoll("logs", "b:cli-shape", "--as", "wes-agent", "-n", "50", user=marcus_config)
    assert logs.returncode == 0 and "shape-typed" in logs.stdout, logs.stderr
    ours = json.loads(atoll("audit", "show", "--json", user=marcus_config).stdout)
    mine = [e for e in ours if e["target"].get("session") == "cli-shape"
            and e["outcome"] == "intent"]
    assert [e["action"] for e in mine] == ["session.type", "session.key", "session.logs"]
    for e in mine:
        assert e["target"] == {"host": "b", "session": "cli-shape", "agent_user": "wes-agent"}
        assert e["details"]["via"] == "hostb" and e["correlation"]
        theirs = b.run(["grep", "-rl", e["correlation"], "/home/marcus/.local/state"],
                       check=False)
        assert theirs.returncode == 0, f"the peer's ledger does not carry {e['action']}'s id"
    assert set(mine[0]["details"]) == {"text", "sha256", "enter", "removed", "via"}
    assert mine[1]["details"] == {"keys": ["Enter"], "enter": True, "via": "hostb"}
    assert mine[2]["details"] == {"lines": 50, "via": "hostb"}
