"""Ledger glue for use cases (placeholder until the ledger lands: records nothing)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from atoll.fleet.local import Server
    from atoll.service.context import Context


@contextmanager
def action(
    ctx: Context, name: str, target: dict[str, str], details: dict[str, object]
) -> Iterator[None]:
    yield


def event(
    ctx: Context, name: str, target: dict[str, str], outcome: str, details: dict[str, object]
) -> None:
    return None


def start_recording(ctx: Context, server: Server, session: str) -> None:
    return None
