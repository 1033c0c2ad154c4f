"""A remote attach survives its SSH connection being cut (issue 18, point 4): with
``atoll attach HOST:NAME`` (and the fleet view's attach of another host's row, the same
:func:`atoll.service.remote.attach_loop`) in a real terminal, the sshd child serving the
connection on the host is killed mid-attach; atoll says so in one line, reconnects by
itself, and the peer's tmux has the client back, on the same untouched session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hosts.harness import wait_until
from tests.hosts.test_remote_attach import MARKER, as_marcus, clients, ledger, remote_session
from tests.hosts.testbed import Testbed
from tests.support.proc import atoll_bin
from tests.support.terminal import Terminal

pytestmark = [pytest.mark.root, pytest.mark.slow]


def cut_connections(bed: Testbed) -> int:
    """SIGKILL the sshd children of hostb (every live connection), not its listener;
    returns how many were killed."""
    host = bed.hosts["hostb"]
    listener = host.run(["cat", "/run/sshd.pid"]).stdout.decode().strip()
    children = [p for p in host.sshd_pids() if str(p) != listener]
    assert children, "no sshd connection to cut"
    host.run(["kill", "-KILL", *map(str, children)], check=False)
    return len(children)


def session_pid(bed: Testbed, name: str) -> str:
    res = bed.hosts["hostb"].run(["tmux", "-L", "atoll", "display-message", "-p", "-t",
                                  f"={name}:", "#{pane_pid}"], user="wes-agent")
    return res.stdout.decode().strip()


def test_cli_attach_reconnects_when_its_connection_is_cut(
    testbed: Testbed, marcus_config: str
) -> None:
    remote_session(testbed, "rc-cli")
    before = session_pid(testbed, "rc-cli")
    script = (f'{atoll_bin()} attach b:rc-cli --as wes-agent; '
              'echo "atoll-exit=$?"; sleep 600')
    term = Terminal(as_marcus("sh", "-c", script), {}, Path("/tmp"))
    try:
        term.wait(lambda s: f"{MARKER}-rc-cli" in s, "the remote session's screen")
        assert clients(testbed, "wes-agent") == ["rc-cli ro=0"]
        cut_connections(testbed)
        term.wait(lambda s: "connection to b lost; reconnecting to rc-cli" in s,
                  "the reconnect notice")
        wait_until(lambda: clients(testbed, "wes-agent") == ["rc-cli ro=0"],
                   "the client back on hostb", deadline=30)
        term.wait(lambda s: f"{MARKER}-rc-cli" in s and "atoll-exit" not in s,
                  "the session's screen again")
        assert session_pid(testbed, "rc-cli") == before  # the session was not touched
        term.keys("C-b", "d")  # detaching still ends it, with no reconnect
        term.wait(lambda s: "atoll-exit=0" in s, "atoll attach to return")
        assert clients(testbed, "wes-agent") == []
    finally:
        term.close()
    target = {"host": "b", "session": "rc-cli", "agent_user": "wes-agent"}
    assert [e for e in ledger("session.reconnect") if e["target"] == target]
    detach = [e for e in ledger("session.detach") if e["target"] == target]
    assert detach and detach[-1]["details"]["status"] == 0


def test_lost_ended_and_resume_across_hosts(testbed: Testbed, marcus_config: str) -> None:
    """A session started on hostb with `new --host` whose tmux session dies there is
    `lost` in this host's fleet listing; `resume b:NAME` has hostb start it again;
    `kill b:NAME` ends it, and `ls --host b --all` still shows it."""
    import json

    from tests.support.proc import atoll

    def rows(*extra: str) -> dict[str, dict[str, object]]:
        res = atoll("ls", "--host", "b", "--json", *extra, user=marcus_config)
        assert res.returncode == 0, res.stderr
        return {r["name"]: r for r in json.loads(res.stdout)["sessions"]}

    res = atoll("new", "rs-far", "--host", "b", "--as", "wes-agent", "--dir", "/tmp", "--",
                "sleep", "100000", user=marcus_config)
    assert res.returncode == 0, res.stderr
    try:
        testbed.hosts["hostb"].run(["tmux", "-L", "atoll", "kill-session", "-t", "=rs-far"],
                                   user="wes-agent")  # gone behind atoll's back
        lost = rows()["rs-far"]
        assert lost["status"] == "lost" and lost["launched_by"] == "marcus"
        res = atoll("resume", "b:rs-far", user=marcus_config)
        assert res.returncode == 0, res.stderr
        assert rows()["rs-far"]["status"] != "lost"
    finally:
        atoll("kill", "b:rs-far", "--as", "wes-agent", user=marcus_config)
    assert "rs-far" not in rows()
    assert rows("--all")["rs-far"]["ended"]
