"""Listing use case: this host, or the fleet."""

from __future__ import annotations

from atoll.core.models import Listing
from atoll.fleet.local import LoadSampler, list_here
from atoll.service.context import Context


def list_local(ctx: Context, sampler: LoadSampler | None = None) -> Listing:
    """What the operator may see on this host (``atoll ls --here``)."""
    return list_here(ctx.candidates(), ctx.socket, sampler, ctx.host)
