"""Ledger glue for use cases: every action is recorded before it takes effect.

``action(ctx, ...)`` writes an ``intent`` record and only then runs the block; if the
ledger cannot be written, :class:`~atoll.ledger.errors.LedgerWriteError` propagates and the
action never happens (fail closed, shared/DESIGN.md security invariants). After the block an
``ok`` or ``error`` record refers back to the intent.

The ledger is the operator's (``ledger_path`` from config, else the XDG state path); the
ledger package is imported lazily so that ``atoll ls`` does not pay for it.
"""

from __future__ import annotations

import platform
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from atoll.fleet.local import Server
    from atoll.ledger.audit import Audit
    from atoll.service.context import Context

_AUDITS: dict[int, Audit] = {}


def auditor(ctx: Context) -> Audit:
    """The :class:`Audit` of this context (one per Context object)."""
    got = _AUDITS.get(id(ctx))
    if got is None:
        from atoll.ledger import Actor, Audit, Ledger, ledger_path

        got = Audit(Ledger(ledger_path(ctx.ledger_path)), host=platform.node() or "local",
                    actor=Actor.current(), correlation_id=ctx.correlation_id)
        _AUDITS[id(ctx)] = got
    return got


@contextmanager
def action(
    ctx: Context, name: str, target: Mapping[str, str], details: Mapping[str, object]
) -> Iterator[None]:
    """Record ``name`` on ``target`` before the block runs, and its outcome after."""
    with auditor(ctx).action(name, dict(target), dict(details)):
        yield


def event(
    ctx: Context, name: str, target: Mapping[str, str], outcome: str,
    details: Mapping[str, object],
) -> None:
    """Record one event with a known outcome."""
    auditor(ctx).event(name, dict(target), outcome, dict(details))


def start_recording(ctx: Context, server: Server, session: str) -> None:
    """Pipe the session's output into a transcript the agent user cannot write; the
    recorder writes ``transcript.closed`` with the SHA-256 when the session ends."""
    from atoll.core.errors import AtollError
    from atoll.ledger import start_transcript, stop_transcript

    writer = None if server.user == ctx.operator else server.user
    transcript = start_transcript(session, auditor(ctx), writer=writer)
    try:
        server.client.pipe_pane(session, transcript.pipe_command)
    except AtollError:
        stop_transcript(transcript)
        raise
