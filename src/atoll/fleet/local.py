"""Listing this host: the operator's own tmux server and every visible agent user's.

Cost per call (DESIGN "Performance budgets"): one ``list-panes -a -F`` per server, at most
one batched ``capture-pane`` call per server (only for panes whose status needs the screen),
one process-table scan; servers are asked in parallel.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from atoll.core.errors import AtollError, ExternalCommandError
from atoll.core.load import Proc, children_map, cpu_percent, rss_total, tree
from atoll.core.models import HostRow, Listing, SessionRow
from atoll.core.sessionref import is_atoll_name, session_label
from atoll.core.status import Evidence, ScreenRead, classify, read_screen
from atoll.core.timefmt import rfc3339
from atoll.core.tmuxfmt import MAX_ANSWER_BYTES, PaneRecord
from atoll.exec.process import Batch, Completed
from atoll.exec.runner import current_user
from atoll.fleet import procs
from atoll.fleet.parallel import in_background
from atoll.fleet.screens import ScreenCache
from atoll.fleet.servers import Server
from atoll.fleet.users import candidates, is_sudo_refusal, not_recently_refused, note_refusals
from atoll.islands.base import Scope
from atoll.tmux.client import DEFAULT_SOCKET


class ServerPanes(msgspec.Struct):
    server: Server
    panes: list[PaneRecord] = msgspec.field(default_factory=list)
    # pane_id -> what its screen says
    matches: dict[str, ScreenRead] = msgspec.field(default_factory=dict)
    visible: bool = True
    error: str | None = None


def _needs_screen(p: PaneRecord) -> bool:
    # a hook report does not spare the screen: a dialog or error banner beats it, and a
    # stale report (no Stop after an interrupt) is caught by the screen (core.status);
    # a pane whose tmux answer broke a bound is shown as unknown, its screen unread
    return not p.pane_dead and p.problem is None


_NO_READ = ScreenRead(None)


def _encode(read: ScreenRead) -> str:
    """The cache's string for a screen read: "" (nothing), "waiting:permission", ..."""
    return f"{read.status}:{read.reason}" if read.status else ""


def _decode(cached: str) -> ScreenRead:
    status, _, reason = cached.partition(":")
    if status in ("waiting", "running", "error"):
        return ScreenRead(status, reason)  # type: ignore[arg-type]
    return _NO_READ


def query_servers(
    servers: list[Server], with_screens: bool = True, cache: ScreenCache | None = None
) -> list[ServerPanes]:
    """List every server, in the order given, their ``list-panes`` calls running at once.
    A sudo refusal makes a server invisible, not an error.

    With ``with_screens``, panes whose status needs the screen get it matched: from
    ``cache`` when their output has not moved since, otherwise from one batched capture
    per server (those run at once too).
    """
    batch = Batch([s.client.list_panes_argv() for s in servers], timeout=_timeout(servers),
                  max_stdout=MAX_ANSWER_BYTES)
    results = [_listed(s, r) for s, r in zip(servers, batch.wait(), strict=True)]
    if with_screens:
        match_screens(results, cache if cache is not None else ScreenCache(persist=False))
    return results


def _timeout(servers: list[Server]) -> float:
    return max((s.client.timeout for s in servers), default=15.0)


def _listed(server: Server, res: Completed | AtollError) -> ServerPanes:
    out = ServerPanes(server)
    if isinstance(res, AtollError):
        out.error = str(res)
        return out
    try:
        listed = server.client.pane_list_from(res)
        out.panes, out.error = listed.panes, listed.problem
    except ExternalCommandError as exc:
        if is_sudo_refusal(exc.stderr):
            out.visible = False
        else:
            out.error = str(exc)
    except AtollError as exc:
        out.error = str(exc)
    return out


def match_screens(results: list[ServerPanes], cache: ScreenCache) -> None:
    """Fill ``matches`` of each listed server: screen-pattern results for the panes whose
    status needs the screen, from ``cache`` or from one capture call per server."""
    wants: list[tuple[ServerPanes, list[PaneRecord]]] = []
    for out in results:
        if not out.visible or (out.error and not out.panes):
            continue
        want: list[PaneRecord] = []
        for p in out.panes:
            if not _needs_screen(p):
                continue
            hit = cache.lookup(cache.key(out.server.user, p.pane_id, p.session_created),
                              p.window_activity)
            if hit is None:
                want.append(p)
            else:
                out.matches[p.pane_id] = _decode(hit)
        if want:
            wants.append((out, want))
    if not wants:
        return
    batch = Batch([o.server.client.capture_many_argv([p.pane_id for p in w]) for o, w in wants],
                  timeout=_timeout([o.server for o, _ in wants]))
    now = procs.wall_clock()
    for (out, want), res in zip(wants, batch.wait(), strict=True):
        screens = out.server.client.screens_from(res) if isinstance(res, Completed) else {}
        for p in want:
            if p.pane_id in screens:
                m = read_screen(p.agent, screens[p.pane_id])
                out.matches[p.pane_id] = m
                cache.store(cache.key(out.server.user, p.pane_id, p.session_created),
                            p.window_activity, _encode(m), now)


class LoadSampler(msgspec.Struct):
    """Keeps the previous process sample; :meth:`measure` gives CPU% and RSS per pane pid."""

    persist: bool = True
    previous: tuple[float, dict[int, Proc]] | None = None

    def measure(
        self, after: dict[int, Proc], taken: float, roots: list[int]
    ) -> dict[int, tuple[float | None, int]]:
        kids = children_map(after)
        trees = {r: tree(r, kids, after) for r in roots}
        all_pids = [p for t in trees.values() for p in t]
        before: dict[int, Proc] | None = None
        window = 0.0
        if self.previous is not None and 0 < taken - self.previous[0] <= procs.MAX_AGE:
            window, before = taken - self.previous[0], self.previous[1]
        elif self.persist:
            prev = procs.load_previous(taken)
            if prev is not None:
                window, before = prev[0], dict(prev[1])
        if before is None and all_pids:
            # No usable earlier sample: take a short window over the pane trees only.
            before = {p: after[p] for p in all_pids}
            time.sleep(procs.FALLBACK_WINDOW)
            after2 = procs.rescan(all_pids)
            after = {**after, **after2}
            taken = procs.wall_clock()
            window = procs.FALLBACK_WINDOW
        self.previous = (taken, after)
        if self.persist:
            procs.save(taken, after, all_pids)
        out: dict[int, tuple[float | None, int]] = {}
        for root, pids in trees.items():
            cpu = cpu_percent(pids, before or {}, after, window) if before is not None else None
            out[root] = (cpu, rss_total(pids, after))
        return out


def island_of(user: str, recorded: str | None, operator: str | None = None) -> str:
    """The island kind of a session on ``user``'s server whose ``@atoll_island`` says
    ``recorded``: ``none`` on the operator's own server (it runs as the operator; older or
    hand-made sessions say ``user`` or nothing)."""
    if user == (operator or current_user()) and recorded in (None, "", "user", "none"):
        return "none"
    return recorded or "user"


def _unknown_row(host: str, user: str, p: PaneRecord) -> SessionRow:
    """A pane whose tmux answer broke a bound or type: only what identifies it is shown."""
    return SessionRow(
        host=host, name=session_label(p.session_name, p.session_id), agent="-", project="",
        worktree="", agent_user=user, launched_by="", island="", status="unknown",
        idle_seconds=None, created=None, last_activity=None, attached=0, cpu_percent=None,
        rss_bytes=None, pid=None, command="", exit_status=None,
        reason=f"bad tmux answer: {p.problem}", **_ids(p),
    )


def _ids(p: PaneRecord) -> dict[str, Any]:
    """The row's key fields (tmux's ids, the server's pid, the creation time)."""
    return {"session_id": p.session_id, "pane_id": p.pane_id, "server_pid": p.server_pid,
            "session_created": p.session_created}


def _row(host: str, user: str, p: PaneRecord, match: ScreenRead | None, now: float,
         load: tuple[float | None, int] | None) -> SessionRow:
    if p.problem is not None:
        return _unknown_row(host, user, p)
    cpu, rss = load if load is not None else (None, None)
    read = match or _NO_READ
    verdict = classify(
        Evidence(
            agent=p.agent or "",
            dead=p.pane_dead,
            dead_status=p.exit_status,
            hook_state=p.state,
            window_activity=p.window_activity,
            screen_match=read.status,
            screen_reason=read.reason,
            cpu_percent=cpu if not p.pane_dead else None,
        ),
        now,
    )
    # a name atoll would refuse was not made by atoll, whatever its options claim
    made = is_atoll_name(p.session_name)
    return SessionRow(
        host=host,
        name=session_label(p.session_name, p.session_id),
        agent=p.agent or "-",
        project=p.project,
        worktree=p.worktree,
        agent_user=user,
        launched_by=p.launched_by if made else "",
        island=island_of(user, p.island),
        status=verdict.status,
        idle_seconds=verdict.idle_seconds,
        created=p.created or rfc3339(p.session_created),
        last_activity=rfc3339(p.window_activity),
        attached=p.session_attached,
        cpu_percent=cpu if not p.pane_dead else None,
        rss_bytes=rss if not p.pane_dead else None,
        pid=p.pane_pid if not p.pane_dead else None,
        command=p.command or p.pane_current_command,
        exit_status=verdict.exit_status,
        reason=verdict.reason,
        session_id=p.session_id,
        pane_id=p.pane_id,
        server_pid=p.server_pid,
        session_created=p.session_created,
        net=p.net if p.net in ("none", "allow", "net") else "",
    )


def build_rows(
    host: str, results: list[ServerPanes], sample: dict[int, Proc], taken: float,
    sampler: LoadSampler, pid_maps: dict[str, dict[int, int]] | None = None,
) -> list[SessionRow]:
    """Rows from server results; one row per session (its first pane). ``pid_maps`` maps,
    per server user, pane pids seen inside a container to host pids."""
    maps = pid_maps or {}
    firsts: list[tuple[str, PaneRecord, ScreenRead | None]] = []
    for res in results:
        seen: set[str] = set()
        for p in res.panes:
            if p.session_name in seen:
                continue
            seen.add(p.session_name)
            firsts.append((res.server.user, p, res.matches.get(p.pane_id)))
    def host_pid(user: str, p: PaneRecord) -> int:
        pid = p.pane_pid or -1
        return maps[user].get(pid, -1) if user in maps else pid

    roots = [host_pid(u, p) for u, p, _ in firsts if p.pane_pid and not p.pane_dead]
    loads = sampler.measure(sample, taken, [r for r in roots if r > 0])
    now = procs.wall_clock()
    return [
        _row(host, user, p, match, now, loads.get(host_pid(user, p)))
        for user, p, match in firsts
    ]


def _scan() -> tuple[dict[int, Proc], float]:
    sample = procs.scan()
    return sample, procs.wall_clock()


class HereListing(msgspec.Struct):
    """A listing of this host and what it found out on the way: ``answered`` (the users
    whose server, or container island, answered its ``list-panes`` without error: a
    session missing there is gone), ``failed`` (users whose server did not answer) and
    ``panes`` (each listed session's first pane, keyed by (user, session name))."""

    listing: Listing
    answered: set[str]
    failed: set[str]
    panes: dict[tuple[str, str], PaneRecord]


def list_here(
    users: list[str] | None = None,
    socket: str = DEFAULT_SOCKET,
    sampler: LoadSampler | None = None,
    host: str = "local",
    cache: ScreenCache | None = None,
) -> Listing:
    """Everything the operator may see on this host, as a :class:`Listing`.

    ``sampler`` and ``cache`` carry state between calls (the TUI keeps them in memory);
    by default both persist in the operator's cache directory.
    """
    return list_here_detail(users, socket, sampler, host, cache).listing


def list_here_detail(
    users: list[str] | None = None,
    socket: str = DEFAULT_SOCKET,
    sampler: LoadSampler | None = None,
    host: str = "local",
    cache: ScreenCache | None = None,
) -> HereListing:
    """:func:`list_here` with what :class:`HereListing` adds (for the session specs,
    :mod:`atoll.service.specs`)."""
    from atoll.fleet.containers import as_server, pid_maps
    from atoll.islands.registry import discover

    cands = not_recently_refused(candidates() if users is None else users)
    scope = Scope(current_user(), tuple(cands), socket)
    servers = [as_server(s) for s in discover(scope, slow=False)]  # yours, then agent users'
    cache = cache if cache is not None else ScreenCache()

    def islands() -> tuple[list[ServerPanes], dict[str, dict[int, int]]]:
        # kinds whose discovery asks an engine (containers): while the tmux calls run
        running = [s for s in discover(scope, slow=True) if s.running]
        found = query_servers([as_server(s) for s in running], True, cache) if running else []
        return found, pid_maps(running)

    # the tmux calls, the process scan and the container islands all run at once
    batch = Batch([s.client.list_panes_argv() for s in servers], timeout=_timeout(servers),
                  max_stdout=MAX_ANSWER_BYTES)
    islands_done = in_background(islands)
    sample, taken = _scan()
    results = [ServerPanes(s) for s in servers]

    def listed(i: int, res: Completed | AtollError) -> None:  # parsed while others run
        results[i] = _listed(servers[i], res)

    batch.wait(listed)
    match_screens(results, cache)
    island_results, maps = islands_done()
    results += island_results
    cache.save({cache.key(r.server.user, p.pane_id, p.session_created)
                for r in results for p in r.panes})
    note_refusals(cands, [r.server.user for r in results
                          if not r.visible and r.server.user in cands])
    visible = [r for r in results if r.visible]
    rows = build_rows(host, visible, sample, taken, sampler or LoadSampler(), maps)
    errors = [f"{r.server.user}: {r.error}" for r in visible if r.error]
    hostrow = HostRow(host=host, reachable=True, error="; ".join(errors) or None)
    panes: dict[tuple[str, str], PaneRecord] = {}
    for r in visible:
        for p in r.panes:
            panes.setdefault((r.server.user, p.session_name), p)
    return HereListing(Listing(hosts=[hostrow], sessions=rows),
                       answered={r.server.user for r in visible if not r.error},
                       failed={r.server.user for r in visible if r.error}, panes=panes)
