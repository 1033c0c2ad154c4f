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
- :meth:`Island.stop`, :meth:`Island.purge` (removes everything, no questions; the safety
  checks are in :mod:`atoll.islands.purge`), :meth:`Island.describe`.

:class:`IslandSpec` and :class:`Grant` are defined in :mod:`atoll.core.islands` (pure) and
re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from atoll.core.egress import Allow
from atoll.core.errors import UsageError
from atoll.core.islands import Grant, IslandKindName, IslandSpec
from atoll.exec.runner import Runner
from atoll.tmux.client import TmuxClient

__all__ = [
    "Grant", "Island", "IslandExistsError", "IslandInfo", "IslandSpec", "start_session",
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

    def attach_argv(self, session: str, socket: str, *, read_only: bool = False) -> list[str]:
        ...

    def stop(self) -> None: ...

    def purge(self, socket: str = ...) -> None: ...

    def describe(self) -> IslandInfo: ...


def start_session(
    island: Island,
    session: str,
    command: list[str],
    *,
    socket: str,
    options: dict[str, str],
    env: dict[str, str] | None = None,
    pipe_command: str | None = None,
) -> TmuxClient:
    """Start detached tmux session ``session`` running ``command`` in ``island``.

    The island must exist (:meth:`Island.create`). The pane runs
    ``island.pane_command(command)`` with cwd ``island.workdir``; ``@atoll_island`` is set
    to the island's kind and ``@atoll_island_id`` to its id (purge checks it). Returns the
    TmuxClient the session lives on. Raises AtollError when the session exists or tmux
    fails. ``pipe_command``: a transcript's ``pipe-pane`` command, started in the same tmux
    call (it runs in the tmux server, so only where that server can reach the FIFO).
    """
    client = island.tmux(socket)
    opts = {**options, "atoll_island": island.kind, "atoll_island_id": island.island_id}
    client.new_session(
        session, island.pane_command(command), cwd=island.workdir, options=opts, env=env,
        pipe_command=pipe_command,
    )
    return client
