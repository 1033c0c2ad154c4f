"""``atoll resume``, and what ``kill`` and ``purge`` do to a session only its spec knows.

A lost session (its spec not ended, its tmux session gone: :mod:`atoll.service.specs`) is
started again from its spec by :func:`resume`: the same island kind, agent user,
directory, worktree, limits, grants and recording, through the same path as ``atoll new``
(so policy, the sudo check and the ledger's ``session.new`` apply), inside a
``session.resume`` ledger action that says how the agent continues
(:func:`atoll.core.specs.resume_argv`: its own conversation by id, its latest one in that
directory, or a plain restart).
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from atoll.core.errors import (
    AmbiguousTargetError,
    AtollError,
    NotFoundError,
    PermissionDeniedError,
    UsageError,
)
from atoll.core.names import validate_session_name
from atoll.core.specs import ResumeHow, SessionSpec, resume_argv
from atoll.fleet.servers import Server
from atoll.service import audit
from atoll.service import specs as spec_store
from atoll.service.context import Context
from atoll.service.place import LocalPlace
from atoll.tmux.client import TmuxClient


class Resumed(msgspec.Struct, frozen=True):
    """One resumed session: its spec, the server it runs on now and how it continued."""

    spec: SessionSpec
    user: str
    how: ResumeHow


HOW_SAID: dict[str, str] = {
    "conversation": "resumed its conversation {conv}",
    "latest": "no conversation id was learnt: continues its latest conversation in {dir}",
    "restart": "{agent} has no resume atoll knows: its command was started again",
}


def said(r: Resumed) -> str:
    """One line for the operator: how the resumed session continues."""
    return HOW_SAID[r.how].format(conv=r.spec.conversation, dir=r.spec.directory,
                                  agent=r.spec.agent)


def _mine(ctx: Context, spec: SessionSpec) -> bool:
    return spec.launched_by == ctx.operator


def _chosen(ctx: Context, name: str, as_user: str | None, *,
            ended: bool = False) -> list[SessionSpec]:
    validate_session_name(name)
    specs, _ = spec_store.load_all(ctx.socket)
    return [s for s in specs if s.name == name and bool(s.ended) == ended and _mine(ctx, s)
            and (as_user is None or s.agent_user == as_user)]


def _one(ctx: Context, name: str, as_user: str | None) -> SessionSpec:
    found = _chosen(ctx, name, as_user)
    if not found:
        raise NotFoundError(f"no session {name!r} visible to {ctx.operator}")
    if len(found) > 1:
        raise AmbiguousTargetError(name, [s.agent_user for s in found])
    return found[0]


def _placeholder(ctx: Context, user: str) -> Server:
    from atoll.exec.runner import Local

    return Server(user, TmuxClient(Local(), ctx.socket))


def forget_lost(ctx: Context, name: str, as_user: str | None) -> LocalPlace:
    """``kill`` of a session that is lost: its spec is marked ended (``forgotten``) so it is
    neither listed nor resumable; ``purge`` removes it. Raises NotFoundError when no lost
    session of that name is recorded either."""
    spec = _one(ctx, name, as_user)
    if not _visible(ctx, spec):  # sudo refuses its user now: not visible, not lost
        raise NotFoundError(f"no session {name!r} visible to {ctx.operator}")
    if _still_running(ctx, spec):
        raise AtollError(f"session {name!r} of {spec.agent_user} is running but was not "
                         "visible just now; try again")
    target = {"agent_user": spec.agent_user, "session": name, "island": spec.island}
    with audit.action(ctx, "session.forget", target, {"created": spec.created}):
        spec_store.mark_ended(spec, "forgotten")
    from atoll.core.tmuxfmt import PaneRecord
    from atoll.service.place import Target

    return LocalPlace(Target(name, None, spec.agent_user), _placeholder(ctx, spec.agent_user),
                      spec.island, name, PaneRecord(session_name=name))


def specs_to_purge(ctx: Context, name: str, users: list[str] | None) -> list[SessionSpec]:
    """The specs of session ``name`` (of ``users``, or any agent user) that are ended or
    lost, which ``purge`` removes."""
    specs, _ = spec_store.load_all(ctx.socket)
    return [s for s in specs if s.name == name and _mine(ctx, s)
            and (users is None or s.agent_user in users) and not _still_running(ctx, s)]


def purge_specs(ctx: Context, name: str, users: list[str] | None) -> list[SessionSpec]:
    """Remove the specs of :func:`specs_to_purge`: what ``purge`` does last. Ledger: one
    ``session.purge-spec`` each."""
    gone = specs_to_purge(ctx, name, users)
    for spec in gone:
        target = {"agent_user": spec.agent_user, "session": name, "island": spec.island}
        with audit.action(ctx, "session.purge-spec", target, {"ended": spec.ended}):
            spec_store.remove(spec)
    return gone


def _visible(ctx: Context, spec: SessionSpec) -> bool:
    """Whether the operator may act as ``spec``'s agent user (``sudo -n -u USER true``)."""
    from atoll.fleet.users import may_act_as

    return spec.agent_user == ctx.operator or ":" in spec.agent_user \
        or may_act_as(spec.agent_user)


def _still_running(ctx: Context, spec: SessionSpec) -> bool:
    """Whether ``spec``'s tmux session exists (a refused sudo: it cannot be seen, so it
    does not, for this operator). Raises AtollError when its server does not answer (a
    stopped server must not make a live session look lost)."""
    if ":" in spec.agent_user or spec.ended:
        return False  # a container island's server is inside it; its purge stops it
    from atoll.exec.runner import Local, Sudo

    runner = Local() if spec.agent_user == ctx.operator else Sudo(spec.agent_user)
    try:
        return TmuxClient(runner, ctx.socket, timeout=10).has_session(spec.name)
    except AtollError as exc:
        raise AtollError(f"cannot tell whether {spec.name!r} of {spec.agent_user} still runs: "
                         f"{exc}") from None


def resume(ctx: Context, name: str, as_user: str | None = None) -> Resumed:
    """Start lost session ``name`` again from its spec (see the module docstring).

    Raises NotFoundError (no lost session of that name recorded for this operator),
    AmbiguousTargetError (several agent users have one; choose with ``as_user``),
    UsageError (it is running), PermissionDeniedError (sudo no longer lets the operator
    act as its agent user), AtollError (the start failed; the spec stays lost)."""
    spec = _one(ctx, name, as_user)
    return _resume(ctx, spec)


def _resume(ctx: Context, spec: SessionSpec) -> Resumed:
    from atoll.service import sessions

    if _still_running(ctx, spec):
        raise UsageError(f"session {spec.name!r} of {spec.agent_user} is running, not lost")
    argv, how = resume_argv(spec)
    container = spec.island in ("docker", "podman")
    req = sessions.NewSession(
        name=spec.name, agent=spec.agent, command=argv,
        directory=spec.project if spec.worktree else spec.directory,
        as_user=None if container else spec.agent_user,
        worktree=spec.worktree or None, island="user" if spec.island == "none" else spec.island,
        record=spec.record, cpus=spec.cpus, memory=spec.memory, pids=spec.pids,
        net=spec.net, grants=list(spec.grants), restart=spec.restart, resume=spec,
    )
    target = {"agent_user": spec.agent_user, "session": spec.name, "island": spec.island}
    details: dict[str, object] = {"how": how, "command": argv, "conversation": spec.conversation,
                                  "resumes": spec.resumes + 1, "created": spec.created}
    with audit.action(ctx, "session.resume", target, details):
        started = sessions.new_session(ctx, req)
    return Resumed(spec, started.as_user or spec.agent_user, how)


def resume_all(
    ctx: Context, as_user: str | None = None, *, boot: bool = False,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[Resumed], list[str]]:
    """Resume every lost session of this operator (of ``as_user`` only, when given);
    ``boot``: only those started with ``--restart always``. Returns what was resumed and
    one line per session that was not (why); one failure never stops the others."""
    specs, problems = spec_store.load_all(ctx.socket)
    if boot and ctx.operator == "root":
        return _boot_as_root(ctx, specs, as_user, problems, progress)
    todo = [s for s in spec_store.lost_specs(specs, ctx.operator)
            if (as_user is None or s.agent_user == as_user)
            and (not boot or s.restart == "always")]
    done: list[Resumed] = []
    failed = list(problems)
    for spec in todo:
        try:
            if _still_running(ctx, spec):
                continue  # not lost
            if boot:
                _boot_check(ctx, spec)
            r = _resume(ctx, spec)
        except AtollError as exc:
            failed.append(f"{spec.name} ({spec.agent_user}): {exc}")
            continue
        done.append(r)
        if progress is not None:
            progress(f"atoll: resumed {spec.name} as {r.user}: {said(r)}")
    return done, failed


def _boot_check(ctx: Context, spec: SessionSpec) -> None:
    """What a start at boot re-checks before it runs a spec: never as root, and the
    launching operator may still act as the agent user (``sudo -n -l -u USER true``,
    sudo(8): ``-l`` with a command exits 0 only when the policy allows it)."""
    from atoll.exec.runner import Local

    if spec.agent_user == "root" or (spec.island == "none" and spec.launched_by == "root"):
        raise PermissionDeniedError("a spec's command never runs as root at boot")
    if spec.agent_user == ctx.operator or ":" in spec.agent_user:
        return
    res = Local().run(["sudo", "-n", "-l", "-u", spec.agent_user, "true"], timeout=15)
    if not res.ok:
        raise PermissionDeniedError(
            f"sudo no longer lets {ctx.operator} act as {spec.agent_user}")


def _boot_as_root(
    ctx: Context, specs: list[SessionSpec], as_user: str | None, problems: list[str],
    progress: Callable[[str], None] | None,
) -> tuple[list[Resumed], list[str]]:
    """``resume --all --boot`` run by root (a systemd unit, root's ``@reboot``): every
    not-ended ``--restart always`` spec of the store. Root's own are resumed here (never a
    spec that would run as root); another operator's only when its file is that
    operator's (:func:`atoll.service.specs.file_owner`) and ``sudo -l -U OPERATOR -u USER
    true`` says the operator may still act as the agent user, and then by that operator:
    ``sudo -n -u OPERATOR -- atoll resume NAME --as USER``, with the operator's rights."""
    import pwd

    from atoll.exec.runner import Local, Sudo

    done: list[Resumed] = []
    failed = list(problems)
    for spec in specs:
        if spec.ended or spec.restart != "always" or \
                (as_user is not None and spec.agent_user != as_user):
            continue
        label = f"{spec.name} ({spec.agent_user}, started by {spec.launched_by})"
        try:
            if _still_running(ctx, spec):
                continue
            if spec.launched_by == "root":
                _boot_check(ctx, spec)
                r = _resume(ctx, spec)
                done.append(r)
                if progress is not None:
                    progress(f"atoll: resumed {label}: {said(r)}")
                continue
            if spec.agent_user == "root" or spec.island == "none":
                raise PermissionDeniedError("a spec's command never runs as root, nor as "
                                            "its operator, at boot")
            try:
                uid = pwd.getpwnam(spec.launched_by).pw_uid
            except KeyError:
                raise PermissionDeniedError(f"no user {spec.launched_by}") from None
            if spec_store.file_owner(spec) != uid:
                raise PermissionDeniedError(f"its spec file is not {spec.launched_by}'s")
            if ":" not in spec.agent_user:
                check = Local().run(["sudo", "-n", "-l", "-U", spec.launched_by, "-u",
                                     spec.agent_user, "true"], timeout=15)
                if not check.ok:
                    raise PermissionDeniedError(f"sudo no longer lets {spec.launched_by} act "
                                                f"as {spec.agent_user}")
            env = ["env", f"ATOLL_TMUX_SOCKET={ctx.socket}",
                   f"ATOLL_HOST_STORE={spec_store.host_store()}"]
            res = Sudo(spec.launched_by).run(
                [*env, _atoll_bin(), "resume", spec.name, "--as", spec.agent_user],
                timeout=300)
            if not res.ok:
                tail = res.stderr.strip().splitlines()[-1:] or [f"exit {res.returncode}"]
                raise AtollError(tail[0].removeprefix("atoll: error: "))
            if progress is not None:
                progress(f"atoll: resumed {label} as {spec.launched_by}")
        except AtollError as exc:
            failed.append(f"{label}: {exc}")
    return done, failed


def _atoll_bin() -> str:
    """This atoll's console script (what a start at boot runs as the operator)."""
    import os
    import shutil
    import sys

    here = os.path.join(os.path.dirname(os.path.abspath(sys.argv[0])), "atoll")
    return here if os.access(here, os.X_OK) else (shutil.which("atoll") or "atoll")
