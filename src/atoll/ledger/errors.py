"""Errors of the ledger layer; all are :class:`~atoll.core.errors.AtollError` (one line)."""

from __future__ import annotations

from atoll.core.errors import AtollError


class LedgerWriteError(AtollError):
    """An event could not be made durable (ENOSPC, EACCES, EROFS, a damaged tail, an event
    that cannot be stored, ...). Callers fail closed: the guarded action must not run."""


class LedgerReadError(AtollError):
    """The ledger (or a checkpoint file) could not be read or parsed."""


class LedgerTamperedError(AtollError):
    """Verification found a problem; the message names the first bad seq and its kind."""
