"""Session use cases: new, kill, peek, type, attach, and target resolution.

Each use case validates its input, resolves the tmux server it acts on (the operator's own,
or an agent user's through sudo), writes its ledger event through :mod:`atoll.service.audit`
before acting, and only then calls tmux. Errors are AtollError subclasses.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from atoll.core.display import command_label
from atoll.core.egress import Allow
from atoll.core.errors import AmbiguousTargetError, AtollError, NotFoundError, UsageError
from atoll.core.islands import IslandSpec
from atoll.core.names import validate_path_text, validate_session_name, validate_user_name
from atoll.core.patterns import KNOWN_AGENTS
from atoll.core.sessionref import is_atoll_name, matches, validate_session_target
from atoll.core.text import check_typable, sanitize_typed_text
from atoll.core.timefmt import rfc3339
from atoll.core.tmuxfmt import PaneRecord
from atoll.exec.reaper import reaper_argv
from atoll.exec.runner import Local
from atoll.fleet.local import query_servers
from atoll.fleet.servers import Server, runner_for, servers_for
from atoll.fleet.users import is_sudo_refusal, may_act_as
from atoll.service import audit
from atoll.service.context import Context
from atoll.service.gitwork import ensure_worktree, project_root
from atoll.tmux.client import TmuxClient

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
    allow: list[str] = field(default_factory=list)
    join: str | None = None


def _server(ctx: Context, user: str | None) -> Server:
    user = user or ctx.operator
    if user != ctx.operator:
        validate_user_name(user)
    return Server(user, TmuxClient(runner_for(user, ctx.operator), ctx.socket))


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
                warn: Callable[[str], None] | None = None) -> Server:
    """Create a detached session; return the server it lives on.

    Without ``req.as_user`` the agent runs as the operator's agent user
    (:func:`atoll.service.defaultuser.default_agent_user`); when there is none it runs as
    the operator, and ``warn`` receives the one-line warning saying so. Raises UsageError
    for bad input, PermissionDeniedError when sudo refuses the agent user, AtollError when
    the name is taken or tmux fails.
    """
    validate_session_name(req.name)
    agent = agent_name(req.agent, req.command)
    argv = agent_argv(agent, req.command)
    if not argv or not argv[0]:
        raise UsageError("empty command")
    if req.join is not None:
        return _join(ctx, req, agent, argv)
    warning = None
    if req.as_user is None and req.island in ("user", "bwrap"):
        from atoll.service.defaultuser import default_agent_user

        chosen = default_agent_user(ctx)
        if chosen.user != ctx.operator:
            req = replace(req, as_user=chosen.user)
        elif req.island == "user":
            warning = chosen.warning
    server = _new_session(ctx, req, agent, argv)
    if warning and warn is not None:  # only once it runs: a refused `new` warns of nothing
        warn(warning)
    return server


def _new_session(ctx: Context, req: NewSession, agent: str, argv: list[str]) -> Server:
    if req.island in ("docker", "podman", "bwrap"):
        return _new_in_island(ctx, req, agent, argv)
    if req.cpus is not None or req.memory is not None or req.pids is not None or req.net \
            or req.grants or req.allow:
        raise UsageError("--cpus, --memory, --pids, --net, --allow and --grant need --island "
                         "bwrap, docker or podman")
    server = _server(ctx, req.as_user)
    if server.user != ctx.operator and not may_act_as(server.user):
        from atoll.core.errors import PermissionDeniedError

        raise PermissionDeniedError(
            f"sudo does not let {ctx.operator} act as {server.user} (sudo -n -u {server.user} true)"
        )
    directory = os.path.abspath(req.directory or os.getcwd())
    validate_path_text(directory)
    runner = server.client.runner
    if runner.run(["test", "-d", directory, "-a", "-x", directory], timeout=10).returncode != 0:
        raise UsageError(
            f"directory {directory!r} does not exist or {server.user} cannot enter it"
        )
    project = project_root(runner, directory)
    cwd = directory
    if req.worktree:
        cwd = ensure_worktree(runner, project, req.worktree)
    if server.client.has_session(req.name):
        raise UsageError(
            f"session {req.name!r} already exists for {server.user}; pick another name"
        )
    options = {
        "atoll_agent": agent,
        "atoll_project": project,
        "atoll_worktree": req.worktree or "",
        "atoll_launched_by": ctx.operator,
        "atoll_island": "none" if server.user == ctx.operator else req.island,
        "atoll_created": rfc3339(time.time()) or "",
        "atoll_command": command_label(argv),
        "atoll_net": "net",  # a user island (or the operator) shares the host's network
    }
    bindir = _atoll_bin_dir()
    env = {
        "ATOLL_SESSION": req.name,
        "ATOLL_LAUNCHED_BY": ctx.operator,
        "PATH": f"{bindir}:{SECURE_PATH}" if bindir else SECURE_PATH,
    }
    target = {"agent_user": server.user, "session": req.name,
              "island": "none" if server.user == ctx.operator else req.island}
    details: dict[str, object] = {"agent": agent, "command": argv, "dir": cwd, "project": project,
                                  "worktree": req.worktree}
    with audit.action(ctx, "session.new", target, details):
        transcript = None
        if req.record or ctx.record:
            transcript = audit.start_recording(ctx, server, req.name)
        try:
            server.client.new_session(
                req.name, argv, cwd=cwd, options=options, env=env,
                pipe_command=transcript.pipe_command if transcript else None,
                first=reaper_argv(),
            )
        except BaseException:
            if transcript is not None:
                audit.stop_recording(transcript)
            raise
    if req.worktree:
        from atoll.islands.worktrees import remember

        remember(server.user, req.name, project, req.worktree)
    return server


def _new_in_island(ctx: Context, req: NewSession, agent: str, argv: list[str]) -> Server:
    """Create an island (container or bubblewrap) and the session in it.

    Containers run as their own unprivileged user (uid 1000), so ``--as`` and ``--worktree``
    are refused for them; bwrap islands run as an agent user (``--as``, required).
    """
    from atoll.core.errors import PermissionDeniedError
    from atoll.islands.base import start_session
    from atoll.islands.grants import parse_and_check
    from atoll.islands.registry import make_island

    container = req.island in ("docker", "podman")
    if container and (req.record or ctx.record):
        asked = "--record" if req.record else "record = true in your config"
        raise UsageError(f"{asked}: transcripts are not recorded in {req.island} islands (their "
                         "tmux server runs inside the container, where the transcript pipe "
                         "is out of reach); start it without recording, or use --island bwrap")
    if container and (req.as_user or req.worktree):
        raise UsageError(f"--as and --worktree do not apply to {req.island} islands "
                         "(they run as the island's own user on a copy of the project)")
    if req.island == "bwrap" and not req.as_user:
        raise UsageError("a bwrap island runs as an agent user: give --as USER")
    if req.as_user:
        validate_user_name(req.as_user)
        if req.as_user != ctx.operator and not may_act_as(req.as_user):
            raise PermissionDeniedError(f"sudo does not let {ctx.operator} act as {req.as_user}")
    directory = os.path.abspath(req.directory or os.getcwd())
    validate_path_text(directory)
    if not os.path.isdir(directory):
        raise UsageError(f"directory {directory!r} does not exist")
    project = project_root(Local(), directory)
    extra: dict[str, object] = {}
    for key in ("cpus", "memory", "pids"):
        if getattr(req, key) is not None:
            extra[key] = getattr(req, key)
    spec = IslandSpec(
        name=req.name, project_dir=project, kind=req.island,  # type: ignore[arg-type]
        operator=ctx.operator, agent_user=req.as_user if req.island == "bwrap" else None,
        net=req.net, grants=parse_and_check(req.grants), allow=egress_rules(ctx, req),
        **extra,  # type: ignore[arg-type]
    )
    options = {
        "atoll_agent": agent,
        "atoll_project": project,
        "atoll_worktree": "",
        "atoll_launched_by": ctx.operator,
        "atoll_created": rfc3339(time.time()) or "",
        "atoll_command": command_label(argv),
        "atoll_net": spec.net_mode,
    }
    target = {"agent_user": req.as_user or req.island, "session": req.name,
              "island": req.island}
    details: dict[str, object] = {
        "agent": agent, "command": argv, "project": project, "net": spec.net_mode,
        "allow": [a.text() for a in spec.allow],
        "grants": [f"{g.path}:{'rw' if g.rw else 'ro'}" for g in spec.grants],
        "cpus": spec.cpus, "memory": spec.memory, "pids": spec.pids,
    }
    with audit.action(ctx, "session.new", target, details):
        spec = with_egress_proxy(ctx, spec)
        island = make_island(spec)
        try:
            island.create()
        except BaseException:
            if spec.allow:
                from atoll.islands.egress import stop_proxy

                stop_proxy(spec.island_id)
            raise
        from atoll.service.hooks_install import wire_island

        details["hooks"] = wire_island(island.runner(), agent)  # the island's own home
        transcript = None
        if req.island == "bwrap" and req.as_user and (req.record or ctx.record):
            # bwrap's tmux server runs as the agent user on the host, like a user island's
            transcript = audit.start_recording(ctx, Server(req.as_user,
                                                           island.tmux(ctx.socket)), req.name)
        try:
            client = start_session(island, req.name, argv, socket=ctx.socket,
                                   options=options, env={"ATOLL_SESSION": req.name},
                                   pipe_command=transcript.pipe_command if transcript else None)
        except BaseException:
            if transcript is not None:
                audit.stop_recording(transcript)
            raise
    if req.island == "bwrap" and req.as_user:
        return Server(req.as_user, client)
    return Server(f"{req.island}:{island.island_id}", client)


def _join(ctx: Context, req: NewSession, agent: str, argv: list[str]) -> Server:
    """``new --join OTHER`` (:mod:`atoll.service.join`)."""
    from atoll.islands.base import start_session
    from atoll.service.join import island_of, refuse_widening

    assert req.join is not None
    refuse_widening(req)
    validate_session_target(req.join)
    island, server, kind = island_of(ctx, req.join)
    if island is None:  # a user island: the same agent user, in the other's project
        project = server.client.session_option(req.join, "@atoll_project") or None
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
    target = {"agent_user": server.user, "session": req.name, "island": kind}
    details: dict[str, object] = {"agent": agent, "command": argv, "joined": req.join,
                                  "island_id": island.island_id, "net": island.spec.net_mode}
    with audit.action(ctx, "session.new", target, details):
        from atoll.service.hooks_install import wire_island

        details["hooks"] = wire_island(island.runner(), agent)
        client = start_session(island, req.name, argv, socket=ctx.socket, options=options,
                               env={"ATOLL_SESSION": req.name})
    return Server(server.user, client, server.attach_argv)


def egress_rules(ctx: Context, req: NewSession) -> tuple[Allow, ...]:
    """The allow-list of a new island: ``--allow`` plus the user config's ``allow`` (not
    with ``--net``), checked against the host policy, which only narrows: an entry it does
    not list, or ``--net`` while it lists any, is PermissionDeniedError (exit 4)."""
    from atoll.config import load_policy_allow
    from atoll.core.egress import narrow, parse_allow_list
    from atoll.core.errors import PermissionDeniedError

    policy_text = load_policy_allow()
    policy = parse_allow_list(policy_text) if policy_text is not None else None
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
    from atoll.islands.egress import peer_uid, start_proxy

    path = start_proxy(spec.island_id, spec.kind, ctx.operator, spec.allow, peer_uid(spec),
                       ctx.ledger_path)
    return replace(spec, egress_dir=path)


def resolve(ctx: Context, name: str, as_user: str | None = None) -> Server:
    """The one visible server that has session ``name`` (see :func:`resolve_target`)."""
    return resolve_target(ctx, name, as_user)[0]


def resolve_target(ctx: Context, name: str, as_user: str | None = None) -> tuple[Server, str]:
    """The one visible server that has session ``name``, and how tmux calls it there: the
    name itself, or ``$N`` for a session atoll did not name (``name`` is then its listed
    label or id, :mod:`atoll.core.sessionref`).

    Raises NotFoundError when none has it, AmbiguousTargetError (exit 2) listing the agent
    users when several do and ``as_user`` does not choose.
    """
    validate_session_target(name)

    def found(panes: list[PaneRecord]) -> str | None:
        for p in panes:
            if matches(name, p.session_name, p.session_id):
                return p.session_name if is_atoll_name(name) else p.session_id or None
        return None

    if as_user is not None and ":" in as_user:  # ENGINE:CONTAINER, as listed
        from atoll.fleet.containers import as_server, container_refs

        refs = [r for r in container_refs(ctx.operator, ctx.socket) if r.user == as_user]
        if not refs:
            raise NotFoundError(f"no container island {as_user!r}")
        return as_server(refs[0]), name
    if as_user is not None:
        validate_user_name(as_user)
        server = _server(ctx, as_user)
        res = query_servers([server], with_screens=False)[0]
        if not res.visible:
            raise NotFoundError(f"no session {name!r} visible as {as_user}")
        ref = found(res.panes)
        if ref is not None:
            return server, ref
        raise NotFoundError(f"no session {name!r} for {as_user}")
    from atoll.fleet.containers import as_server, container_refs

    servers = servers_for(ctx.candidates(), ctx.socket)
    servers += [as_server(r) for r in container_refs(ctx.operator, ctx.socket) if r.running]
    hits = [(r.server, ref) for r in query_servers(servers, with_screens=False)
            if r.visible and (ref := found(r.panes)) is not None]
    if not hits:
        raise NotFoundError(f"no session {name!r} visible to {ctx.operator}")
    if len(hits) > 1:
        raise AmbiguousTargetError(name, [s.user for s, _ in hits])
    return hits[0]


def _target(server: Server, name: str) -> dict[str, str]:
    return {"agent_user": server.user, "session": name}


def kill_session(ctx: Context, name: str, as_user: str | None = None) -> Server:
    """Kill session ``name`` and every process it started (:mod:`atoll.service.killtree`:
    its pane trees, self-detached daemons included, but nothing another live session of
    the same server uses). Container islands end with their container instead."""
    import pwd

    from atoll.service.killtree import end_tree, session_tree

    server, ref = resolve_target(ctx, name, as_user)
    with audit.action(ctx, "session.kill", _target(server, name), {}):
        pids: dict[int, float] = {}
        if ":" not in server.user:  # a Linux user's own server, not a container's
            try:
                uid = pwd.getpwnam(server.user).pw_uid
                pids = session_tree(server.client.list_panes(), name, uid)
            except (KeyError, AtollError):
                pids = {}
        server.client.kill_session(ref)
        if pids:
            end_tree(server.client.runner, pids)
    return server


def peek(
    ctx: Context, name: str, as_user: str | None = None, lines: int | None = None,
    *, record: bool = True,
) -> str:
    """Screen text of a session (plus ``lines`` of scrollback when given). ``record=False``
    is for a live preview already recorded when it started watching this session."""
    if lines is not None and not 0 <= lines <= 100_000:
        raise UsageError("--lines must be between 0 and 100000")
    from atoll.service.logs import screen_text

    server, ref = resolve_target(ctx, name, as_user)
    if not record:
        return screen_text(server, ref, lines)
    with audit.action(ctx, "session.peek", _target(server, name), {"lines": lines}):
        return screen_text(server, ref, lines)


def type_text(
    ctx: Context, name: str, text: str, *, enter: bool = False, as_user: str | None = None
) -> str:
    """Type ``text`` literally after sanitising; press Enter only if ``enter``. Returns what
    was typed."""
    clean = sanitize_typed_text(text)
    if not clean and not enter:
        raise UsageError("nothing to type after removing control characters")
    server, ref = resolve_target(ctx, name, as_user)
    if not clean.isascii():  # ASCII printable is safe in every locale; probe only else
        check_typable(clean, eight_bit_safe=server.client.eight_bit_safe(ref))
    details: dict[str, object] = {
        "text": clean,
        "sha256": hashlib.sha256(clean.encode()).hexdigest(),
        "enter": enter,
        "removed": len(text) - len(clean),
    }
    with audit.action(ctx, "session.type", _target(server, name), details):
        server.client.send_literal(ref, clean)
        if enter:
            server.client.send_enter(ref)
    return clean


@dataclass(frozen=True)
class AttachPlan:
    """How to attach: ``argv`` to run; ``switch`` (switch-client of the caller's own
    client); ``nested`` (run on atoll's pty relay, detached with its key, see
    :mod:`atoll.service.attachio`); ``filtered`` (its output passes the escape filter)."""

    argv: list[str]
    switch: bool
    server: Server
    nested: bool = False
    filtered: bool = False


def attach_plan(
    ctx: Context, name: str, *, read_only: bool = False, as_user: str | None = None,
    inside_tmux: str | None = None,
) -> AttachPlan:
    """Plan an attach. ``inside_tmux`` is ``$TMUX`` of the caller: inside tmux, switch-client
    works only for a session on the same server (the same socket path). Every other attach
    from inside tmux is a nested client on atoll's relay (TMUX unset), and so is every
    attach to a server the operator does not own, whose output is filtered (issue 11.5)."""
    server, ref = resolve_target(ctx, name, as_user)
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
    return AttachPlan(argv, same_server, server, nested=nested, filtered=not owned)


def record_attach(ctx: Context, plan: AttachPlan, name: str, read_only: bool) -> None:
    """The ``intent`` record of an attach, written before tmux attaches (like every other
    action's); :func:`record_detach` writes its outcome."""
    audit.event(ctx, "session.attach", _target(plan.server, name), "intent",
                {"read_only": read_only, "switch": plan.switch})


def record_detach(ctx: Context, plan: AttachPlan, name: str, status: int) -> None:
    """The attach's outcome (``ok``, or ``error`` when tmux failed) and, after a real
    attach, the detach."""
    target = _target(plan.server, name)
    audit.event(ctx, "session.attach", target, "ok" if status == 0 else "error",
                {"tmux_status": status, "switch": plan.switch})
    if status == 0:
        audit.event(ctx, "session.detach", target, "ok",
                    {"tmux_status": status, "switch": plan.switch})


__all__ = [
    "AttachPlan", "NewSession", "attach_plan", "is_sudo_refusal", "kill_session", "new_session",
    "peek", "record_attach", "resolve", "type_text",
]


def attach(
    ctx: Context, name: str, *, read_only: bool, as_user: str | None, inside_tmux: str | None,
) -> int:
    """Record the attach, run tmux attach in this terminal until the user detaches, then
    record the detach; returns tmux's exit status (0 after the relay's detach key).

    atoll waits for tmux instead of replacing itself with it (exec), so that the ledger can
    hold the detach too. How to come back is said on stderr first (and, inside tmux, in the
    operator's status line)."""
    from atoll.exec.process import run_foreground
    from atoll.service import attachio

    plan = attach_plan(ctx, name, read_only=read_only, as_user=as_user, inside_tmux=inside_tmux)
    record_attach(ctx, plan, name, read_only)
    attachio.announce(name, plan, inside_tmux)
    status = run_foreground(plan.argv, unset_tmux=not plan.switch,
                            relay=attachio.relay_for(plan))
    if not plan.switch:
        record_detach(ctx, plan, name, status)
    else:  # switch-client returns at once: its status is the attach's outcome
        audit.event(ctx, "session.attach", _target(plan.server, name),
                    "ok" if status == 0 else "error", {"tmux_status": status, "switch": True})
    return status
