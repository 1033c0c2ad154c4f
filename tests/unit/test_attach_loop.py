"""The reconnect rules of a remote attach (atoll.service.remote.attach_loop), as a table:
which ssh outcomes end the attach and which start it again, with which waits. Each run's
outcome is scripted (exit status, bytes the session printed); the real drop of a real
connection is tests/hosts/test_remote_reconnect.py."""

from __future__ import annotations

from typing import Any

import pytest

from atoll.service.place import PeerPlace, Target
from atoll.service.remote import BACKOFF, ESTABLISHED_BYTES, attach_loop
from atoll.service.sessions import AttachPlan

UP = ESTABLISHED_BYTES  # a run that brought the session's screen
DOWN = 10  # a run that printed only ssh's own error line
# alias "" : no fresh ssh argv is built between runs (that needs a real ssh config)
PLAN = AttachPlan(["ssh", "b"], False, PeerPlace(Target("fix", "b"), "b", "", "c1"),
                  nested=True, filtered=True)


def run(script: list[tuple[int, int]]) -> tuple[int, list[float], list[str], int]:
    """Drive attach_loop over ``script`` (status, bytes) runs; return its status, the
    waits, the notices and how many runs it made."""
    calls: list[int] = []
    waits: list[float] = []
    notices: list[str] = []

    def foreground(argv: list[str], **kw: Any) -> int:
        status, nbytes = script[len(calls)]
        calls.append(status)
        kw["relay"].transform(b"x" * nbytes)
        return status

    status = attach_loop(None, PLAN, foreground, notices.append, sleep=waits.append)
    return status, waits, notices, len(calls)


@pytest.mark.parametrize(("script", "status", "waits"), [
    ([(0, UP)], 0, []),  # detached
    ([(1, UP)], 1, []),  # the peer's atoll refused
    ([(255, DOWN)], 255, []),  # never connected: unreachable, not a drop
    ([(255, UP), (0, UP)], 0, [BACKOFF[0]]),  # dropped once, back, detached
    ([(255, UP), (255, DOWN), (255, DOWN), (0, UP)], 0, [BACKOFF[0], BACKOFF[1], BACKOFF[2]]),
    ([(255, UP), (255, DOWN), (255, UP), (0, UP)], 0, [BACKOFF[0], BACKOFF[1], BACKOFF[0]]),
    ([(255, UP)] + [(255, DOWN)] * 9 + [(3, UP)], 3, [*BACKOFF, *[BACKOFF[-1]] * 4]),
])
def test_reconnect_rules(script: list[tuple[int, int]], status: int,
                         waits: list[float]) -> None:
    got, slept, notices, runs = run(script)
    assert (got, slept, runs) == (status, waits, len(script))
    assert len(notices) == len(waits)
    assert all(n.startswith("atoll: connection to b lost; reconnecting to fix in")
               and "Ctrl-C" in n and "\n" not in n for n in notices)


def test_ctrl_c_while_waiting_stops_it() -> None:
    def interrupted(_: float) -> None:
        raise KeyboardInterrupt

    def foreground(argv: list[str], **kw: Any) -> int:
        kw["relay"].transform(b"x" * UP)
        return 255

    with pytest.raises(KeyboardInterrupt):
        attach_loop(None, PLAN, foreground, lambda _: None, sleep=interrupted)
