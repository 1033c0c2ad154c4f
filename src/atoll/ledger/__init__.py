"""The ledger: a host's append-only, hash-chained audit log, its signed checkpoints, and
session transcripts (shared/DESIGN.md decision 7). See docs/ledger.md.

The service layer uses :class:`Audit` (``audit.action(...)`` around every action) and
:func:`start_transcript`; the CLI uses :func:`verify_ledger` and :func:`make_checkpoint`.
"""

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
