"""Operator mode for real: ``atoll mcp`` driven by the official MCP SDK client over stdio,
the AI running as an agent user, the human's terminal a real bash / cat / python in the
operator's real tmux server, the bridge a real process of the operator's.

Cast: operator OP (a human with a shell session ``term``), AI, the agent user the AI runs
as (``OP-agent``), and AI2, another agent user with nothing opened to it. Nothing the AI
does may run a line: each test proves it by checking a marker file is still missing, and
then presses Enter as the human to show the line was really there.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.mcp.client import connect
from tests.support.proc import atoll, run_as
from tests.support.users import UserFactory

SOCKET = "atoll"  # throwaway users, so their default servers are throwaway too

#: Keys that submit, interrupt or lead to a submission (and spellings of them).
REFUSED_KEYS = [
    "Enter", "C-m", "C-j", "KPEnter", "C-o", "C-d", "C-x", "C-c", "Escape", "M-#", "M-Enter",
    "C-M", "enter", "Enter ", "M-1", "M-v", "C-e", "Space", "C-z", "F1", "\r", "\n", "^M",
    "0x0d", "C-[", "Escape Enter", "Enter\x00", "BTab",
]
#: Text that tries to press Enter, end a paste or send an escape, typed after a command.
HOSTILE_TEXT = [
    "\r", "\n", "\r\n", " x\x0d", "\x1b[201~", "\x1b[200~y\x1b[201~\r", "\x9b201~", "\x85",
    "\x1bOM", "\x1b\r", "Enter", "C-m", "\x00\r", "\x04", "\x0f", "\x18\x05", "\u2028",
]


@dataclass
class Cast:
    op: str
    ai: str
    ai2: str
    factory: UserFactory


@pytest.fixture(scope="module")
def cast(users: UserFactory) -> Iterator[Cast]:
    op = users.user(users.name("mcop"))
    ai = users.user(f"{op}-agent")
    ai2 = users.user(users.name("mcoq", "-agent"))
    users.allow(op, [ai])
    assert atoll("--version", user=op).returncode == 0
    yield Cast(op, ai, ai2, users)
    shutil.rmtree(f"/tmp/atoll-mcp-{pwd.getpwnam(op).pw_uid}", ignore_errors=True)


def home(user: str) -> Path:
    return Path(pwd.getpwnam(user).pw_dir)


def ledger(user: str) -> list[dict[str, Any]]:
    path = home(user) / ".local/state/atoll/ledger.jsonl"
    return [json.loads(line) for line in path.read_text().split("\n") if line]  # not splitlines: U+2028


def new_term(cast: Cast, name: str, *command: str) -> None:
    res = atoll("new", name, "--as", cast.op, "--", *command, user=cast.op)
    assert res.returncode == 0, res.stderr
    time.sleep(0.5)  # the program's prompt


def open_to(cast: Cast, name: str, user: str) -> None:
    res = atoll("mcp", "open", name, "--for", user, user=cast.op)
    assert res.returncode == 0, res.stderr


def human(cast: Cast, name: str, *keys: str) -> None:
    """The human presses keys in the operator's own tmux server."""
    res = run_as(cast.op, ["tmux", "-L", SOCKET, "send-keys", "-t", f"={name}:", *keys])
    assert res.returncode == 0, res.stderr


def kill(cast: Cast, name: str) -> None:
    atoll("kill", name, "--as", cast.op, user=cast.op)


def marker() -> Path:
    path = Path(f"/tmp/atoll-mcp-mark-{secrets.token_hex(4)}")
    path.unlink(missing_ok=True)
    return path


def wait_for(path: Path, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.1)
    return False


def run(coro: Any) -> Any:
    return anyio.run(coro)


def test_exactly_five_tools_and_only_opened_sessions(cast: Cast) -> None:
    new_term(cast, "term", "bash", "--norc", "--noprofile", "-i")
    new_term(cast, "secret", "bash", "--norc", "--noprofile", "-i")
    open_to(cast, "term", cast.ai)

    async def body() -> None:
        async with connect(cast.ai) as ai:
            assert await ai.tools() == ["list_sessions", "read_screen", "send_key",
                                        "type_text", "wait_for_screen"]
            err, listed = await ai.call("list_sessions")
            assert not err, listed
            assert [s["session"] for s in listed] == ["term"]
            assert listed[0]["width"] > 0 and listed[0]["status"]
            err, screen = await ai.call("read_screen", session="term", lines=10)
            assert not err and ("$" in screen["screen"] or "#" in screen["screen"])
            for tool, args in [("read_screen", {}), ("type_text", {"text": "x"}),
                               ("send_key", {"key": "Left"}),
                               ("wait_for_screen", {"timeout_s": 0.5})]:
                err, msg = await ai.call(tool, session="secret", **args)
                assert err and "is open to this AI" in msg, (tool, msg)
        async with connect(cast.ai2) as other:
            err, listed = await other.call("list_sessions")
            assert not err and listed == []
            err, msg = await other.call("read_screen", session="term")
            assert err

    run(body)
    denied = [r for r in ledger(cast.op) if r["outcome"] == "denied"]
    assert any(r["target"]["session"] == "secret" and r["details"]["ai_user"] == cast.ai
               for r in denied)
    # nothing is open to AI2, so the bridge has no socket it could even connect to
    op_uid, ai2_uid = pwd.getpwnam(cast.op).pw_uid, pwd.getpwnam(cast.ai2).pw_uid
    assert not os.path.exists(f"/tmp/atoll-mcp-{op_uid}/for-{ai2_uid}.sock")


@pytest.mark.parametrize("mode", ["emacs", "vi", "lang-c"])
def test_nothing_the_ai_sends_runs_a_line_in_bash(cast: Cast, mode: str) -> None:
    name = f"b{mode}"
    env = ["env", "EDITOR=vi", "VISUAL=vi", "HISTFILE=/dev/null"] + (["LANG=C", "LC_ALL=C"] if mode == "lang-c"
                                               else ["LANG=C.UTF-8"])
    rc = home(cast.op) / f".bashrc-{mode}"
    rc.write_text("set -o vi\n" if mode == "vi" else "")
    os.chown(rc, pwd.getpwnam(cast.op).pw_uid, -1)
    new_term(cast, name, *env, "bash", "--noprofile", "--rcfile", str(rc), "-i")
    open_to(cast, name, cast.ai)
    mark = marker()

    async def body() -> None:
        async with connect(cast.ai) as ai:
            err, _ = await ai.call("type_text", session=name, text=f"touch {mark}")
            assert not err
            # vi mode: BTab's ESC would switch to command mode, where v then ZZ runs the line
            assert (await ai.call("send_key", session=name, key="BTab"))[0]
            await ai.call("type_text", session=name, text=" vZZ")
            for text in HOSTILE_TEXT:
                await ai.call("type_text", session=name, text=text)
            for text in ["\u2c63", "\u010d", "caf\u00e9", "\u00ff\u00fe"]:
                err, msg = await ai.call("type_text", session=name, text=text)
                if mode == "lang-c":
                    assert err and "ASCII only" in msg, msg
            for key in REFUSED_KEYS:
                err, msg = await ai.call("send_key", session=name, key=key)
                assert err and "not allowed" in msg, key
            for key in ["Left", "Right", "Home", "End", "Tab", "DC", "PPage", "NPage"]:
                err, msg = await ai.call("send_key", session=name, key=key)
                assert not err, (key, msg)

    run(body)
    time.sleep(1.0)
    assert not mark.exists(), f"a line ran without Enter in {mode} mode"
    # the line is really there: the human presses C-e Enter and it runs
    human(cast, name, "End")
    human(cast, name, "Enter")
    assert wait_for(mark), "the typed command did not run when the human pressed Enter"
    mark.unlink()
    kill(cast, name)


def test_cat_and_python_repl_receive_nothing_until_enter(cast: Cast) -> None:
    out = Path(f"/tmp/atoll-mcp-cat-{secrets.token_hex(4)}")
    new_term(cast, "cat", "sh", "-c", f"cat > {out}")
    new_term(cast, "py", "python3", "-q")
    open_to(cast, "cat", cast.ai)
    open_to(cast, "py", cast.ai)
    mark = marker()

    async def body() -> None:
        async with connect(cast.ai) as ai:
            assert not (await ai.call("type_text", session="cat", text="hello from ai"))[0]
            for text in HOSTILE_TEXT:
                await ai.call("type_text", session="cat", text=text)
            for key in ["C-d", "Enter", "C-j", "C-m"]:
                assert (await ai.call("send_key", session="cat", key=key))[0]
            assert not (await ai.call("type_text", session="py",
                                      text=f"open('{mark}', 'w').close()  # "))[0]
            for text in HOSTILE_TEXT:
                await ai.call("type_text", session="py", text=text)

    run(body)
    time.sleep(1.0)
    assert out.read_text() == "", "cat received a line without Enter"
    assert not mark.exists(), "the Python REPL ran a line without Enter"
    human(cast, "cat", "Enter")
    human(cast, "py", "Enter")
    assert wait_for(mark)
    deadline = time.monotonic() + 10
    while "hello from ai" not in out.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert out.read_text().startswith("hello from ai")
    for n in ("cat", "py"):
        kill(cast, n)
    out.unlink()
    mark.unlink()


def test_ledger_records_each_ai_action_before_it_happens(cast: Cast) -> None:
    new_term(cast, "led", "bash", "--norc", "--noprofile", "-i")
    open_to(cast, "led", cast.ai)

    async def body() -> None:
        async with connect(cast.ai) as ai:
            assert not (await ai.call("type_text", session="led", text="echo ledger"))[0]
            assert not (await ai.call("send_key", session="led", key="Left"))[0]

    run(body)
    recs = [r for r in ledger(cast.op) if r["target"].get("session") == "led"]
    typed = [r for r in recs if r["action"] == "mcp.type_text"]
    assert [r["outcome"] for r in typed] == ["intent", "ok"]
    intent = typed[0]["details"]
    import hashlib

    assert intent["text"] == "echo ledger"
    assert intent["sha256"] == hashlib.sha256(b"echo ledger").hexdigest()
    assert intent["ai_user"] == cast.ai
    assert intent["client"] == {"name": "atoll-test-client", "version": "9.8.7"}
    assert typed[0]["target"]["agent_user"] == cast.op
    assert [r["details"]["key"] for r in recs
            if r["action"] == "mcp.send_key" and r["outcome"] == "intent"] == ["Left"]
    verify = atoll("audit", "verify", user=cast.op)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    kill(cast, "led")


def test_a_session_made_again_under_the_same_name_is_not_open(cast: Cast) -> None:
    new_term(cast, "again", "bash", "--norc", "--noprofile", "-i")
    open_to(cast, "again", cast.ai)
    kill(cast, "again")
    new_term(cast, "again", "bash", "--norc", "--noprofile", "-i")

    async def body() -> None:
        async with connect(cast.ai) as ai:
            err, msg = await ai.call("type_text", session="again", text="echo x")
            assert err and "not the one that was opened" in msg, msg
            err, listed = await ai.call("list_sessions")
            assert "again" not in [s["session"] for s in listed]

    run(body)
    kill(cast, "again")


def test_close_hides_the_session_again(cast: Cast) -> None:
    new_term(cast, "shut", "bash", "--norc", "--noprofile", "-i")
    open_to(cast, "shut", cast.ai)
    res = atoll("mcp", "close", "shut", user=cast.op)
    assert res.returncode == 0, res.stderr

    async def body() -> None:
        async with connect(cast.ai) as ai:
            err, _ = await ai.call("read_screen", session="shut")
            assert err

    run(body)
    kill(cast, "shut")


def test_the_agent_user_cannot_reach_the_operator_any_other_way(cast: Cast) -> None:
    new_term(cast, "guard", "bash", "--norc", "--noprofile", "-i")
    open_to(cast, "guard", cast.ai)
    op_uid = pwd.getpwnam(cast.op).pw_uid
    # tmux on the operator's own socket
    res = run_as(cast.ai, ["tmux", "-S", f"/tmp/tmux-{op_uid}/{SOCKET}", "send-keys", "-t",
                           "guard", "echo", "Enter"])
    assert res.returncode != 0
    # atoll's own commands: the operator's session is not visible to the agent user
    for argv in (["type", "guard", "echo pwned", "--enter"], ["key", "guard", "Enter"],
                 ["mcp", "open", "guard"], ["peek", "guard"]):
        res = atoll(*argv, user=cast.ai)
        assert res.returncode != 0, argv
    # sudo: the agent user has no rule
    assert run_as(cast.ai, ["sudo", "-n", "-u", cast.op, "true"]).returncode != 0
    # another AI user's socket in the bridge directory
    new_term(cast, "other", "bash", "--norc", "--noprofile", "-i")
    open_to(cast, "other", cast.ai2)
    ai2_sock = f"/tmp/atoll-mcp-{op_uid}/for-{pwd.getpwnam(cast.ai2).pw_uid}.sock"
    assert os.path.exists(ai2_sock)
    probe = (
        "import socket,sys\n"
        "s=socket.socket(socket.AF_UNIX)\n"
        "try:\n s.connect(sys.argv[1]); s.sendall(b'{\"tool\":\"list_sessions\"}\\n');"
        " print(s.recv(100))\n"
        "except OSError as e: print('refused', e.errno)\n")
    res = run_as(cast.ai, ["python3", "-c", probe, ai2_sock])
    assert "refused" in res.stdout or res.stdout.strip() in ("b''", ""), res.stdout
    # the directory is the operator's, and nobody else can add or replace a socket there
    st = os.lstat(f"/tmp/atoll-mcp-{op_uid}")
    assert st.st_uid == op_uid and (st.st_mode & 0o777) == 0o711
    res = run_as(cast.ai, ["sh", "-c", f"ln -sf /tmp/x /tmp/atoll-mcp-{op_uid}/for-0.sock"])
    assert res.returncode != 0
    # and a bridge squatted by another user is not trusted by the AI's atoll mcp
    squat = Path(f"/tmp/atoll-mcp-{pwd.getpwnam(cast.ai2).pw_uid + 77}")
    squat.mkdir(exist_ok=True)
    os.chown(squat, pwd.getpwnam(cast.ai2).pw_uid, -1)
    fake = squat / f"for-{pwd.getpwnam(cast.ai).pw_uid}.sock"
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(str(fake))
    os.chmod(fake, 0o666)
    srv.listen(1)
    try:
        async def body() -> None:
            async with connect(cast.ai) as ai:
                err, listed = await ai.call("list_sessions")
                assert not err and "guard" in [s["session"] for s in listed]

        run(body)
        srv.setblocking(False)
        with pytest.raises(BlockingIOError):
            srv.accept()  # the AI's atoll mcp never talked to the squatter
    finally:
        srv.close()
        shutil.rmtree(squat, ignore_errors=True)
    for n in ("guard", "other"):
        kill(cast, n)


def listed(cast: Cast, name: str) -> dict[str, Any]:
    res = atoll("ls", "--json", user=cast.op, env={"ATOLL_NO_HELPER": "1"})
    assert res.returncode == 0, res.stderr
    rows = [r for r in json.loads(res.stdout)["sessions"]
            if r["name"] == name and r["agent_user"] == cast.op]
    assert len(rows) == 1, rows
    row: dict[str, Any] = rows[0]
    return row


def test_a_line_the_ai_prepared_shows_as_waiting_until_the_human_acts(cast: Cast) -> None:
    new_term(cast, "prep", "bash", "--norc", "--noprofile", "-i")
    before = listed(cast, "prep")
    assert before["opened_to"] == [] and before["reason"] is None
    open_to(cast, "prep", cast.ai)
    assert listed(cast, "prep")["opened_to"] == [cast.ai]

    async def body() -> None:
        async with connect(cast.ai) as ai:
            assert not (await ai.call("type_text", session="prep",
                                      text="echo prepared-by-ai # says hello"))[0]

    run(body)
    row = listed(cast, "prep")
    assert (row["status"], row["reason"]) == ("waiting", "ai-typed"), row
    table = atoll("ls", user=cast.op, env={"ATOLL_NO_HELPER": "1"}).stdout
    line = next(li for li in table.splitlines() if "prep" in li)
    assert "prep [ai]" in line and "waiting(ai-typed)" in line, table
    human(cast, "prep", "Enter")
    deadline = time.monotonic() + 10
    while listed(cast, "prep")["reason"] == "ai-typed":
        assert time.monotonic() < deadline, "still ai-typed after the human pressed Enter"
        time.sleep(0.3)
    kill(cast, "prep")
