"""Ledger glue for use cases: every action is recorded before it takes effect.

``action(ctx, ...)`` writes an ``intent`` record and only then runs the block; if the
ledger cannot be written, :class:`~atoll.ledger.errors.LedgerWriteError` propagates and the
action never happens (fail closed, shared/DESIGN.md security invariants). After the block an
``ok`` or ``error`` record refers back to the intent.

The ledger is the operator's (``ledger_path`` from config, else the XDG state path); the
ledger package is imported lazily so that ``atoll ls`` does not pay for it.

When root has set up this host's ledger (``atoll admin init``: :mod:`atoll.ledger.hostledger`)
every record is also appended there, after the operator's own. That sink fails closed like
the operator's ledger: an intent the host ledger did not take stops the action (its
LedgerWriteError names the host ledger), since otherwise a lead's typing into a junior's
agent could go unseen by her. An unreadable or untrusted ``/etc/atoll/host-ledger.toml`` is
an error for the same reason.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from atoll.fleet.servers import Server
    from atoll.ledger.audit import Audit
    from atoll.ledger.transcript import Transcript
    from atoll.service.context import Context

@functools.cache
def _base(path: str | None) -> Audit:
    # The ledger, this machine's name and the actor do not change within a process; the
    # correlation id does (one per action), so it is never part of what is cached.
    from atoll.ledger import Actor, Audit, Ledger, ledger_path, this_host
    from atoll.ledger.hostledger import mirror_for_host

    return Audit(Ledger(ledger_path(path)), host=this_host(), actor=Actor.current(),
                 mirror=mirror_for_host())


def auditor(ctx: Context, correlation: str | None = None) -> Audit:
    """An :class:`Audit` on the context's ledger stamping ``correlation`` (default: the id
    this process was given, ``ctx.correlation_id``) on its records."""
    from atoll.ledger import Audit

    base = _base(ctx.ledger_path)
    return Audit(base.ledger, base.host, base.actor, correlation or ctx.correlation_id,
                 mirror=base.mirror)


@contextmanager
def action(
    ctx: Context, name: str, target: Mapping[str, str], details: Mapping[str, object],
    correlation: str | None = None,
) -> Iterator[None]:
    """Record ``name`` on ``target`` before the block runs, and its outcome after;
    ``correlation`` joins the records to a peer's (see :func:`auditor`)."""
    with auditor(ctx, correlation).action(name, dict(target), dict(details)):
        yield


def event(
    ctx: Context, name: str, target: Mapping[str, str], outcome: str,
    details: Mapping[str, object], correlation: str | None = None,
) -> None:
    """Record one event with a known outcome (``correlation`` as for :func:`action`)."""
    auditor(ctx, correlation).event(name, dict(target), outcome, dict(details))


def start_recording(ctx: Context, server: Server, session: str) -> Transcript:
    """Start a transcript the agent user cannot write: a FIFO the pane pipes into and a
    recorder (running as the operator) that writes ``transcript.closed`` with the SHA-256
    when the session ends. Pass ``.pipe_command`` to tmux; call :func:`stop_recording` if
    the session is not created."""
    from atoll.ledger import start_transcript

    writer = None if server.user == ctx.operator else server.user
    return start_transcript(session, auditor(ctx), writer=writer)


def stop_recording(transcript: Transcript) -> None:
    from atoll.ledger import stop_transcript

    stop_transcript(transcript)
