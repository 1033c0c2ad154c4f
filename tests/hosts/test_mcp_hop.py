"""Operator mode across an SSH hop: the human's session runs ``ssh hosta`` (a real sshd test
host), the AI (an agent user here) types into the remote shell through ``atoll mcp``.
Nothing runs on hosta until the human presses Enter, and C-d, which would end the hop so
that later text lands on this side, is refused."""

from __future__ import annotations

import secrets
import time

import anyio
import pytest

from tests.hosts.testbed import Testbed
from tests.mcp.client import connect
from tests.mcp.test_operator_mode import HOSTILE_TEXT, REFUSED_KEYS
from tests.support.proc import atoll, run_as
from tests.support.users import UserFactory

pytestmark = [pytest.mark.root, pytest.mark.slow]


def test_a_remote_shell_behind_ssh_runs_nothing_until_enter(testbed: Testbed,
                                                            users: UserFactory) -> None:
    ai = users.user(users.name("mhop", "-agent"))
    hosta = testbed.hosts["hosta"]
    mark = f"/tmp/atoll-mcp-hop-{secrets.token_hex(4)}"
    res = atoll("new", "hop", "--as", "marcus", "--", "ssh", "hosta", user="marcus")
    assert res.returncode == 0, res.stderr
    deadline = time.monotonic() + 30
    while "marcus@" not in atoll("peek", "hop", "--as", "marcus", user="marcus").stdout:
        assert time.monotonic() < deadline, "no remote prompt on hosta"
        time.sleep(0.3)
    assert atoll("mcp", "open", "hop", "--for", ai, user="marcus").returncode == 0

    async def body() -> None:
        async with connect(ai) as tools:
            assert not (await tools.call("type_text", session="hop", text=f"touch {mark} #"))[0]
            for text in HOSTILE_TEXT:
                await tools.call("type_text", session="hop", text=text)
            for key in REFUSED_KEYS:
                err, msg = await tools.call("send_key", session="hop", key=key)
                assert err and "not allowed" in msg, key

    try:
        anyio.run(body)
        time.sleep(1.0)
        assert not hosta.exists(mark), "a line ran on hosta without Enter"
        peek = atoll("peek", "hop", "--as", "marcus", user="marcus").stdout
        assert "marcus@" in peek, "the SSH hop ended (C-d got through?)"
        run_as("marcus", ["tmux", "-L", "atoll", "send-keys", "-t", "=hop:", "Enter"])
        deadline = time.monotonic() + 15
        while not hosta.exists(mark):
            assert time.monotonic() < deadline, "the prepared line did not run on Enter"
            time.sleep(0.2)
    finally:
        atoll("mcp", "close", "hop", user="marcus")
        atoll("kill", "hop", "--as", "marcus", user="marcus")
