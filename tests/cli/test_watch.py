"""``atoll ls --watch``: real tmux sessions appear, change and go in the JSON stream (one
object per change, atoll.core.watch), the load moving alone is no change, Ctrl-C ends it
with status 0, and a bad interval is a usage error."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from typing import Any

from tests.support.proc import atoll, atoll_bin

from atoll.core.models import HostRow, Listing, SessionRow
from atoll.core.watch import WATCH_SCHEMA, changes


def _next(proc: subprocess.Popen[bytes], limit: float = 15) -> dict[str, Any]:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], limit)
    assert ready, "no object from the watch stream"
    line = proc.stdout.readline()
    assert line, "the watch stream ended"
    obj: dict[str, Any] = json.loads(line)
    return obj


def _until(proc: subprocess.Popen[bytes], what: str, pred: Any) -> dict[str, Any]:
    """The first object matching ``pred``; other (real) changes before it are skipped."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        obj = _next(proc)
        assert obj["schema_version"] == WATCH_SCHEMA and obj["time"].endswith("Z")
        if pred(obj):
            return obj
    raise AssertionError(f"no {what} in the stream")


def test_the_json_stream_shows_new_changed_and_gone_sessions(tmux_socket: str) -> None:
    env = {**os.environ, "ATOLL_TMUX_SOCKET": tmux_socket}
    assert atoll("new", "w-one", "--", "sleep", "300", socket=tmux_socket).returncode == 0
    proc = subprocess.Popen([atoll_bin(), "ls", "--watch", "--json", "--interval", "0.5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            bufsize=0)  # unbuffered: select() sees every line
    try:
        first = _next(proc)
        assert first["event"] == "snapshot" and first["schema_version"] == WATCH_SCHEMA
        assert [s["name"] for s in first["sessions"]] == ["w-one"]
        assert atoll("new", "w-two", "--", "sh", "-c", "sleep 1; exit 4",
                     socket=tmux_socket).returncode == 0
        _until(proc, "new w-two", lambda o: o["event"] == "session"
               and o["session"]["name"] == "w-two")
        exited = _until(proc, "w-two exiting", lambda o: o["event"] == "session"
                        and o["session"]["name"] == "w-two"
                        and o["session"]["status"] == "exited")
        assert exited["session"]["exit_status"] == 4
        assert atoll("kill", "w-two", socket=tmux_socket).returncode == 0
        _until(proc, "w-two gone", lambda o: o["event"] == "gone"
               and o["session"]["name"] == "w-two")
        time.sleep(4)  # w-one is idle by now (the activity window is 3 s)
        assert proc.stdout is not None
        while select.select([proc.stdout], [], [], 0)[0]:
            proc.stdout.readline()
        # nothing changes now: no object for a second and a half (w-one only ages)
        assert proc.stdout is not None
        assert select.select([proc.stdout], [], [], 1.5)[0] == []
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_watch_refuses_a_bad_interval(tmux_socket: str) -> None:
    res = atoll("ls", "--watch", "--interval", "0", socket=tmux_socket)
    assert res.returncode == 2 and res.stderr.startswith("atoll: error: ")
    assert "--interval" in res.stderr


def _row(name: str, **over: Any) -> SessionRow:
    base: dict[str, Any] = dict(
        host="local", name=name, agent="shell", project="/p", worktree="", agent_user="u",
        launched_by="u", island="none", status="idle", idle_seconds=3, created=None,
        last_activity=None, attached=0, cpu_percent=1.0, rss_bytes=10, pid=1, command="x",
        exit_status=None)
    return SessionRow(**{**base, **over})


def test_load_and_clock_fields_alone_are_no_change() -> None:
    hosts = [HostRow(host="local", reachable=True)]
    before = Listing(hosts=hosts, sessions=[_row("a"), _row("b")])
    moved = Listing(hosts=hosts, sessions=[_row("a", cpu_percent=50.0, rss_bytes=99,
                                                idle_seconds=40, last_activity="t"),
                                           _row("b", status="waiting", reason="permission")])
    got = changes(before, moved, "T")
    assert [(o["event"], o["session"]["name"]) for o in got] == [("session", "b")]
    down = Listing(hosts=[HostRow(host="local", reachable=True),
                          HostRow(host="b", reachable=False, error="x")], sessions=[])
    assert [o["event"] for o in changes(moved, down, "T")] == ["snapshot"]
