"""The ledger: a host's append-only, hash-chained audit log, its signed checkpoints, and
session transcripts (shared/DESIGN.md decision 7). See docs/ledger.md.

The service layer uses :class:`Audit` (``audit.action(...)`` around every action) and
:func:`start_transcript`; the CLI uses :func:`verify_ledger` and :func:`make_checkpoint`.

Names are imported on first use (PEP 562), so that a module of this package (the host
ledger's append command, :mod:`atoll.ledger.hostappend`) does not pay for all the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from atoll.ledger.audit import (
        ACTIONS,
        Actor,
        Audit,
        new_correlation_id,
        this_host,
        typed_details,
    )
    from atoll.ledger.checkpoint import (
        CheckpointStore,
        SignedCheckpoint,
        checkpoints_path,
        fetch_witness,
        load_or_create_key,
        make_checkpoint,
        push_witness,
        verify_ledger,
    )
    from atoll.ledger.errors import LedgerReadError, LedgerTamperedError, LedgerWriteError
    from atoll.ledger.store import Ledger, ensure_hostwide_ledger, ledger_path
    from atoll.ledger.transcript import (
        Transcript,
        TranscriptCheck,
        check_transcript,
        start_transcript,
        stop_transcript,
    )

_LAZY: dict[str, str] = {
    "ACTIONS": "atoll.ledger.audit",
    "Actor": "atoll.ledger.audit",
    "Audit": "atoll.ledger.audit",
    "CheckpointStore": "atoll.ledger.checkpoint",
    "Ledger": "atoll.ledger.store",
    "LedgerReadError": "atoll.ledger.errors",
    "LedgerTamperedError": "atoll.ledger.errors",
    "LedgerWriteError": "atoll.ledger.errors",
    "SignedCheckpoint": "atoll.ledger.checkpoint",
    "Transcript": "atoll.ledger.transcript",
    "TranscriptCheck": "atoll.ledger.transcript",
    "check_transcript": "atoll.ledger.transcript",
    "checkpoints_path": "atoll.ledger.checkpoint",
    "ensure_hostwide_ledger": "atoll.ledger.store",
    "fetch_witness": "atoll.ledger.checkpoint",
    "ledger_path": "atoll.ledger.store",
    "load_or_create_key": "atoll.ledger.checkpoint",
    "make_checkpoint": "atoll.ledger.checkpoint",
    "new_correlation_id": "atoll.ledger.audit",
    "push_witness": "atoll.ledger.checkpoint",
    "start_transcript": "atoll.ledger.transcript",
    "stop_transcript": "atoll.ledger.transcript",
    "this_host": "atoll.ledger.audit",
    "typed_details": "atoll.ledger.audit",
    "verify_ledger": "atoll.ledger.checkpoint",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "ACTIONS",
    "Actor",
    "Audit",
    "CheckpointStore",
    "Ledger",
    "LedgerReadError",
    "LedgerTamperedError",
    "LedgerWriteError",
    "SignedCheckpoint",
    "Transcript",
    "TranscriptCheck",
    "check_transcript",
    "checkpoints_path",
    "ensure_hostwide_ledger",
    "fetch_witness",
    "ledger_path",
    "load_or_create_key",
    "make_checkpoint",
    "new_correlation_id",
    "push_witness",
    "start_transcript",
    "stop_transcript",
    "this_host",
    "typed_details",
    "verify_ledger",
]
