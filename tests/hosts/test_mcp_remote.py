"""Operator mode for a session on another host (``HOST:NAME``): the AI, an agent user on
this side, reaches a session on a real sshd test host through marcus's bridge and the
peer's atoll (``atoll mcp call`` over SSH). The peer's own opening decides there, both
ledgers carry the call with one correlation id, nothing runs until the human presses
Enter on that host, and a hostile peer's answers reach the AI as plain, bounded text."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable

import anyio
import pytest

from atoll.service.operator import ClientInfo, encode_request
from tests.hosts.harness import TestHost
from tests.hosts.testbed import Testbed
from tests.mcp.client import connect
from tests.mcp.test_operator_mode import HOSTILE_TEXT, REFUSED_KEYS
from tests.support.proc import atoll
from tests.support.users import UserFactory

pytestmark = [pytest.mark.root, pytest.mark.slow]


def _peer_screen(host: TestHost, user: str, name: str) -> str:
    out = host.run(["tmux", "-L", "atoll", "capture-pane", "-p", "-t", f"={name}:"],
                   user=user)
    return out.stdout.decode()


def _wait(cond: Callable[[], bool], what: str, limit: float = 20) -> None:
    deadline = time.monotonic() + limit
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_an_ai_prepares_a_line_on_another_host_and_only_the_human_runs_it(
    testbed: Testbed, marcus_config: str, users: UserFactory
) -> None:
    b = testbed.hosts["hostb"]
    name = f"mr{secrets.token_hex(3)}"
    mark = f"/tmp/atoll-mcp-remote-{secrets.token_hex(4)}"
    b.tmux_session("wes-agent", name, "bash", "--norc", "--noprofile")
    _wait(lambda: "$" in _peer_screen(b, "wes-agent", name), "no prompt on hostb")
    ai = users.user(users.name("mrem", "-agent"))
    opened = atoll("mcp", "open", f"b:{name}", "--as", "wes-agent", "--for", ai,
                   user=marcus_config)
    assert opened.returncode == 0, opened.stderr
    # the peer keeps its own opening, to marcus's account there, bound to that session
    peer = json.loads(b.run(["atoll", "mcp", "ls", "--json"], user="marcus").stdout)
    assert [(o["name"], o["server_user"], o["for_user"]) for o in peer["openings"]] == [
        (name, "wes-agent", "marcus")]
    got: dict[str, object] = {}

    async def body() -> None:
        async with connect(ai) as tools:
            err, listed = await tools.call("list_sessions")
            assert not err, listed
            got["listed"] = listed
            err, screen = await tools.call("type_text", session=f"b:{name}",
                                           text=f"touch {mark} # prepared")
            assert not err, screen
            got["typed"] = screen
            rows = json.loads(atoll("ls", "--all-hosts", "--json",
                                    user=marcus_config).stdout)["sessions"]
            got["row"] = next(s for s in rows if s["host"] == "b" and s["name"] == name)
            for text in HOSTILE_TEXT:
                await tools.call("type_text", session=f"b:{name}", text=text)
            for key in REFUSED_KEYS:
                err, msg = await tools.call("send_key", session=f"b:{name}", key=key)
                assert err and "not allowed" in msg, key
            err, screen = await tools.call("read_screen", session=f"b:{name}")
            assert not err and "prepared" in screen["screen"], screen
            err, msg = await tools.call("read_screen", session=f"b:{name}x")
            assert err, "a session that was not opened is visible"

    try:
        anyio.run(body)
        listed = got["listed"]
        assert isinstance(listed, list)
        assert [(s["session"], s["host"]) for s in listed] == [(f"b:{name}", "b")]
        typed = got["typed"]
        assert isinstance(typed, dict)
        assert typed["session"] == f"b:{name}" and "prepared" in typed["screen"]
        time.sleep(1.0)
        assert not b.exists(mark), "a line ran on hostb without Enter"
        # the human on this side sees the prepared line waiting, and to whom it is open
        row = got["row"]
        assert isinstance(row, dict)
        assert row["status"] == "waiting" and row["reason"] == "ai-typed", row
        assert ai in row["opened_to"], row
        # both ledgers hold the type_text with one correlation id
        ours = json.loads(atoll("audit", "show", "--json", "--action", "mcp.type_text",
                                user=marcus_config).stdout)
        intent = next(e for e in ours if e["outcome"] == "intent"
                      and e["target"].get("host") == "b")
        assert intent["details"]["ai_user"] == ai and intent["details"]["via"] == "hostb"
        cid = intent["correlation"]
        theirs = b.run(["grep", "-rl", cid, "/home/marcus/.local/state"], check=False)
        assert theirs.returncode == 0, "the peer's ledger does not carry our correlation id"
        # the human presses Enter on that host: now it runs
        b.run(["tmux", "-L", "atoll", "send-keys", "-t", f"={name}:", "C-e", "Enter"],
              user="wes-agent")
        _wait(lambda: b.exists(mark), "the prepared line did not run on Enter")
        # closing here closes the peer's opening too; the AI loses the session
        closed = atoll("mcp", "close", f"b:{name}", user=marcus_config)
        assert closed.returncode == 0, closed.stderr
        peer = json.loads(b.run(["atoll", "mcp", "ls", "--json"], user="marcus").stdout)
        assert peer["openings"] == []

        async def after() -> None:
            async with connect(ai) as tools:
                err, _ = await tools.call("read_screen", session=f"b:{name}")
                assert err, "a closed session is still readable"

        anyio.run(after)
    finally:
        atoll("mcp", "close", f"b:{name}", user=marcus_config)
        b.run(["tmux", "-L", "atoll", "kill-session", "-t", f"={name}"], user="wes-agent",
              check=False)
        b.run(["rm", "-f", mark], check=False)


def test_the_peer_refuses_a_call_for_a_session_not_opened_there(testbed: Testbed) -> None:
    b = testbed.hosts["hostb"]
    before = _peer_screen(b, "wes-agent", "wes-fix-login")
    for tool, args in (("read_screen", {"session": "wes-fix-login"}),
                       ("type_text", {"session": "wes-fix-login", "text": "echo no"})):
        res = b.run(["atoll", "mcp", "call", encode_request(tool, args, ClientInfo())],
                    user="marcus", check=False)
        assert res.returncode == 3, res.stderr
        assert res.stderr.decode().startswith("atoll: error: ") and not res.stdout
    garbage = b.run(["atoll", "mcp", "call", "not-base64!"], user="marcus", check=False)
    assert garbage.returncode == 2 and b"malformed request" in garbage.stderr
    assert _peer_screen(b, "wes-agent", "wes-fix-login") == before


FAKE = r"""#!/bin/sh
# A hostile peer: answers `mcp open` as a real atoll would, then screens full of escapes.
case "$2" in
open) printf '{"name":"x","server_user":"marcus","session_id":"$4","session_created":5,"for_user":"marcus"}\n' ;;
call) case "$3" in
      *) printf '{"session":"evil","width":80,"height":24,"cursor_x":999,"cursor_y":3,"screen":"top\\u001b]52;c;cHduZWQ=\\u0007mid\\u009b31m\\u001b[2Jend"}\n' ;;
      esac ;;
*) exit 1 ;;
esac
"""

GARBAGE = r"""#!/bin/sh
case "$2" in
open) printf '{"name":"x","server_user":"marcus","session_id":"$4","session_created":5,"for_user":"marcus"}\n' ;;
call) head -c 5000000 /dev/zero | tr '\0' 'A' ;;
esac
"""


def test_a_hostile_peers_screen_reaches_the_ai_as_plain_bounded_text(
    spare_host: Callable[[], TestHost], testbed: Testbed
) -> None:
    host = spare_host()
    host.install_fake_atoll(FAKE)
    opened = atoll("mcp", "open", f"{host.name}:x", user="marcus")
    assert opened.returncode == 0, opened.stderr
    got: dict[str, object] = {}

    async def body() -> None:
        async with connect("marcus") as tools:
            got["read"] = await tools.call("read_screen", session=f"{host.name}:x")
            host.install_fake_atoll(GARBAGE)
            got["garbage"] = await tools.call("read_screen", session=f"{host.name}:x")

    try:
        anyio.run(body)
        err, screen = got["read"]  # type: ignore[misc]
        assert not err, screen
        assert screen["session"] == f"{host.name}:x"  # the peer does not name it
        assert screen["cursor_x"] == 80  # clamped to the width
        text = screen["screen"]
        assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text
        assert text.startswith("top") and text.endswith("end")
        err, msg = got["garbage"]  # type: ignore[misc]
        assert err and host.name in msg and "\n" not in msg.strip(), msg
    finally:
        host.restore_atoll()
        atoll("mcp", "close", f"{host.name}:x", user="marcus")
