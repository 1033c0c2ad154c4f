"""Session specs (atoll.core.specs) and what a listing makes of them
(atoll.service.specs.reconcile): bounded decoding, authority over tmux options, lost rows,
and the resume argv per agent. Pure: no tmux, no files (no conversation is learnt here)."""

from __future__ import annotations

import contextlib
import json

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atoll.core.models import HostRow, Listing, SessionRow
from atoll.core.specs import (
    MAX_SPEC_BYTES,
    NO_SPEC,
    SessionSpec,
    SpecError,
    decode_spec,
    encode_spec,
    resume_argv,
)
from atoll.service.hook import conversation_in
from atoll.service.specs import reconcile

UUID = "0199a213-81c0-7800-8aa1-bbab2a035a53"


def spec(**kw: object) -> SessionSpec:
    base: dict[str, object] = dict(
        name="fix", agent="claude", command=["claude"], directory="/srv/app",
        project="/srv/app", island="user", agent_user="ana-agent", launched_by="ana",
        created="2026-12-02T10:00:00Z")
    base.update(kw)
    return SessionSpec(**base)  # type: ignore[arg-type]


def row(**kw: object) -> SessionRow:
    base: dict[str, object] = dict(
        host="local", name="fix", agent="claude", project="/srv/app", worktree="",
        agent_user="ana-agent", launched_by="ana", island="user", status="idle",
        idle_seconds=5, created="2026-12-02T10:00:00Z", last_activity=None, attached=0,
        cpu_percent=None, rss_bytes=None, pid=None, command="claude", exit_status=None)
    base.update(kw)
    return SessionRow(**base)  # type: ignore[arg-type]


def listing(*rows: SessionRow) -> Listing:
    return Listing(hosts=[HostRow(host="local", reachable=True)], sessions=list(rows))


def merged(lst: Listing, specs: list[SessionSpec], **kw: object) -> list[SessionRow]:
    args: dict[str, object] = dict(operator="ana", host="local", answered={"ana", "ana-agent"},
                                   failed=set(), conversations={}, host_store=False)
    args.update(kw)
    return reconcile(lst, specs, **args).sessions  # type: ignore[arg-type]


def test_spec_round_trips() -> None:
    s = spec(grants=["/data:ro"], cpus=1.5, memory=1 << 30, restart="always",
             conversation=UUID)
    assert decode_spec(encode_spec(s)) == s


@pytest.mark.parametrize(("change", "why"), [
    ({"name": "../etc"}, "session name"),
    ({"agent_user": "x/../root"}, "user"),
    ({"launched_by": "Root Admin"}, "user"),
    ({"directory": "relative/dir"}, "absolute"),
    ({"command": []}, "arguments"),
    ({"command": ["a"] * 257}, "arguments"),
    ({"command": ["bash\x00-c"]}, "NUL"),
    ({"conversation": "--dangerously-skip-permissions"}, "conversation"),
    ({"conversation": "../../x"}, "conversation"),
    ({"created": "yesterday"}, "RFC 3339"),
    ({"agent": "claude\x1b[2J"}, "control"),
    ({"version": 2}, "version"),
])
def test_decode_refuses_a_spec_that_breaks_a_rule(change: dict[str, object], why: str) -> None:
    raw = json.loads(msgspec.json.encode(spec()))
    raw.update(change)
    with pytest.raises(SpecError, match=why):
        decode_spec(json.dumps(raw).encode())


def test_decode_refuses_oversized_and_non_specs() -> None:
    with pytest.raises(SpecError, match="larger"):
        decode_spec(b" " * (MAX_SPEC_BYTES + 1))
    for junk in (b"", b"[]", b'{"name": 3}', b"\xff\xfe", b"{" * 5000):
        with pytest.raises(SpecError):
            decode_spec(junk)


@settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300) | st.builds(
    lambda k, v: json.dumps({**json.loads(msgspec.json.encode(spec())), k: v}).encode(),
    st.sampled_from(list(SessionSpec.__struct_fields__)),
    st.none() | st.integers() | st.text(max_size=40) | st.lists(st.text(max_size=5))))
def test_fuzz_decode_only_raises_spec_error(data: bytes) -> None:
    with contextlib.suppress(SpecError):
        decode_spec(data)


def test_spec_is_the_authority_and_a_rewritten_by_is_flagged() -> None:
    lied = row(launched_by="boss", project="/home/boss/secret")
    [out] = merged(listing(lied), [spec()])
    assert out.launched_by == "ana" and out.project == "/srv/app"
    assert out.mismatch is not None
    assert "BY boss (spec: ana)" in out.mismatch and "PROJECT" in out.mismatch


def test_agreeing_options_are_not_flagged() -> None:
    [out] = merged(listing(row()), [spec()])
    assert out.mismatch is None and out.status == "idle"


def test_a_session_claiming_the_operator_without_a_spec_is_flagged() -> None:
    [out] = merged(listing(row(launched_by="ana")), [])
    assert out.mismatch == NO_SPEC
    [other] = merged(listing(row(launched_by="bob")), [])
    assert other.mismatch is None  # another operator's: its spec is theirs to hold
    [hosted] = merged(listing(row(launched_by="bob")), [], host_store=True)
    assert hosted.mismatch == NO_SPEC  # the host store holds every operator's specs


def test_a_spec_without_its_session_is_lost_never_dropped() -> None:
    out = merged(listing(), [spec()])
    assert [(r.name, r.status, r.launched_by, r.agent_user) for r in out] == [
        ("fix", "lost", "ana", "ana-agent")]
    unknown = merged(listing(), [spec()], answered={"ana"}, failed={"ana-agent"})
    assert unknown[0].status == "unknown"
    # sudo refuses its agent user now: not visible, so not listed (nor lost)
    assert merged(listing(), [spec()], answered={"ana"}) == []


def test_ended_specs_show_only_with_all_and_free_the_name() -> None:
    ended = spec(ended="2026-12-02T11:00:00Z", ended_how="killed")
    assert merged(listing(), [ended]) == []
    [shown] = merged(listing(), [ended], include_ended=True)
    assert shown.status == "exited" and shown.ended == "2026-12-02T11:00:00Z"
    from atoll.core.display import status_label

    assert status_label(shown) == "ended"
    # a new session of the same name, not yet recorded by this spec: listed, not doubled
    out = merged(listing(row()), [ended], include_ended=True)
    assert [r.status for r in out] == ["idle"]


@pytest.mark.parametrize(("cmd", "conv", "argv", "how"), [
    (["claude"], UUID, ["claude", "--resume", UUID], "conversation"),
    (["claude"], None, ["claude", "--continue"], "latest"),
    (["/usr/bin/claude", "--verbose"], UUID,
     ["/usr/bin/claude", "--verbose", "--resume", UUID], "conversation"),
    (["claude", "fix the login bug"], UUID, ["claude", "fix the login bug"], "restart"),
    (["codex"], UUID, ["codex", "resume", UUID], "conversation"),
    (["codex", "--search"], None, ["codex", "resume", "--last", "--search"], "latest"),
    (["bash", "-l"], UUID, ["bash", "-l"], "restart"),
])
def test_resume_argv(cmd: list[str], conv: str | None, argv: list[str], how: str) -> None:
    agent = "shell" if cmd[0] == "bash" else cmd[0].rsplit("/", 1)[-1]
    assert resume_argv(spec(command=cmd, agent=agent, conversation=conv)) == (argv, how)


@pytest.mark.parametrize(("payload", "want"), [
    (json.dumps({"session_id": UUID, "hook_event_name": "SessionStart"}).encode(), UUID),
    (json.dumps({"type": "agent-turn-complete", "thread-id": UUID}).encode(), UUID),
    (json.dumps({"session_id": "--resume"}).encode(), None),
    (json.dumps({"session_id": "a" * 200}).encode(), None),
    (json.dumps({"session_id": "../../etc/passwd"}).encode(), None),
    (json.dumps([UUID]).encode(), None),
    (b"not json", None),
    (b"", None),
])
def test_conversation_id_from_hook_payloads(payload: bytes, want: str | None) -> None:
    assert conversation_in(payload) == want


def test_hook_payload_is_read_from_a_pipe_never_from_a_terminal() -> None:
    import os

    from atoll.service.hook import read_payload

    event = json.dumps({"session_id": UUID}).encode()
    r, w = os.pipe()
    os.write(w, event)
    os.close(w)
    assert read_payload(r) == event
    os.close(r)
    leader, follower = os.openpty()  # OpenCode's and Aider's hooks inherit the terminal
    os.write(leader, b"keystrokes the agent is waiting for\n")
    assert read_payload(follower) == b""
    assert os.read(follower, 100).startswith(b"keystrokes")  # nothing was taken
    os.close(leader)
    os.close(follower)
    # Codex's notify: the JSON is the last argument
    assert read_payload(os.open("/dev/null", os.O_RDONLY), ("x", event.decode())) == event


def test_ended_specs_expire_after_their_keep_time() -> None:
    from atoll.core.specs import ENDED_KEEP_DAYS, expired
    from atoll.core.timefmt import parse_rfc3339

    ended_at = "2026-12-02T10:00:00Z"
    t0 = parse_rfc3339(ended_at)
    assert t0 is not None
    old, live = spec(ended=ended_at, ended_how="killed"), spec(name="live")
    day = 86400
    assert expired([old, live], t0 + ENDED_KEEP_DAYS * day - 1) == []
    assert expired([old, live], t0 + ENDED_KEEP_DAYS * day + 1) == [old]
