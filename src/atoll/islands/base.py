"""The island protocol every kind implements (shared/DESIGN.md decision 8).

An island is the boundary an agent runs in. Every kind answers the same questions:

- :meth:`Island.create`: make it (container + volume, or workspace directory); refuses a
  name that is taken with :class:`IslandExistsError`, whose message says how to attach to
  or remove the existing one;
- :meth:`Island.runner`: a :class:`~atoll.exec.runner.Runner` that runs a command *inside*
  the boundary (non-interactive: git checks, copy-in, tests);
- :meth:`Island.tmux`: the :class:`~atoll.tmux.client.TmuxClient` of the tmux server the
  island's sessions live on, and :meth:`Island.pane_command`: how a pane's argv is wrapped
  (bwrap wraps it in the sandbox; containers run tmux inside, so the argv is unchanged);
- :meth:`Island.attach_argv`: the argv that attaches a terminal to a session;
- :meth:`Island.stop`, :meth:`Island.purge` (removes everything, no questions),
  :meth:`Island.purge_problems` (the work a purge would destroy, checked first by
  :mod:`atoll.islands.purge`), :meth:`Island.leftovers` (what is still there after a purge),
  :meth:`Island.describe`.

Each kind's module also answers for the kind as a whole (:class:`KindModule`): ``make``
(spec -> island), ``discover`` (the tmux servers its sessions live on, for listings and
target resolution) and ``find`` (its islands of a name, for purge). The registry
(:mod:`atoll.islands.registry`) maps kind names to those modules.

:class:`IslandSpec` and :class:`Grant` are defined in :mod:`atoll.core.islands` (pure) and
re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from atoll.core.egress import Allow
from atoll.core.errors import UsageError
from atoll.core.islands import Grant, IslandKindName, IslandSpec
from atoll.exec.runner import Runner
from atoll.tmux.client import TmuxClient

__all__ = [
    "Found", "Grant", "Island", "IslandExistsError", "IslandInfo", "IslandServer", "IslandSpec",
    "KindModule", "Scope", "start_session",
]


class IslandExistsError(UsageError):
    """An island with this name already exists for this project (exit 2)."""

    def __init__(self, name: str, where: str) -> None:
        super().__init__(
            f"island {name!r} already exists ({where}); attach with `atoll attach {name}` "
            f"or remove it with `atoll purge {name}`"
        )


@dataclass(frozen=True)
class IslandInfo:
    """What :meth:`Island.describe` reports.

    ``state``: ``running``, ``exited``, ``created`` (container states), ``present`` (a
    bwrap/user workspace exists) or ``absent``. ``workspace``: the volume name of a
    container island, the host directory of a bwrap island, the project directory of a
    user island. ``limits``: cpus (cores), memory (bytes), pids, as asked at creation.
    """

    kind: IslandKindName
    island_id: str
    name: str
    project_dir: str
    owner: str
    state: str
    workspace: str
    workdir: str
    agent_user: str | None = None
    engine: str | None = None
    net: bool = False
    grants: tuple[Grant, ...] = ()
    allow: tuple[Allow, ...] = ()
    limits: dict[str, float] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


class Island(Protocol):
    """One island of any kind; see the module docstring for the contract of each method."""

    spec: IslandSpec

    @property
    def kind(self) -> IslandKindName: ...

    @property
    def island_id(self) -> str:
        """Container name (``atoll-{hash8}-{name}``) or directory name (``{hash8}-{name}``)."""
        ...

    @property
    def workdir(self) -> str:
        """The directory sessions start in (inside the island's view)."""
        ...

    def exists(self) -> bool: ...

    def create(self) -> None: ...

    def runner(self) -> Runner: ...

    def tmux(self, socket: str) -> TmuxClient: ...

    def pane_command(self, argv: list[str]) -> list[str]: ...

    def pane_first(self) -> list[str] | None:
        """An argv prefix the pane runs before its command (the process reaper), or None."""
        ...

    def check(self) -> None:
        """What can be checked before the ledger record (no side effects): refuse now
        rather than after the intent is written."""
        ...

    def attach_argv(self, session: str, socket: str, *, read_only: bool = False) -> list[str]:
        ...

    def stop(self) -> None: ...

    def purge(self, socket: str = ...) -> None: ...

    def purge_problems(self, found: Found) -> list[str]:
        """Work purging would destroy, as short phrases ([] when none); AtollError when it
        cannot be told."""
        ...

    def leftovers(self, socket: str = ...) -> list[str]:
        """What of the island still exists (empty after a good purge)."""
        ...

    def describe(self) -> IslandInfo: ...


@dataclass(frozen=True)
class IslandServer:
    """A tmux server sessions of ``kind`` live on: ``owner`` is the Linux user it runs as
    (``ENGINE:CONTAINER`` for a container island); ``attach_argv(session, read_only=...)``,
    when set, replaces ``client.attach_argv`` (containers need ``exec -it``); ``container``
    and ``engine`` name a container island (for its pid namespace), ``running`` whether
    its sessions can be reached now."""

    kind: str
    owner: str
    client: TmuxClient
    attach_argv: Callable[..., list[str]] | None = None
    container: str | None = None
    engine: str | None = None
    running: bool = True


@dataclass(frozen=True)
class Scope:
    """Where discovery looks: the operator's own server, the agent users given (already
    chosen by the caller: candidates sudo has not just refused), the tmux socket name."""

    operator: str
    users: tuple[str, ...] = ()
    socket: str = "atoll"


@dataclass
class Found:
    """One island that matched a purge target, with what purge needs to know about it:
    ``base_commits`` (commits that were there when the project was copied in),
    ``check_path``/``check_runner`` (where and as whom git checks run, inside the island),
    ``worktree`` (a user island's git worktree), ``session_user`` (whose session it was)."""

    island: Island
    where: str
    base_commits: list[str] | None = None
    check_path: str | None = None
    check_runner: Runner | None = None
    worktree: str | None = None
    session_user: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.island.kind

    def destroy(self, socket: str = "atoll") -> None:
        """Remove everything of the island (no checks here; see Island.purge_problems)."""
        self.island.purge(socket)

    def leftovers(self, socket: str = "atoll") -> list[str]:
        """What still exists of the island after a purge (empty when all is gone)."""
        return self.island.leftovers(socket)


class KindModule(Protocol):
    """What a kind's module provides (``kind`` is the registered name it is asked for)."""

    def make(self, spec: IslandSpec) -> Island: ...

    def discover(self, kind: str, scope: Scope) -> list[IslandServer]: ...

    def find(self, kind: str, target: str, scope: Scope) -> list[Found]: ...


def start_session(
    island: Island,
    session: str,
    command: list[str],
    *,
    socket: str,
    options: dict[str, str],
    env: dict[str, str] | None = None,
    pipe_command: str | None = None,
    cwd: str | None = None,
    first: list[str] | None = None,
) -> TmuxClient:
    """Start detached tmux session ``session`` running ``command`` in ``island``.

    The island must exist (:meth:`Island.create`). The pane runs
    ``island.pane_command(command)`` with cwd ``island.workdir``; ``@atoll_island`` is set
    to the island's kind and ``@atoll_island_id`` to its id (purge checks it). Returns the
    TmuxClient the session lives on. Raises AtollError when the session exists or tmux
    fails. ``pipe_command``: a transcript's ``pipe-pane`` command, started in the same tmux
    call (it runs in the tmux server, so only where that server can reach the FIFO).
    ``cwd`` (default ``island.workdir``): where the pane starts (a user island's worktree);
    ``first``: an argv the pane runs before the command (``island.pane_first()``).
    """
    client = island.tmux(socket)
    opts = {**options, "atoll_island": island.kind, "atoll_island_id": island.island_id}
    client.new_session(
        session, island.pane_command(command), cwd=cwd or island.workdir, options=opts,
        env=env, pipe_command=pipe_command, first=first,
    )
    return client
