"""Session use cases: new, kill, peek, type, attach.

Each use case validates its input, resolves its target once into a place
(:mod:`atoll.service.place`: a local island's tmux server, or a peer host), writes its
ledger record through :mod:`atoll.service.audit` before acting, and only then acts: on
tmux here, or through the peer's own atoll (:mod:`atoll.service.remote`). The records are
the same whoever calls (CLI, fleet view, MCP). Errors are AtollError subclasses.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from atoll.core.display import command_label
from atoll.core.egress import Allow
from atoll.core.errors import AtollError, NotFoundError, UsageError
from atoll.core.islands import IslandSpec
from atoll.core.names import validate_path_text, validate_session_name, validate_user_name
from atoll.core.patterns import KNOWN_AGENTS
from atoll.core.specs import SessionSpec
from atoll.core.text import check_typable, sanitize_typed_text
from atoll.core.timefmt import rfc3339
from atoll.exec.runner import Local
from atoll.fleet.servers import Server
from atoll.fleet.users import is_sudo_refusal, may_act_as
from atoll.service import audit, remote
from atoll.service import specs as spec_store
from atoll.service.context import Context
from atoll.service.gitwork import ensure_worktree, project_root
from atoll.service.place import (
    LocalPlace,
    PeerPlace,
    Place,
    Target,
    fresh_correlation,
    parse_target,
    peer,
    resolve_local,
)
from atoll.service.place import resolve as resolve_place

SECURE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

AGENT_COMMANDS: dict[str, list[str]] = {
    "claude": ["claude"],
    "codex": ["codex"],
    "gemini": ["gemini"],
    "opencode": ["opencode"],
    "aider": ["aider"],
    "shell": ["bash", "-l"],
}


@dataclass
class NewSession:
    """Everything ``atoll new`` was asked for."""

    name: str
    agent: str | None = None
    directory: str | None = None
    as_user: str | None = None
    worktree: str | None = None
    command: list[str] = field(default_factory=list)
    island: str = "user"
    record: bool = False
    cpus: float | None = None
    memory: int | None = None
    pids: int | None = None
    net: bool = False
    grants: list[str] = field(default_factory=list)
    host: str | None = None
    #: start it again after a reboot (``atoll resume --all --boot``): always or never
    restart: str = "never"
    #: the lost session's spec this start resumes (atoll.service.resume)
    resume: SessionSpec | None = None
    allow: list[str] = field(default_factory=list)
    join: str | None = None


def _atoll_bin_dir() -> str:
    return os.path.dirname(os.path.abspath(sys.argv[0])) if sys.argv[0] else ""


def agent_name(agent: str | None, command: list[str]) -> str:
    """The agent label: as given, else the command's program if it is a known agent, else
    ``custom`` for a command and ``shell`` for none."""
    if agent:
        return agent
    if command:
        prog = os.path.basename(command[0])
        return prog if prog in AGENT_COMMANDS else "custom"
    return "shell"


def agent_argv(agent: str, command: list[str]) -> list[str]:
    """The argv a session runs: the explicit command, or the agent's default."""
    if command:
        return command
    if agent not in AGENT_COMMANDS:
        raise UsageError(
            f"unknown agent {agent!r}: use one of {', '.join(KNOWN_AGENTS)} or give -- CMD ARGS"
        )
    return AGENT_COMMANDS[agent]


def new_session(ctx: Context, req: NewSession,
                warn: Callable[[str], None] | None = None) -> Target:
    """Create a detached session; return its target (``as_user``: the user or
    ``ENGINE:CONTAINER`` whose server holds it; for a peer, as asked). With ``req.host``
    (not ``local``) the peer's own atoll creates it (:func:`atoll.service.remote.new`).

    Without ``req.as_user`` the agent runs as the operator's agent user
    (:func:`atoll.service.defaultuser.default_agent_user`); when there is none it runs as
    the operator, and ``warn`` receives the one-line warning saying so. Raises UsageError
    for bad input, PermissionDeniedError when sudo refuses the agent user, AtollError when
    the name is taken or tmux fails.
    """
    validate_session_name(req.name)
    if req.host not in (None, "local", ctx.host):
        place = peer(ctx, Target(req.name, req.host, req.as_user))
        remote.new(ctx, place, req)
        return place.target
    agent = agent_name(req.agent, req.command)
    argv = agent_argv(agent, req.command)
    if not argv or not argv[0]:
        raise UsageError("empty command")
    if req.join is not None:
        server = _join(ctx, req, agent, argv)
        return Target(req.name, None, server.user)
    warning = None
    if req.as_user is None and req.island in ("user", "bwrap"):
        from atoll.service.defaultuser import default_agent_user

        chosen = default_agent_user(ctx)
        if chosen.user != ctx.operator:
            req = replace(req, as_user=chosen.user)
        elif req.island == "user":
            warning = chosen.warning
    from atoll.service.policy import enforce_new  # host policy (issue 17), before anything runs

    enforce_new(ctx, req.island, req.as_user, argv, req.name)
    server = _new_session(ctx, req, agent, argv)
    if warning and warn is not None:  # only once it runs: a refused `new` warns of nothing
        warn(warning)
    return Target(req.name, None, server.user)


def _new_session(ctx: Context, req: NewSession, agent: str, argv: list[str]) -> Server:
    """Make the island of kind ``req.island`` (atoll.islands.registry) and the session in
    it; the same steps for every kind: check (before the ledger), record, create, start.

    A kind that runs in place (``user``; ``none`` when it is the operator) starts in the
    directory itself, as the agent user, with ``--worktree`` if asked. The others get a
    copy of the project: containers run as their own unprivileged user (uid 1000), so
    ``--as`` and ``--worktree`` are refused for them; bwrap islands run as an agent user
    (``--as``, required).
    """
    from atoll.islands.base import start_session
    from atoll.islands.grants import parse_and_check
    from atoll.islands.registry import kind as island_kind
    from atoll.islands.registry import make_island

    kind = island_kind(req.island)
    if not kind.creatable:
        raise UsageError(f"--island {kind.name}: use --as {ctx.operator} to run as yourself")
    if not kind.host_tmux and (req.record or ctx.record):
        asked = "--record" if req.record else "record = true in your config"
        raise UsageError(f"{asked}: transcripts are not recorded in {req.island} islands (their "
                         "tmux server runs inside the container, where the transcript pipe "
                         "is out of reach); start it without recording, or use --island bwrap")
    directory = os.path.abspath(req.directory or os.getcwd())
    validate_path_text(directory)
    granted = parse_and_check(req.grants)  # served by the island's broker, never bound
    if kind.in_place:
        if req.cpus is not None or req.memory is not None or req.pids is not None \
                or req.net or req.allow:
            raise UsageError("--cpus, --memory, --pids, --net and --allow need --island "
                             "bwrap, docker or podman")
        user = req.as_user or ctx.operator
        if granted and user == ctx.operator:
            raise UsageError("--grant: a session run as you sees your files already; grant "
                             "to an agent user's session (--as USER) or an island")
        if user != ctx.operator:
            validate_user_name(user)
        spec = IslandSpec(name=req.name, project_dir=directory,
                          kind="none" if user == ctx.operator else kind.name,
                          operator=ctx.operator, agent_user=user)
    else:
        if not kind.host_tmux and (req.as_user or req.worktree):
            raise UsageError(f"--as and --worktree do not apply to {req.island} islands "
                             "(they run as the island's own user on a copy of the project)")
        if kind.name == "bwrap" and not req.as_user:
            raise UsageError("a bwrap island runs as an agent user: give --as USER")
        if req.as_user:
            validate_user_name(req.as_user)
            if req.as_user != ctx.operator and not may_act_as(req.as_user):
                from atoll.core.errors import PermissionDeniedError

                raise PermissionDeniedError(
                    f"sudo does not let {ctx.operator} act as {req.as_user}")
        if not os.path.isdir(directory):
            raise UsageError(f"directory {directory!r} does not exist")
        extra: dict[str, object] = {k: getattr(req, k) for k in ("cpus", "memory", "pids")
                                    if getattr(req, k) is not None}
        spec = IslandSpec(
            name=req.name, project_dir=project_root(Local(), directory), kind=kind.name,
            operator=ctx.operator, agent_user=req.as_user if kind.host_tmux else None,
            net=req.net, allow=egress_rules(ctx, req), **extra,  # type: ignore[arg-type]
        )
    island = make_island(spec)
    island.check()
    owner = spec.agent_user or f"{kind.name}:{island.island_id}"
    cwd: str | None = None
    project = spec.project_dir
    worktree = req.worktree if kind.in_place else None  # a copy has no worktree of its own
    if kind.in_place:
        runner = island.runner()
        project = project_root(runner, directory)
        cwd = ensure_worktree(runner, project, worktree) if worktree else directory
        if island.tmux(ctx.socket).has_session(req.name):
            raise UsageError(f"session {req.name!r} already exists for {owner}; pick another "
                             "name")
    options = {
        "atoll_agent": agent,
        "atoll_project": project,
        "atoll_worktree": worktree or "",
        "atoll_launched_by": ctx.operator,
        "atoll_created": rfc3339(time.time()) or "",
        "atoll_command": command_label(argv),
        # a user island (or the operator) shares the host's network
        "atoll_net": "net" if kind.in_place else spec.net_mode,
    }
    env = {"ATOLL_SESSION": req.name}
    details: dict[str, object] = {"agent": agent, "command": argv, "project": project}
    if kind.in_place:
        bindir = _atoll_bin_dir()
        env |= {"ATOLL_LAUNCHED_BY": ctx.operator,
                "PATH": f"{bindir}:{SECURE_PATH}" if bindir else SECURE_PATH}
        details |= {"dir": cwd, "worktree": worktree}
    else:
        details |= {"net": spec.net_mode, "allow": [a.text() for a in spec.allow],
                    "cpus": spec.cpus, "memory": spec.memory, "pids": spec.pids}
    if granted or not kind.in_place:
        details["grants"] = [f"{g.path}:{'rw' if g.rw else 'ro'}" for g in granted]
    target = {"host": ctx.host, "session": req.name, "agent_user": owner,
              "island": island.kind}
    # before anything starts: the spec is what makes the session survive
    kept, replaced = spec_store.starting(
        operator=ctx.operator, socket=ctx.socket, name=req.name, agent=agent, argv=argv,
        directory=cwd or project, project=project, worktree=worktree or "",
        island=island.kind, agent_user=owner,
        limits={"grants": list(req.grants)} if kind.in_place else {
            "cpus": req.cpus, "memory": req.memory, "pids": req.pids, "net": req.net,
            "grants": list(req.grants), "allow": list(req.allow)},
        record=req.record, restart=req.restart, previous=req.resume)
    with _undo_spec(kept, replaced), \
            audit.action(ctx, "session.new", target, details, fresh_correlation(ctx)):
        if spec.allow:
            spec = with_egress_proxy(ctx, spec)
            island = make_island(spec)
        try:
            if req.resume is not None and not kind.in_place and island.exists():
                _reopen(island)  # a resume keeps the island: the lost session's work is in it
            else:
                _create_with_broker(ctx, island, granted)
        except BaseException:
            if spec.allow:
                from atoll.islands.egress import stop_proxy

                stop_proxy(spec.island_id)
            raise
        if not kind.in_place:  # a home atoll made for this island; never a person's home
            from atoll.service.hooks_install import wire_island

            wire_island(island.runner(), agent)
        transcript = None
        if kind.host_tmux and (req.record or ctx.record):
            transcript = audit.start_recording(ctx, Server(owner, island.tmux(ctx.socket)),
                                               req.name)
        from atoll.service.limits import joined_island  # the agent's cgroups (issue 17)

        try:
            client = start_session(joined_island(island, ctx), req.name, argv, socket=ctx.socket,
                                   options=options, env=env, cwd=cwd,
                                   first=island.pane_first(),
                                   pipe_command=transcript.pipe_command if transcript else None)
        except BaseException:
            if transcript is not None:
                audit.stop_recording(transcript)
            raise
    if worktree:
        from atoll.islands.worktrees import remember

        remember(owner, req.name, project, worktree)
    return Server(owner, client)


@contextlib.contextmanager
def _undo_spec(spec: SessionSpec, replaced: SessionSpec | None) -> Iterator[None]:
    """Put back what the spec written before a start replaced, when the start failed."""
    try:
        yield
    except BaseException:
        spec_store.failed_start(spec, replaced)
        raise


def _reopen(island: object) -> None:
    """Make an existing island usable for a resumed session: a container stopped by the
    reboot is started (``ENGINE start`` of a running one changes nothing); a bwrap
    island's directory needs nothing."""
    from atoll.islands.container import ContainerIsland

    if isinstance(island, ContainerIsland):
        island.start()
def _join(ctx: Context, req: NewSession, agent: str, argv: list[str]) -> Server:
    """``new --join OTHER`` (:mod:`atoll.service.join`)."""
    from atoll.islands.base import start_session
    from atoll.service.join import island_of, refuse_widening

    assert req.join is not None
    refuse_widening(req)
    island, server, kind, ref = island_of(ctx, req.join)
    if island is None:  # a user island: the same agent user, in the other's project
        project = server.client.session_option(ref, "@atoll_project") or None
        return _new_session(ctx, replace(req, join=None, as_user=server.user,
                                         directory=project), agent, argv)
    if island.tmux(ctx.socket).has_session(req.name):
        raise UsageError(f"session {req.name!r} already exists in that island; pick another "
                         "name")
    options = {
        "atoll_agent": agent, "atoll_project": island.spec.project_dir, "atoll_worktree": "",
        "atoll_launched_by": ctx.operator, "atoll_created": rfc3339(time.time()) or "",
        "atoll_command": command_label(argv), "atoll_net": island.spec.net_mode,
        "atoll_joined": req.join,
    }
    target = {"host": ctx.host, "session": req.name, "agent_user": server.user,
              "island": kind}
    details: dict[str, object] = {"agent": agent, "command": argv, "joined": req.join,
                                  "island_id": island.island_id, "net": island.spec.net_mode}
    with audit.action(ctx, "session.new", target, details, fresh_correlation(ctx)):
        from atoll.service.hooks_install import wire_island

        wire_island(island.runner(), agent)
        client = start_session(island, req.name, argv, socket=ctx.socket, options=options,
                               env={"ATOLL_SESSION": req.name}, first=island.pane_first())
    return Server(server.user, client, server.attach_argv)


def egress_rules(ctx: Context, req: NewSession) -> tuple[Allow, ...]:
    """The allow-list of a new island: ``--allow`` plus the user config's ``allow`` (not
    with ``--net``), checked against the host policy, which only narrows: an entry it does
    not list, or ``--net`` while it lists any, is PermissionDeniedError (exit 4)."""
    from atoll.core.egress import narrow, parse_allow_list
    from atoll.core.errors import PermissionDeniedError
    from atoll.service.policy import read_policy

    policy = read_policy().allow
    if req.net:
        if req.allow:
            raise UsageError("--allow and --net exclude each other: --net already lets "
                             "everything through")
        if policy is not None:
            raise PermissionDeniedError("host policy limits egress to an allow-list "
                                        "(/etc/atoll/policy.toml): --net is refused")
        return ()
    return narrow(parse_allow_list([*ctx.allow, *req.allow]), policy)


def with_egress_proxy(ctx: Context, spec: IslandSpec) -> IslandSpec:
    """``spec`` with its egress proxy started (:mod:`atoll.islands.egress`) when it has an
    allow-list; unchanged otherwise."""
    if not spec.allow:
        return spec
    from atoll.islands.egress import island_key, peer_uid, start_proxy

    path = start_proxy(spec.island_id, spec.kind, ctx.operator, spec.allow, peer_uid(spec),
                       ctx.ledger_path, island_key(spec))
    return replace(spec, egress_dir=path)


def as_target(target: Target | str, as_user: str | None = None) -> Target:
    """``target`` itself, or the target written ``[HOST:]NAME`` (``as_user`` added)."""
    return target if isinstance(target, Target) else parse_target(target, as_user)


def _create_with_broker(ctx: Context, island: Any, granted: tuple[Any, ...]) -> None:
    """Create ``island`` with its grant broker mounted (issue 16): a container's broker
    starts first (the engine binds its mountpoint at creation), a bwrap island's after its
    directory exists (each pane binds it), a user island's (the agent user's, shared by
    its sessions) only when there is something to grant; then each ``--grant`` is added
    through it."""
    from atoll.service import grants as broker_grants

    kind = island.kind
    if kind in ("docker", "podman"):
        place = broker_grants.start_island_broker(ctx, kind, agent=None,
                                                  island_id=island.island_id)
        island.broker_mount = place.mountpoint
        try:
            island.create()
        except BaseException:
            from atoll.broker.control import stop_broker

            stop_broker(place.key)
            raise
    elif kind == "bwrap":
        island.create()
        place = broker_grants.start_island_broker(ctx, kind, agent=island.spec.agent_user,
                                                  island_id=island.island_id)
    else:  # in place (user): the agent user's broker, in its view before the agent runs
        island.create()
        if not granted:
            return
        from atoll.islands.brokermount import user_place

        place = user_place(island.spec.agent_user)
        broker_grants.start_broker(ctx, place)
        live = broker_grants.live_paths(place)  # an earlier session's grant reaches it too
        granted = tuple(g for g in granted if g.path not in live)
    for g in granted:
        broker_grants.add_grant(ctx, place, g.path, rw=g.rw)


def resolve(ctx: Context, name: str, as_user: str | None = None) -> Server:
    """The one visible server of this host that has session ``name``
    (:func:`atoll.service.place.resolve_local`)."""
    return resolve_local(ctx, Target(name, None, as_user)).server


def kill_session(ctx: Context, target: Target | str) -> Place:
    """Kill the session and every process it started (:mod:`atoll.service.killtree`: its
    pane trees, self-detached daemons included, but nothing another live session of the
    same server uses). Container islands end with their container instead. Returns where
    it was."""
    import pwd

    from atoll.service.killtree import end_tree, session_tree

    target = as_target(target)
    try:
        place = resolve_place(ctx, target)
    except NotFoundError:
        if target.host is not None or target.key is not None:  # a key names a live one
            raise
        from atoll.service.resume import forget_lost

        return forget_lost(ctx, target.name, target.as_user)  # a lost session: forgotten
    if isinstance(place, PeerPlace):
        remote.run(ctx, place, "kill", [])
        return place
    server = place.server
    with audit.action(ctx, "session.kill", place.record(), place.details(), place.correlation):
        pids: dict[int, float] = {}
        if ":" not in server.user:  # a Linux user's own server, not a container's
            try:
                uid = pwd.getpwnam(server.user).pw_uid
                pids = session_tree(server.client.list_panes(), place.session_name, uid)
            except (KeyError, AtollError):
                pids = {}
        server.client.kill_session(place.ref)
        if pids:
            end_tree(server.client.runner, pids)
        # ended: not listed as lost, and the name is free again
        spec_store.end_session(ctx.socket, server.user, place.session_name)
    return place


def peek(
    ctx: Context, target: Target | str, lines: int | None = None, *, record: bool = True,
) -> str:
    """Screen text of a session (plus ``lines`` of scrollback when given). ``record=False``
    is for a live preview already recorded when it started watching this session (a peer
    records its own peek all the same)."""
    if lines is not None and not 0 <= lines <= 100_000:
        raise UsageError("--lines must be between 0 and 100000")
    from atoll.service.logs import screen_text

    place = resolve_place(ctx, as_target(target))
    if isinstance(place, PeerPlace):
        args = ["--lines", str(lines)] if lines is not None else []
        return remote.run(ctx, place, "peek", args, details={"lines": lines}, record=record)
    if not record:
        return screen_text(place.server, place.ref, lines, place.pane)
    with audit.action(ctx, "session.peek", place.record(), place.details({"lines": lines}),
                      place.correlation):
        return screen_text(place.server, place.ref, lines, place.pane)


def type_text(ctx: Context, target: Target | str, text: str, *, enter: bool = False) -> str:
    """Type ``text`` literally after sanitising; press Enter only if ``enter``. Returns what
    was typed (a peer sanitises it again; nothing raw travels)."""
    clean = sanitize_typed_text(text)
    if not clean and not enter:
        raise UsageError("nothing to type after removing control characters")
    place = resolve_place(ctx, as_target(target))
    details: dict[str, object] = {
        "text": clean,
        "sha256": hashlib.sha256(clean.encode()).hexdigest(),
        "enter": enter,
        "removed": len(text) - len(clean),
    }
    if isinstance(place, PeerPlace):
        # options before "--", so text starting with "-" stays text on the peer
        remote.run(ctx, place, "type", [*(["--enter"] if enter else []), "--", clean],
                   details=details)
        return clean
    client = place.server.client
    if not clean.isascii():  # ASCII printable is safe in every locale; probe only else
        check_typable(clean, eight_bit_safe=client.eight_bit_safe(place.ref))
    with audit.action(ctx, "session.type", place.record(), place.details(details),
                      place.correlation):
        client.send_literal(place.ref, clean)
        if enter:
            client.send_enter(place.ref)
    return clean


@dataclass(frozen=True)
class AttachPlan:
    """How to attach to ``place``: ``argv`` to run with this terminal; ``switch``
    (switch-client of the caller's own client); ``nested`` (run on atoll's pty relay,
    detached with its key, see :mod:`atoll.service.attachio`); ``filtered`` (its output
    passes the escape filter; always for a peer, whose bytes are hostile)."""

    argv: list[str]
    switch: bool
    place: Place
    read_only: bool = False
    nested: bool = False
    filtered: bool = False

    @property
    def remote(self) -> bool:
        return isinstance(self.place, PeerPlace)


def attach_plan(
    ctx: Context, target: Target | str, *, read_only: bool = False,
    inside_tmux: str | None = None,
) -> AttachPlan:
    """Plan an attach and write its ``intent`` record (before anything attaches;
    :func:`finish_attach` writes the outcome). ``inside_tmux`` is ``$TMUX`` of the caller:
    inside tmux, switch-client works only for a session on the same server (the same
    socket path). Every other attach from inside tmux is a nested client on atoll's relay
    (TMUX unset), and so is every attach to a server the operator does not own, whose
    output is filtered (issue 11.5), and every attach to a peer (``ssh -t``)."""
    place = resolve_place(ctx, as_target(target))
    if isinstance(place, PeerPlace):
        from atoll.fleet.remote import attach_argv

        argv = attach_argv(place.alias, place.argv("attach", ["--read-only"] if read_only
                                                   else []), place.correlation)
        plan = AttachPlan(argv, False, place, read_only, nested=True, filtered=True)
    else:
        plan = _local_attach_plan(ctx, place, read_only, inside_tmux)
    audit.event(ctx, "session.attach", place.record(), "intent",
                place.details({"read_only": read_only, "switch": plan.switch}),
                place.correlation)
    return plan


def _local_attach_plan(ctx: Context, place: LocalPlace, read_only: bool,
                       inside_tmux: str | None) -> AttachPlan:
    server, ref = place.server, place.ref
    owned = server.user == ctx.operator
    same_server = False
    if inside_tmux:
        sock = inside_tmux.split(",")[0]
        same_server = owned and os.path.basename(sock) == ctx.socket
    if same_server:
        argv = server.client.switch_argv(ref, read_only=read_only)
    elif server.attach_argv is not None:
        argv = server.attach_argv(ref, read_only=read_only)
    else:
        argv = server.client.attach_argv(ref, read_only=read_only)
    nested = not same_server and (bool(inside_tmux) or not owned)
    return AttachPlan(argv, same_server, place, read_only, nested=nested, filtered=not owned)


def finish_attach(ctx: Context, plan: AttachPlan, status: int) -> None:
    """The attach's outcome (``ok``, or ``error`` when tmux or ssh failed; ``status`` is
    its exit status) and, after a real attach, the detach. A switch-client returns at
    once: its outcome is all there is."""
    place = plan.place
    details = place.details({"status": status, "switch": plan.switch})
    audit.event(ctx, "session.attach", place.record(), "ok" if status == 0 else "error",
                details, place.correlation)
    if status == 0 and not plan.switch:
        audit.event(ctx, "session.detach", place.record(), "ok", details, place.correlation)


def attach(
    ctx: Context, target: Target | str, *, read_only: bool, inside_tmux: str | None,
) -> int:
    """Record the attach, run it in this terminal until the user detaches, then record the
    detach; returns tmux's exit status (0 after the relay's detach key). For a peer, a
    failed ssh is HostUnreachableError and the peer's own exit status its error class.

    atoll waits for tmux instead of replacing itself with it (exec), so that the ledger can
    hold the detach too. How to come back is said on stderr first (and, inside tmux, in the
    operator's status line)."""
    from atoll.exec.process import run_foreground
    from atoll.service import attachio

    target = as_target(target)
    plan = attach_plan(ctx, target, read_only=read_only, inside_tmux=inside_tmux)
    attachio.announce(target.text(), plan, inside_tmux)
    if isinstance(plan.place, PeerPlace):  # reconnects when the connection drops
        status = 255
        try:
            status = remote.attach_loop(ctx, plan, run_foreground, _stderr_notice)
        finally:
            finish_attach(ctx, plan, status)
        if status != 0:
            raise remote.status_error(plan.place.alias, status)
        return status
    status = run_foreground(plan.argv, unset_tmux=not plan.switch,
                            relay=attachio.relay_for(plan))
    finish_attach(ctx, plan, status)
    if isinstance(plan.place, PeerPlace) and status != 0:
        raise remote.status_error(plan.place.alias, status)
    return status


__all__ = [
    "AttachPlan", "NewSession", "as_target", "attach", "attach_plan", "finish_attach",
    "is_sudo_refusal", "kill_session", "new_session", "peek", "resolve", "type_text",
]


def _stderr_notice(line: str) -> None:
    """A reconnect notice on this terminal (raw or not: it starts a fresh line)."""
    sys.stderr.write(f"\r\n{line}\r\n")
    sys.stderr.flush()
