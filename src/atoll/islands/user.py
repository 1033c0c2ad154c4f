"""``user`` islands: a plain agent user, no sandbox; and ``none``: the operator itself.

The boundary is the Linux account alone (file permissions, sudoers): the agent runs as
``AGENT`` through ``sudo -n -u AGENT``, in the project directory itself (which the agent
user must be able to enter). What it does *not* contain is listed in docs/islands.md
(escape table): the host network and loopback, world-writable host directories, other
sessions of the same agent user, and there are no process or memory limits. A ``none``
island is the same on the operator's own tmux server, with no boundary at all.

Purge kills the session and removes the git worktree atoll made for it; it never deletes
the project directory, which is the operator's. Both kinds are found on the users' tmux
servers (``@atoll_island`` ``user``, ``none`` or nothing) and purged as ``user``.
"""

from __future__ import annotations

from dataclasses import dataclass

from atoll.core.errors import AtollError, PermissionDeniedError, UsageError
from atoll.core.islands import IslandKindName, IslandSpec
from atoll.core.sessionref import is_atoll_name, matches
from atoll.core.worktrees import worktree_path
from atoll.exec.runner import Local, Runner, Sudo, current_user
from atoll.islands.base import Found, Island, IslandInfo, IslandServer, Scope
from atoll.tmux.client import DEFAULT_SOCKET, TmuxClient


def _runner(user: str) -> Runner:
    return Local() if user == current_user() else Sudo(user)


@dataclass
class UserIsland:
    """A ``user`` (or ``none``) island for ``spec``: ``spec.agent_user`` in
    ``spec.project_dir``. ``tmux_name``: how tmux calls its session when that is not
    ``spec.name`` (a session atoll did not name, addressed by its id ``$N``,
    atoll.core.sessionref); ``worktree``: the git worktree atoll made for it, if any."""

    spec: IslandSpec
    tmux_name: str = ""
    worktree: str | None = None

    @property
    def session_ref(self) -> str:
        return self.tmux_name or self.spec.name

    def __post_init__(self) -> None:
        if self.spec.kind not in ("user", "none") or not self.spec.agent_user:
            raise UsageError("a user island needs kind 'user' or 'none' and an agent user")

    @property
    def kind(self) -> IslandKindName:
        return self.spec.kind

    @property
    def agent_user(self) -> str:
        assert self.spec.agent_user is not None
        return self.spec.agent_user

    @property
    def island_id(self) -> str:
        return self.spec.island_id

    @property
    def workdir(self) -> str:
        return self.spec.project_dir

    def runner(self) -> Runner:
        return _runner(self.agent_user)

    def tmux(self, socket: str = DEFAULT_SOCKET) -> TmuxClient:
        return TmuxClient(self.runner(), socket)

    def exists(self) -> bool:
        return self.tmux().has_session(self.session_ref)

    def check(self) -> None:
        """That the agent user may be used (sudo without a password) and can enter the
        project directory; PermissionDeniedError / UsageError else."""
        user = self.agent_user
        runner = self.runner()
        if user != current_user() and not runner.run(["true"], timeout=15).ok:
            raise PermissionDeniedError(
                f"sudo does not let {self.spec.operator} act as {user} (sudo -n -u {user} true)")
        d = self.spec.project_dir
        if not d or not runner.run(["test", "-d", d, "-a", "-x", d], timeout=15).ok:
            raise UsageError(f"directory {d!r} does not exist or {user} cannot enter it")

    def create(self) -> None:
        """Nothing to make: the account and the directory exist (see :meth:`check`)."""

    def pane_command(self, argv: list[str]) -> list[str]:
        return list(argv)

    def pane_first(self) -> list[str] | None:
        """The process reaper runs first (:mod:`atoll.exec.reaper`), so a kill ends every
        process the agent started."""
        from atoll.exec.reaper import reaper_argv

        return reaper_argv()

    def attach_argv(self, session: str, socket: str = DEFAULT_SOCKET, *,
                    read_only: bool = False) -> list[str]:
        return self.tmux(socket).attach_argv(session, read_only=read_only)

    def stop(self, socket: str = DEFAULT_SOCKET) -> None:
        client = self.tmux(socket)
        if client.has_session(self.session_ref):
            client.kill_session(self.session_ref)

    def purge(self, socket: str = DEFAULT_SOCKET) -> None:
        """Kill the session and remove its worktree (the branch stays)."""
        self.stop(socket)
        if self.worktree:
            self.runner().run(["git", "-C", self.spec.project_dir, "worktree", "remove",
                               "--force", self.worktree], timeout=120).check()

    def purge_problems(self, found: Found) -> list[str]:
        """A user island's only workspace atoll removes is its worktree: the work in it."""
        from atoll.islands.worktrees import worktree_problems

        return worktree_problems(found)

    def leftovers(self, socket: str = DEFAULT_SOCKET) -> list[str]:
        left = []
        if self.tmux(socket).has_session(self.session_ref):
            left.append(f"session {self.spec.name} of {self.agent_user}")
        if self.worktree and self.runner().run(["test", "-e", self.worktree], timeout=15).ok:
            left.append(f"worktree {self.worktree}")
        return left

    def describe(self) -> IslandInfo:
        return IslandInfo(
            kind=self.kind, island_id=self.island_id, name=self.spec.name,
            project_dir=self.spec.project_dir, owner=self.spec.operator,
            state="present" if self.exists() else "absent", workspace=self.spec.project_dir,
            workdir=self.workdir, agent_user=self.spec.agent_user, net=True,
        )


def make(spec: IslandSpec) -> Island:
    return UserIsland(spec)


def discover(kind: str, scope: Scope) -> list[IslandServer]:
    """``none``: the operator's own server; ``user``: one per agent user of the scope."""
    if kind == "none":
        return [IslandServer("none", scope.operator, TmuxClient(Local(), scope.socket))]
    return [IslandServer("user", u, TmuxClient(_runner(u), scope.socket))
            for u in scope.users if u != scope.operator]


def find(kind: str, target: str, scope: Scope) -> list[Found]:
    """The session ``target`` of this operator on each user's server (the operator's own
    included), as a purgeable user island; ``none`` finds nothing of its own (the
    operator's sessions are purged as ``user``)."""
    if kind != "user":
        return []
    return [f for user in dict.fromkeys([scope.operator, *scope.users])
            for f in _user_sessions(target, user, scope.operator, scope.socket)]


def _user_sessions(target: str, user: str, operator: str, socket: str) -> list[Found]:
    runner = _runner(user)
    try:
        panes = TmuxClient(runner, socket).list_panes()
    except AtollError:
        return []
    for p in panes:
        if not matches(target, p.session_name, p.session_id) or p.island not in ("", "user",
                                                                                 "none"):
            continue
        made = is_atoll_name(p.session_name)
        if made and p.launched_by and p.launched_by != operator:
            continue
        # a session atoll did not name: a spec name from its id, tmux addresses it by id,
        # and its options (project, worktree) are the agent's word, not atoll's: unused
        name = target if made else f"handmade-{p.session_id.lstrip('$')}"
        spec = IslandSpec(name=name, project_dir=(p.project if made else "") or "/",
                          kind="user", operator=operator, agent_user=user)
        worktree = None
        if made and p.worktree and p.project:
            worktree = worktree_path(p.project, p.worktree)
        island = UserIsland(spec, tmux_name="" if made else p.session_id, worktree=worktree)
        return [Found(island=island, where=f"user session {target} of {user}",
                      check_path=worktree, check_runner=runner, worktree=worktree,
                      session_user=user)]
    return []
