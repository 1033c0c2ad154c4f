"""Attaching to a session on another host, in a real terminal: ``atoll attach HOST:NAME``
and Enter on another host's row in the fleet view both run ``ssh -t HOST atoll attach``;
the peer's tmux client shows the remote screen, C-b d detaches it, and both ledgers hold
the attach with one correlation id."""

from __future__ import annotations

import json
import pwd
from pathlib import Path

import pytest

from tests.hosts.testbed import Testbed
from tests.support.proc import atoll, atoll_bin
from tests.support.terminal import Terminal

pytestmark = [pytest.mark.root, pytest.mark.slow]

MARKER = "remote-attach-marker"


def as_marcus(*argv: str) -> list[str]:
    pw = pwd.getpwnam("marcus")
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": pw.pw_dir, "USER": "marcus",
           "LOGNAME": "marcus", "LANG": "C.UTF-8", "TERM": "xterm-256color"}
    return ["runuser", "-u", "marcus", "--", "env", "-i",
            *(f"{k}={v}" for k, v in env.items()), *argv]


def clients(bed: Testbed, user: str) -> list[str]:
    res = bed.hosts["hostb"].run(["tmux", "-L", "atoll", "list-clients", "-F",
                                  "#{session_name} ro=#{client_readonly}"], user=user,
                                 check=False)
    return res.stdout.decode().split("\n")[:-1]


def remote_session(bed: Testbed, name: str) -> None:
    bed.hosts["hostb"].tmux_session("wes-agent", name, "sh", "-c",
                                    f"echo {MARKER}-{name}; exec sleep 100000")


def ledger(action: str) -> list[dict[str, object]]:
    res = atoll("audit", "show", "--json", "--action", action, user="marcus")
    assert res.returncode == 0, res.stderr
    events: list[dict[str, object]] = json.loads(res.stdout)
    return events


def test_cli_attach_host_name_in_a_real_terminal(testbed: Testbed, marcus_config: str) -> None:
    remote_session(testbed, "ra-cli")
    script = (f'{atoll_bin()} attach b:ra-cli --as wes-agent --read-only; '
              'echo "atoll-exit=$?"; sleep 600')
    term = Terminal(as_marcus("sh", "-c", script), {}, Path("/tmp"))
    try:
        term.wait(lambda s: f"{MARKER}-ra-cli" in s, "the remote session's screen")
        assert clients(testbed, "wes-agent") == ["ra-cli ro=1"]  # read-only, on hostb
        term.keys("C-b", "d")
        term.wait(lambda s: "atoll-exit=0" in s, "atoll attach to return")
        assert clients(testbed, "wes-agent") == []
    finally:
        term.close()
    mine = [e for e in ledger("session.attach")
            if e["target"] == {"host": "b", "session": "ra-cli", "agent_user": "wes-agent"}]
    assert mine and all(e["correlation"] for e in mine)
    theirs = testbed.hosts["hostb"].run(
        ["grep", "-rl", str(mine[-1]["correlation"]), "/home/marcus/.local/state"], check=False)
    assert theirs.returncode == 0, "the peer's ledger does not carry our correlation id"


def test_fleet_view_enter_on_a_remote_row_attaches_over_ssh(
    testbed: Testbed, marcus_config: str
) -> None:
    remote_session(testbed, "ra-tui")
    term = Terminal(as_marcus(atoll_bin()), {}, Path("/tmp"))
    try:
        term.wait(lambda s: "ra-tui" in s and "wes-fix-login" in s, "the fleet view")
        term.keys("/")
        term.wait(lambda s: "filter" in s.lower(), "the filter input")
        term.keys("ra-tui", literal=True)
        term.keys("Enter")
        term.wait(lambda s: "(1 shown)" in s, "the filtered row")
        term.keys("Enter")
        seen = term.wait(lambda s: f"{MARKER}-ra-tui" in s, "the remote session's screen")
        assert "wes-fix-login" not in seen  # the fleet view stepped aside
        assert clients(testbed, "wes-agent") == ["ra-tui ro=0"]
        term.keys("C-b", "d")
        back = term.wait(lambda s: "back from" in s, "the fleet view again")
        assert "(1 shown)" in back
        assert clients(testbed, "wes-agent") == []
        term.keys("q")
    finally:
        term.close()
    attach = [e for e in ledger("session.attach") if e["target"] ==
              {"host": "b", "session": "ra-tui", "agent_user": "wes-agent"}]
    detach = [e for e in ledger("session.detach") if e["target"] ==
              {"host": "b", "session": "ra-tui", "agent_user": "wes-agent"}]
    assert attach and detach and detach[-1]["details"] == {"status": 0, "switch": False,
                                                        "via": "hostb"}
