"""A toy island kind for tests/cli/test_island_registry.py: sessions on a tmux server of
their own (socket ``SOCKET-scratch``) as the operator, no boundary at all. It exists to
show that a kind is its module plus one registry line (docs/islands.md)."""

from __future__ import annotations

from dataclasses import dataclass

from atoll.core.islands import IslandSpec
from atoll.core.sessionref import matches
from atoll.exec.runner import Local, Runner
from atoll.islands.base import Found, Island, IslandInfo, IslandServer, Scope
from atoll.tmux.client import TmuxClient


def _client(socket: str) -> TmuxClient:
    return TmuxClient(Local(), f"{socket}-scratch")


@dataclass
class ScratchIsland:
    spec: IslandSpec
    socket: str = ""

    @property
    def kind(self) -> str:
        return "scratch"

    @property
    def island_id(self) -> str:
        return self.spec.island_id

    @property
    def workdir(self) -> str:
        return self.spec.project_dir or "/"

    def exists(self) -> bool:
        return False

    def check(self) -> None:
        pass

    def create(self) -> None:
        pass

    def runner(self) -> Runner:
        return Local()

    def tmux(self, socket: str) -> TmuxClient:
        self.socket = socket
        return _client(socket)

    def pane_command(self, argv: list[str]) -> list[str]:
        return list(argv)

    def pane_first(self) -> list[str] | None:
        return None

    def attach_argv(self, session: str, socket: str, *, read_only: bool = False) -> list[str]:
        return _client(socket).attach_argv(session, read_only=read_only)

    def stop(self, socket: str = "atoll") -> None:
        client = _client(socket)
        if client.has_session(self.spec.name):
            client.kill_session(self.spec.name)

    def purge(self, socket: str = "atoll") -> None:
        self.stop(socket)

    def purge_problems(self, found: Found) -> list[str]:
        return []

    def leftovers(self, socket: str = "atoll") -> list[str]:
        return [f"session {self.spec.name}"] if _client(socket).has_session(self.spec.name) \
            else []

    def describe(self) -> IslandInfo:
        return IslandInfo(kind="scratch", island_id=self.island_id, name=self.spec.name,
                          project_dir=self.spec.project_dir, owner=self.spec.operator,
                          state="present", workspace="", workdir=self.workdir)


def make(spec: IslandSpec) -> Island:
    return ScratchIsland(spec)


def discover(kind: str, scope: Scope) -> list[IslandServer]:
    return [IslandServer(kind, "scratch", _client(scope.socket))]


def find(kind: str, target: str, scope: Scope) -> list[Found]:
    client = _client(scope.socket)
    for p in client.list_panes():
        if matches(target, p.session_name, p.session_id):
            spec = IslandSpec(name=p.session_name, project_dir="", kind="scratch",
                              operator=scope.operator)
            return [Found(island=ScratchIsland(spec), where=f"scratch session {target}")]
    return []
