"""bwrap islands: an agent user's tmux pane wrapped in a bubblewrap sandbox.

Layout (docs/islands.md, "bwrap islands"): ``~AGENT/.atoll/islands/{hash8}-{name}/`` owned
by the agent user, mode 0700, holding

- ``workspace/``: the project copy (tar stream unpacked by the agent user), or nothing
  when the project is granted: then the granted directory is the workspace;
- ``home/``: the sandbox's ``$HOME``;
- ``meta.json``: what the island was made with (name, project, owner, limits, grants and
  the project's branch tips at copy time, for purge). It is outside the sandbox's view.

tmux runs as the agent user on the host (its ``-L SOCKET`` server, like a ``user``
island); each pane's argv is :func:`atoll.core.islands.bwrap_argv`, so the agent sees only
system directories read-only, its workspace and home, and grants. The tmux socket (host
``/tmp``), the agent user's real home (other islands) and the network are out of sight.
Everything inside runs through ``sudo -n -u AGENT`` (:class:`~atoll.exec.runner.Sudo`).
"""

from __future__ import annotations

import json
import posixpath
import pwd
import shutil
import time
from dataclasses import dataclass

from atoll.core.egress import parse_allow_list
from atoll.core.errors import AtollError, NotFoundError, PermissionDeniedError, UsageError
from atoll.core.islandmeta import MAX_META_BYTES, InvalidMetaError, IslandMeta, parse_island_meta
from atoll.core.islands import (
    ISLANDS_SUBDIR,
    Grant,
    HookChannel,
    IslandKindName,
    IslandSpec,
    bwrap_argv,
    island_dir,
)
from atoll.exec.files import read_as
from atoll.exec.process import Completed
from atoll.exec.runner import Runner, Sudo
from atoll.islands.base import Found, IslandExistsError, IslandInfo, IslandServer, Scope
from atoll.islands.container import base_commits
from atoll.islands.copyin import copy_in
from atoll.islands.egress import egress_wrap, proxy_dir, stop_proxy
from atoll.islands.grants import check_grant
from atoll.islands.hookrelay import SHIM, hook_fifo_name, hook_relay_argv
from atoll.tmux.client import DEFAULT_SOCKET, TmuxClient

META = "meta.json"


class BwrapUnavailableError(AtollError):
    """bubblewrap is missing or cannot create its namespaces here."""


def agent_home(user: str) -> str:
    """Home directory of ``user`` from the password database; NotFoundError if none."""
    try:
        return pwd.getpwnam(user).pw_dir
    except KeyError as exc:
        raise NotFoundError(f"no such user {user!r}") from exc


@dataclass(frozen=True)
class BwrapRunner:
    """Runs an argv inside the island's sandbox: ``sudo -n -u AGENT -- bwrap ... -- ARGV``."""

    spec: IslandSpec
    workspace: str
    home: str
    via: Runner
    broker_mount: str | None = None

    @property
    def host(self) -> str:
        return self.via.host

    @property
    def user(self) -> str | None:
        return self.via.user

    def wrap(self, argv: list[str]) -> list[str]:
        return self.via.wrap(bwrap_argv(self.spec, self.workspace, argv, home=self.home,
                                        broker_mount=self.broker_mount))

    def run(self, argv: list[str], *, input: bytes | None = None,
            timeout: float | None = 30.0) -> Completed:
        from atoll.exec.process import run_argv

        return run_argv(self.wrap(argv), input=input, timeout=timeout)


@dataclass
class BwrapIsland:
    """A bwrap island for ``spec`` (``spec.agent_user`` runs it)."""

    spec: IslandSpec
    home_dir: str = ""

    def __post_init__(self) -> None:
        if self.spec.kind != "bwrap" or not self.spec.agent_user:
            raise UsageError("a bwrap island needs kind 'bwrap' and an agent user")
        if not self.home_dir:
            self.home_dir = agent_home(self.spec.agent_user)

    @property
    def kind(self) -> IslandKindName:
        return "bwrap"

    @property
    def agent_user(self) -> str:
        assert self.spec.agent_user is not None
        return self.spec.agent_user

    @property
    def island_id(self) -> str:
        return self.spec.island_id

    @property
    def path(self) -> str:
        """The island directory on the host."""
        return island_dir(self.home_dir, self.spec)

    @property
    def workspace(self) -> str:
        granted = self.spec.project_granted()
        return granted.path if granted else posixpath.join(self.path, "workspace")

    @property
    def sandbox_home(self) -> str:
        return posixpath.join(self.path, "home")

    @property
    def workdir(self) -> str:
        return self.workspace

    def host_runner(self) -> Sudo:
        """The agent user on the host, outside the sandbox (atoll's own steps only)."""
        return Sudo(self.agent_user)

    # -- life cycle ---------------------------------------------------------------------
    def exists(self) -> bool:
        return self.host_runner().run(["test", "-e", self.path], timeout=15).ok

    def _agent_can(self, flags: list[str], path: str) -> bool:
        argv = ["test"]
        for i, flag in enumerate(flags):
            argv += (["-a"] if i else []) + [flag, path]
        return self.host_runner().run(argv, timeout=15).ok

    def create(self) -> None:
        """Make the island directory, copy the project in, and check the sandbox starts."""
        if shutil.which("bwrap") is None:
            raise BwrapUnavailableError("bwrap is not installed (apt-get install bubblewrap)")
        host = self.host_runner()
        probe = host.run(["true"], timeout=15)
        if not probe.ok:
            raise PermissionDeniedError(
                f"sudo does not let you act as {self.agent_user} (sudo -n -u "
                f"{self.agent_user} true)"
            )
        for g in self.spec.grants:
            check_grant(g)
            flags = ["-d", "-x", "-r"] + (["-w"] if g.rw else [])
            if not self._agent_can(flags, g.path):
                need = "read and write" if g.rw else "read"
                raise UsageError(f"{self.agent_user} cannot {need} grant {g.path!r}")
        if self.exists():
            raise IslandExistsError(self.spec.name, f"bwrap directory {self.path}")
        base = posixpath.join(self.home_dir, ISLANDS_SUBDIR)
        dirs = [posixpath.dirname(base), base, self.path, self.sandbox_home]
        granted = self.spec.project_granted() is not None
        copy = bool(self.spec.project_dir) and not granted
        if not granted:
            dirs.append(self.workspace)
        host.run(["install", "-d", "-m", "0700", *dirs], timeout=30).check()
        try:
            commits = base_commits(self.spec.project_dir) if copy else None
            self._write_meta(commits)
            if copy:
                copy_in(host, self.spec.project_dir, self.workspace)
            res = self.runner().run(["true"], timeout=30)
            if not res.ok:
                raise BwrapUnavailableError(
                    f"bwrap cannot start a sandbox as {self.agent_user}: "
                    f"{(res.stderr.strip().splitlines() or ['?'])[-1]}"
                )
        except BaseException:
            self._remove_dir()
            raise

    def _write_meta(self, commits: list[str] | None) -> None:
        meta = {
            "name": self.spec.name, "project_dir": self.spec.project_dir,
            "hash8": self.spec.hash8, "owner": self.spec.operator, "kind": "bwrap",
            "agent_user": self.agent_user, "net": self.spec.net,
            "allow": [a.text() for a in self.spec.allow], "cpus": self.spec.cpus,
            "memory": self.spec.memory, "pids": self.spec.pids,
            "grants": [[g.path, g.rw] for g in self.spec.grants],
            "base_commits": commits, "created": time.time(),
        }
        data = json.dumps(meta, indent=1).encode()
        self.host_runner().run(["tee", posixpath.join(self.path, META)], input=data,
                               timeout=15).check()

    def read_meta(self) -> IslandMeta | None:
        return _meta_at(self, self.path)

    def runner(self) -> BwrapRunner:
        return BwrapRunner(self.spec, self.workspace, self.sandbox_home, self.host_runner(),
                           self.broker_mount)

    def tmux(self, socket: str = DEFAULT_SOCKET) -> TmuxClient:
        return TmuxClient(self.host_runner(), socket)

    def pane_command(self, argv: list[str]) -> list[str]:
        """The pane's argv in the sandbox, without ``--new-session`` (see
        :func:`atoll.core.islands.bwrap_argv`: the pane pty must stay the controlling
        terminal, and nothing outside the sandbox reads it), started by the hook relay
        (:mod:`atoll.islands.hookrelay`) so the agent's hooks inside reach this pane. With
        an allow-list the sandbox's loopback forwarder starts first
        (:mod:`atoll.islands.egress`)."""
        env, wrap = egress_wrap(self.spec)
        return hook_relay_argv(self.path, bwrap_argv(
            self.spec, self.workspace, argv, home=self.sandbox_home, new_session=False,
            hook=HookChannel(self.path + "/" + hook_fifo_name(), SHIM),
            broker_mount=self.broker_mount, env=env, wrap=wrap))

    @property
    def broker_mount(self) -> str:
        """Where this island's grant broker mounts (atoll.islands.brokermount.bwrap_place)."""
        return posixpath.join(self.path, "grants")

    def attach_argv(self, session: str, socket: str = DEFAULT_SOCKET, *,
                    read_only: bool = False) -> list[str]:
        return self.tmux(socket).attach_argv(session, read_only=read_only)

    def owns_session(self, session: str, socket: str = DEFAULT_SOCKET) -> bool:
        """True if ``session`` on the agent's server was started for this island."""
        return self.tmux(socket).session_option(session, "@atoll_island_id") == self.island_id

    def stop(self, socket: str = DEFAULT_SOCKET) -> None:
        """Kill the island's sessions, its first and any that joined it (``--join``); each
        sandbox dies with its session (--die-with-parent)."""
        client = self.tmux(socket)
        try:
            names = {p.session_name for p in client.list_panes()}
        except AtollError:
            names = set()
        for name in sorted(names | {self.spec.name}):
            if self.owns_session(name, socket):
                client.kill_session(name)

    def _remove_dir(self) -> None:
        host = self.host_runner()
        host.run(["chmod", "-R", "u+rwX", self.path], timeout=300)
        host.run(["rm", "-rf", "--one-file-system", self.path], timeout=600).check()

    def purge(self, socket: str = DEFAULT_SOCKET) -> None:
        """Kill the session, stop the egress proxy, detach its grant broker's mount (the
        broker then exits) and delete the island directory (never a granted project)."""
        self.stop(socket)
        stop_proxy(self.island_id)
        self.host_runner().run(["fusermount3", "-u", "-z", "-q", "--", self.broker_mount],
                               timeout=30)
        self._remove_dir()

    def pane_first(self) -> list[str] | None:
        """Nothing before the sandbox: ``--die-with-parent`` and the pid namespace end
        every process of the pane with it."""
        return None

    def check(self) -> None:
        """Nothing to check before the ledger record: :meth:`create` checks the agent user
        and refuses a taken name."""

    def purge_problems(self, found: Found) -> list[str]:
        from atoll.islands.purge import git_problems

        return git_problems(found)

    def leftovers(self, socket: str = DEFAULT_SOCKET) -> list[str]:
        left = []
        if self.exists():
            left.append(f"directory {self.path}")
        if self.tmux(socket).has_session(self.spec.name) and self.owns_session(
                self.spec.name, socket):
            left.append(f"session {self.spec.name} of {self.agent_user}")
        return left

    def describe(self) -> IslandInfo:
        return IslandInfo(
            kind="bwrap", island_id=self.island_id, name=self.spec.name,
            project_dir=self.spec.project_dir, owner=self.spec.operator,
            state="present" if self.exists() else "absent", workspace=self.workspace,
            workdir=self.workdir, agent_user=self.agent_user, net=self.spec.net,
            grants=self.spec.grants, allow=self.spec.allow,
            limits={"cpus": self.spec.cpus, "memory": self.spec.memory, "pids": self.spec.pids},
        )


def list_bwrap_islands(agent_user: str) -> list[BwrapIsland]:
    """The bwrap islands in ``agent_user``'s home (read through sudo; [] if none)."""
    home = agent_home(agent_user)
    base = posixpath.join(home, ISLANDS_SUBDIR)
    res = Sudo(agent_user).run(["ls", "-1", base], timeout=15)
    if not res.ok:
        return []
    out = []
    for entry in res.text().splitlines():
        probe = BwrapIsland(IslandSpec(name="probe", project_dir="", kind="bwrap",
                                       operator="", agent_user=agent_user), home)
        meta = _meta_at(probe, posixpath.join(base, entry))
        if meta is None:
            continue
        try:
            spec = IslandSpec(
                name=meta.name, project_dir=meta.project_dir, kind="bwrap",
                operator=meta.owner, agent_user=agent_user, cpus=meta.cpus,
                memory=meta.memory, pids=meta.pids, net=meta.net,
                grants=tuple(Grant(path, rw) for path, rw in meta.grants),
                allow=parse_allow_list(meta.allow),
                egress_dir=(proxy_dir(entry) or "") if meta.allow else "",
            )
        except AtollError:
            continue
        island = BwrapIsland(spec, home)
        if island.island_id == entry:
            out.append(island)
    return out


def _meta_at(probe: BwrapIsland, path: str) -> IslandMeta | None:
    """The ``meta.json`` of the island directory ``path`` (read as its agent user, capped,
    no symlink followed, a FIFO not waited for), or None when it is missing or invalid."""
    try:
        data = read_as(probe.host_runner(), posixpath.join(path, META), MAX_META_BYTES)
    except FileNotFoundError:
        return None
    if data is None:
        return None
    try:
        return parse_island_meta(data)
    except InvalidMetaError:
        return None


def make(spec: IslandSpec) -> BwrapIsland:
    return BwrapIsland(spec)


def discover(kind: str, scope: Scope) -> list[IslandServer]:
    """None of its own: a bwrap island's sessions live on its agent user's tmux server
    (discovered as ``user``; ``@atoll_island`` says ``bwrap``)."""
    return []


def find(kind: str, target: str, scope: Scope) -> list[Found]:
    """The operator's bwrap islands named ``target`` (or with that id) in the scope's agent
    users' homes."""
    found = []
    for user in scope.users:
        for bw in list_bwrap_islands(user):
            if bw.spec.operator != scope.operator or target not in (bw.spec.name, bw.island_id):
                continue
            meta = bw.read_meta()
            granted = bw.spec.project_granted() is not None
            found.append(Found(
                island=bw, where=f"bwrap island {bw.path}",
                base_commits=meta.base_commits if meta is not None else None,
                check_path=None if granted else bw.workspace,
                check_runner=None if granted else bw.runner(),
            ))
    return found
