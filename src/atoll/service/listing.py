"""Listing use cases: this host (``--here``), or this host and others over SSH."""

from __future__ import annotations

import msgspec

from atoll.core.errors import NotFoundError
from atoll.core.models import HostRow, Listing, SessionRow
from atoll.fleet.local import LoadSampler
from atoll.fleet.screens import ScreenCache
from atoll.service.context import Context


def list_local(
    ctx: Context, sampler: LoadSampler | None = None, cache: ScreenCache | None = None,
    *, include_ended: bool = False,
) -> Listing:
    """What the operator may see on this host (``atoll ls --here``), with the sessions
    opened to an AI marked (:func:`atoll.service.openings.annotate`), the session specs
    applied and lost sessions listed (:func:`atoll.service.specs.reconcile`; ended ones
    too with ``include_ended``, ``ls --all``)."""
    from atoll.service.openings import annotate

    return annotate(ctx, local_with_specs(ctx, sampler, cache, include_ended=include_ended))


def local_with_specs(
    ctx: Context, sampler: LoadSampler | None = None, cache: ScreenCache | None = None,
    *, include_ended: bool = False,
) -> Listing:
    """This host's listing with the session specs applied (:func:`list_local` without
    the openings' marks)."""
    from atoll.fleet.local import list_here_detail
    from atoll.service import specs as spec_store

    specs, problems = spec_store.load_all(ctx.socket)
    # the configured candidates only: a spec does not widen whom the operator lists
    here = list_here_detail(ctx.candidates(), ctx.socket, sampler, ctx.host, cache)
    host_store = spec_store.is_host_store(spec_store.store_base())
    if host_store:
        seen_users = here.answered | {ctx.operator}
        specs = [s for s in specs if spec_store.visible_to(s, ctx.operator, seen_users)]
    listing = spec_store.reconcile(
        here.listing, specs, operator=ctx.operator, host=ctx.host, answered=here.answered,
        failed=here.failed, host_store=host_store, include_ended=include_ended,
        conversations={k: p.conversation for k, p in here.panes.items() if p.conversation})
    if problems:
        hostrow = listing.hosts[0]
        joined = "; ".join(x for x in (hostrow.error, *problems[:3]) if x)
        listing.hosts[0] = msgspec.structs.replace(hostrow, error=joined[:1000])
    return listing


def list_fleet(
    ctx: Context,
    host_names: list[str] | None = None,
    *,
    include_local: bool = True,
    sampler: LoadSampler | None = None,
    cache: ScreenCache | None = None,
    include_ended: bool = False,
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
            here = local_with_specs(ctx, sampler, cache, include_ended=include_ended)
            return [(here.hosts[0], here.sessions)]
        return query_hosts(chosen, ctx.host_timeout, ended=include_ended)

    jobs = (["local"] if include_local else []) + (["remote"] if chosen else [])
    results = [r for part in parallel_map(job, jobs) for r in part]
    return annotate(ctx, Listing(hosts=[h for h, _ in results],
                                 sessions=[s for _, rows in results for s in rows]))
