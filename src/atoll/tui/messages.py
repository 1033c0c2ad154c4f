"""What the fleet view's thread workers post back to the UI thread, one class per result.

Refresh and preview results carry their worker: both kinds are ``exclusive``, so a newer
one cancels the older, and a result whose worker was cancelled is dropped on arrival (on
the UI thread, where cancelling happens too, so the check cannot race).
"""

from __future__ import annotations

from typing import Any

from textual.message import Message
from textual.worker import Worker

from atoll.core.models import Listing, SessionRow
from atoll.tui.backend import AnyAttachPlan


class Refreshed(Message):
    """A refresh worker's listing."""

    def __init__(self, listing: Listing, worker: Worker[Any]) -> None:
        super().__init__()
        self.listing = listing
        self.worker = worker


class Peeked(Message):
    """A preview worker's captured screen of session ``key``."""

    def __init__(self, key: str, screen: str, worker: Worker[Any]) -> None:
        super().__init__()
        self.key = key
        self.screen = screen
        self.worker = worker


class RowMessage(Message):
    """A result about one session row."""

    def __init__(self, row: SessionRow) -> None:
        super().__init__()
        self.row = row


class AttachPlanned(RowMessage):
    """The attach is planned and recorded; the UI thread hands the terminal over."""

    def __init__(self, row: SessionRow, plan: AnyAttachPlan) -> None:
        super().__init__(row)
        self.plan = plan


class Killed(RowMessage):
    """The session was killed."""


class Typed(RowMessage):
    """``typed`` went into the session (``removed`` control characters were dropped)."""

    def __init__(self, row: SessionRow, typed: str, removed: int) -> None:
        super().__init__(row)
        self.typed = typed
        self.removed = removed


class EnterPressed(RowMessage):
    """Enter was pressed in the session."""


class Started(Message):
    """Session ``name`` started as ``user`` on ``host``."""

    def __init__(self, name: str, user: str, host: str) -> None:
        super().__init__()
        self.name = name
        self.user = user
        self.host = host


class AgentUsersFound(Message):
    """The agent users sudo lets the operator act as (for the new-session form)."""

    def __init__(self, users: list[str], dialog: Any, default: str | None = None) -> None:
        super().__init__()
        self.users = users
        self.dialog = dialog
        #: whom `atoll new` without --as would run as (atoll.service.defaultuser)
        self.default = default


class NewFailed(Message):
    """Creating the session of ``req`` failed with ``error`` (one line)."""

    def __init__(self, req: Any, error: str) -> None:
        super().__init__()
        self.req = req
        self.error = error
