"""Listing use cases: this host (``--here``), or this host and others over SSH."""

from __future__ import annotations

from atoll.core.errors import NotFoundError
from atoll.core.models import HostRow, Listing, SessionRow
from atoll.fleet.local import LoadSampler, list_here
from atoll.fleet.screens import ScreenCache
from atoll.service.context import Context


def list_local(
    ctx: Context, sampler: LoadSampler | None = None, cache: ScreenCache | None = None
) -> Listing:
    """What the operator may see on this host (``atoll ls --here``), with the sessions
    opened to an AI marked (:func:`atoll.service.openings.annotate`)."""
    from atoll.service.openings import annotate

    return annotate(ctx, list_here(ctx.candidates(), ctx.socket, sampler, ctx.host, cache))


def list_fleet(
    ctx: Context,
    host_names: list[str] | None = None,
    *,
    include_local: bool = True,
    sampler: LoadSampler | None = None,
    cache: ScreenCache | None = None,
) -> Listing:
    """This host (unless ``include_local`` is False) and the configured hosts named in
    ``host_names`` (None: all of them), asked in parallel over SSH. An unknown name is a
    NotFoundError; an unreachable host is a row with ``reachable: false``, never an error.
    """
    from atoll.fleet.parallel import parallel_map
    from atoll.fleet.remote import query_hosts

    configured = {h.name: h for h in ctx.hosts}
    if host_names is None:
        chosen = list(ctx.hosts)
    else:
        unknown = [n for n in host_names if n not in configured and n != "local"]
        if unknown:
            known = ", ".join(configured) or "none configured"
            raise NotFoundError(f"unknown host {unknown[0]!r} (configured: {known})")
        include_local = include_local and "local" in host_names
        chosen = [configured[n] for n in host_names if n in configured]

    from atoll.service.openings import annotate

    def job(which: str) -> list[tuple[HostRow, list[SessionRow]]]:
        if which == "local":
            here = list_here(ctx.candidates(), ctx.socket, sampler, ctx.host, cache)
            return [(here.hosts[0], here.sessions)]
        return query_hosts(chosen, ctx.host_timeout)

    jobs = (["local"] if include_local else []) + (["remote"] if chosen else [])
    results = [r for part in parallel_map(job, jobs) for r in part]
    return annotate(ctx, Listing(hosts=[h for h, _ in results],
                                 sessions=[s for _, rows in results for s in rows]))
