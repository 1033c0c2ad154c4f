"""``user`` islands: a plain agent user, no sandbox.

The boundary is the Linux account alone (file permissions, sudoers): the agent runs as
``AGENT`` through ``sudo -n -u AGENT``, in the project directory itself (which the agent
user must be able to enter). What it does *not* contain is listed in docs/islands.md
(escape table): the host network and loopback, world-writable host directories, other
sessions of the same agent user, and there are no process or memory limits.

Purge kills the session and removes the git worktree atoll made for it; it never deletes
the project directory, which is the operator's.
"""

from __future__ import annotations

from dataclasses import dataclass

from atoll.core.errors import PermissionDeniedError, UsageError
from atoll.core.islands import IslandKindName, IslandSpec
from atoll.exec.runner import Runner, Sudo
from atoll.islands.base import IslandInfo
from atoll.tmux.client import DEFAULT_SOCKET, TmuxClient


@dataclass
class UserIsland:
    """A ``user`` island for ``spec``: ``spec.agent_user`` in ``spec.project_dir``.
    ``tmux_name``: how tmux calls its session when that is not ``spec.name`` (a session
    atoll did not name, addressed by its id ``$N``, atoll.core.sessionref)."""

    spec: IslandSpec
    tmux_name: str = ""

    @property
    def session_ref(self) -> str:
        return self.tmux_name or self.spec.name

    def __post_init__(self) -> None:
        if self.spec.kind != "user" or not self.spec.agent_user:
            raise UsageError("a user island needs kind 'user' and an agent user")

    @property
    def kind(self) -> IslandKindName:
        return "user"

    @property
    def island_id(self) -> str:
        return self.spec.island_id

    @property
    def workdir(self) -> str:
        return self.spec.project_dir

    def runner(self) -> Runner:
        assert self.spec.agent_user is not None
        return Sudo(self.spec.agent_user)

    def tmux(self, socket: str = DEFAULT_SOCKET) -> TmuxClient:
        return TmuxClient(self.runner(), socket)

    def exists(self) -> bool:
        return self.tmux().has_session(self.session_ref)

    def create(self) -> None:
        """Check that the agent user may be used and can enter the project directory."""
        runner = self.runner()
        if not runner.run(["true"], timeout=15).ok:
            raise PermissionDeniedError(f"sudo does not let you act as {self.spec.agent_user}")
        d = self.spec.project_dir
        if not d or not runner.run(["test", "-d", d, "-a", "-x", d], timeout=15).ok:
            raise UsageError(f"{self.spec.agent_user} cannot enter directory {d!r}")

    def pane_command(self, argv: list[str]) -> list[str]:
        return list(argv)

    def attach_argv(self, session: str, socket: str = DEFAULT_SOCKET, *,
                    read_only: bool = False) -> list[str]:
        return self.tmux(socket).attach_argv(session, read_only=read_only)

    def stop(self, socket: str = DEFAULT_SOCKET) -> None:
        client = self.tmux(socket)
        if client.has_session(self.session_ref):
            client.kill_session(self.session_ref)

    def purge(self, socket: str = DEFAULT_SOCKET) -> None:
        self.stop(socket)

    def describe(self) -> IslandInfo:
        return IslandInfo(
            kind="user", island_id=self.island_id, name=self.spec.name,
            project_dir=self.spec.project_dir, owner=self.spec.operator,
            state="present" if self.exists() else "absent", workspace=self.spec.project_dir,
            workdir=self.workdir, agent_user=self.spec.agent_user, net=True,
        )
