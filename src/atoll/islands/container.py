"""Container islands (docker and podman): one container and one workspace volume each.

``create`` (docs/islands.md, "Container islands"):
1. refuse a name that is taken (container or volume) with IslandExistsError;
2. ``ENGINE volume create`` ``atoll-{hash8}-{name}-ws`` with the island labels;
3. ``ENGINE run -d`` with :func:`atoll.core.islands.container_run_argv` (no capabilities,
   no new privileges, read-only root, tmpfs scratch, pids/memory/cpu limits, no network
   unless asked, uid 1000, ``--init``, ``sleep infinity`` as the init child), then
   ``tmux -V`` inside proves the container runs and the image has tmux;
4. copy the project into ``/workspace`` as uid 1000 (``exec -i ... tar -x``), unless the
   project is granted, in which case it is bound at its own path instead.
A failure after step 2 removes what was made. The engine socket, the operator's home and
``SSH_AUTH_SOCK`` are never mounted: the only host paths inside are explicit grants.

tmux runs inside (``ENGINE exec -u 1000 NAME tmux -L SOCKET ...``), so listing, peek,
type, kill and attach go through the engine's exec. ``list_container_islands`` finds the
operator's islands with one ``ENGINE ps`` per engine.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from atoll.core.egress import parse_allow_list
from atoll.core.errors import AtollError, UsageError
from atoll.core.islands import (
    AGENT_UID,
    CONTAINER_KINDS,
    CONTAINER_WORKSPACE,
    EGRESS_MOUNT,
    LABEL_ALLOW,
    LABEL_BASE,
    LABEL_DIR,
    LABEL_NAME,
    LABEL_OWNER,
    Grant,
    IslandKindName,
    IslandSpec,
    container_run_argv,
    island_labels,
    parse_container_name,
    volume_name,
)
from atoll.exec.runner import ContainerExec, Local, Runner, current_user
from atoll.islands.base import Found, IslandExistsError, IslandInfo
from atoll.islands.copyin import copy_in
from atoll.islands.egress import egress_wrap, stop_proxy
from atoll.islands.engine import Engine, ulimits
from atoll.islands.grants import hold_grant, verify_mounts
from atoll.islands.hookrelay import SHIM
from atoll.islands.image import require_image
from atoll.tmux.client import DEFAULT_SOCKET, TmuxClient

EXEC_USER = str(AGENT_UID)


def base_commits(project_dir: str, runner: Runner | None = None) -> list[str] | None:
    """Commit ids of the project's branches at copy time (None when not a git repository).

    Purge treats these as already safe: work the island did not add is not "unpushed".
    """
    run = runner or Local()
    res = run.run(["git", "-C", project_dir, "for-each-ref", "--format=%(objectname)",
                   "refs/heads"], timeout=30)
    if not res.ok:
        return None
    return sorted({ln.strip() for ln in res.text().splitlines() if ln.strip()})


@dataclass
class ContainerIsland:
    """A docker or podman island for ``spec`` (``spec.kind`` names the engine)."""

    spec: IslandSpec
    broker_mount: str = ""
    """Host mountpoint of the island's grant broker, bound at ``/grants`` at creation
    (atoll.islands.brokermount.container_place); "" for none."""

    def __post_init__(self) -> None:
        if self.spec.kind not in CONTAINER_KINDS:
            raise UsageError(f"{self.spec.kind} is not a container kind")

    @property
    def kind(self) -> IslandKindName:
        return self.spec.kind

    @property
    def engine(self) -> Engine:
        return Engine(self.spec.kind)

    @property
    def island_id(self) -> str:
        return self.spec.island_id

    @property
    def volume(self) -> str:
        return volume_name(self.island_id)

    @property
    def workdir(self) -> str:
        granted = self.spec.project_granted()
        return granted.path if granted else CONTAINER_WORKSPACE

    # -- life cycle ---------------------------------------------------------------------
    def exists(self) -> bool:
        return self.engine.run("container", "inspect", self.island_id, timeout=30).ok

    def create(self) -> None:
        """Make the container and its volume; see the module docstring for the steps."""
        fds: list[int] = []
        try:
            for g in self.spec.grants:
                fds.append(hold_grant(g))
            self._create(fds)
        finally:
            for fd in fds:
                os.close(fd)

    def _create(self, grant_fds: list[int]) -> None:
        engine = self.engine
        require_image(engine, self.spec.image)
        if self.exists():
            raise IslandExistsError(self.spec.name, f"{engine.name} container {self.island_id}")
        if engine.run("volume", "inspect", self.volume, timeout=30).ok:
            raise IslandExistsError(self.spec.name, f"{engine.name} volume {self.volume}")
        copy = bool(self.spec.project_dir) and self.spec.project_granted() is None
        base = base_commits(self.spec.project_dir) if copy else None
        labels = island_labels(self.spec, base)
        vol = ["volume", "create"]
        for key, val in labels.items():
            vol += ["--label", f"{key}={val}"]
        engine.check(*vol, self.volume)
        try:
            env, wrap = egress_wrap(self.spec)
            run = container_run_argv(self.spec, volume=self.volume, labels=labels,
                                     ulimits=ulimits(), hook_shim=SHIM,
                                     broker_mount=self.broker_mount, env=env,
                                     command=(*wrap, "sleep", "infinity"))
            engine.check(*run, timeout=120)
            ready = self.runner().run(["tmux", "-V"], timeout=60)
            if not ready.ok:
                why = (ready.stderr.strip().splitlines() or [f"exit {ready.returncode}"])[-1]
                raise AtollError(
                    f"island {self.island_id} is not usable: `tmux -V` inside failed ({why})"
                )
            verify_mounts(self.runner(), self.spec.grants, grant_fds)
            if copy:
                copy_in(ContainerExec(engine.name, self.island_id, EXEC_USER, stdin=True),
                        self.spec.project_dir, CONTAINER_WORKSPACE)
        except BaseException:
            self.purge()
            raise

    def runner(self) -> Runner:
        return ContainerExec(self.spec.kind, self.island_id, EXEC_USER)

    def tmux(self, socket: str = DEFAULT_SOCKET) -> TmuxClient:
        return TmuxClient(self.runner(), socket)

    def pane_command(self, argv: list[str]) -> list[str]:
        return list(argv)

    def pane_first(self) -> list[str] | None:
        """Nothing before the command: ``--init`` reaps inside, and the container ends with
        its island."""
        return None

    def check(self) -> None:
        """Nothing to check before the ledger record: :meth:`create` refuses a taken name."""

    def purge_problems(self, found: Found) -> list[str]:
        """Git work in the workspace (the container is started first if it is stopped: git
        runs inside it, never on the host)."""
        from atoll.islands.purge import git_problems

        info = self.inspect()
        if found.check_path is not None and info is not None \
                and info.get("State", {}).get("Status") != "running":
            self.start()
        return git_problems(found)

    def leftovers(self, socket: str = DEFAULT_SOCKET) -> list[str]:
        eng, left = self.engine, []
        if eng.run("container", "inspect", self.island_id, timeout=30).ok:
            left.append(f"{eng.name} container {self.island_id}")
        if eng.run("volume", "inspect", self.volume, timeout=30).ok:
            left.append(f"{eng.name} volume {self.volume}")
        return left

    def attach_argv(self, session: str, socket: str = DEFAULT_SOCKET, *,
                    read_only: bool = False) -> list[str]:
        """``ENGINE exec -it -u 1000 NAME tmux -L SOCKET attach-session -t =SESSION [-r]``."""
        runner = ContainerExec(self.spec.kind, self.island_id, EXEC_USER, interactive=True)
        return TmuxClient(runner, socket).attach_argv(session, read_only=read_only)

    def start(self) -> None:
        self.engine.check("start", self.island_id)

    def stop(self, socket: str = DEFAULT_SOCKET) -> None:
        self.engine.check("stop", "-t", "5", self.island_id, timeout=60)

    def purge(self, socket: str = DEFAULT_SOCKET) -> None:
        """Remove the container (and with it its tmux server), the volume and the egress
        proxy."""
        engine = self.engine
        stop_proxy(self.island_id)
        res = engine.run("rm", "-f", "-v", self.island_id, timeout=120)
        if not res.ok and not _is_missing(res.stderr):
            res.check()
        res = engine.run("volume", "rm", "-f", self.volume, timeout=120)
        if not res.ok and not _is_missing(res.stderr):
            res.check()
        from atoll.islands.brokermount import container_place

        mnt = container_place(engine.name, self.island_id).mountpoint
        if os.path.ismount(mnt):  # the grant broker exits once its mount is gone
            Local().run(["fusermount3", "-u", "-z", "-q", "--", mnt], timeout=30)

    def inspect(self) -> dict[str, Any] | None:
        res = self.engine.run("container", "inspect", self.island_id, timeout=30)
        if not res.ok:
            return None
        data = json.loads(res.stdout)
        return data[0] if isinstance(data, list) and data else None

    def describe(self) -> IslandInfo:
        info = self.inspect()
        state = "absent" if info is None else str(info.get("State", {}).get("Status", "unknown"))
        labels = (info or {}).get("Config", {}).get("Labels") or {}
        return IslandInfo(
            kind=self.kind, island_id=self.island_id, name=self.spec.name,
            project_dir=self.spec.project_dir, owner=self.spec.operator, state=state,
            workspace=self.volume, workdir=self.workdir, engine=self.engine.name,
            net=self.spec.net, grants=self.spec.grants, allow=self.spec.allow,
            limits={"cpus": self.spec.cpus, "memory": self.spec.memory, "pids": self.spec.pids},
            labels=dict(labels),
        )


def _is_missing(stderr: str) -> bool:
    s = stderr.lower()
    return "no such" in s or "not found" in s or "no container with" in s


def spec_from_inspect(engine: str, info: dict[str, Any]) -> IslandSpec:
    """Rebuild the spec of an existing island from ``ENGINE inspect`` output.

    Raises UsageError when the container is not an atoll island.
    """
    labels = info.get("Config", {}).get("Labels") or {}
    name = str(info.get("Name", "")).lstrip("/")
    parsed = parse_container_name(name)
    if parsed is None or LABEL_NAME not in labels:
        raise UsageError(f"container {name!r} is not an atoll island")
    host = info.get("HostConfig", {})
    grants = []
    egress_dir = ""
    for m in info.get("Mounts") or []:
        if m.get("Type") == "bind" and m.get("Source") == m.get("Destination"):
            grants.append(Grant(str(m["Source"]), bool(m.get("RW"))))
        elif m.get("Type") == "bind" and m.get("Destination") == EGRESS_MOUNT:
            egress_dir = str(m.get("Source", ""))
    try:
        allow = parse_allow_list(str(labels.get(LABEL_ALLOW, "")).split())
    except UsageError:
        allow = ()
    nano = host.get("NanoCpus") or 0
    kind: IslandKindName = "podman" if engine == "podman" else "docker"
    return IslandSpec(
        name=parsed[1], project_dir=str(labels.get(LABEL_DIR, "")), kind=kind,
        operator=str(labels.get(LABEL_OWNER, "")),
        cpus=nano / 1e9 if nano else 1.0,
        memory=int(host.get("Memory") or 2 << 30),
        pids=int(host.get("PidsLimit") or 512),
        net=str(host.get("NetworkMode", "none")) not in ("none", ""),
        grants=tuple(grants), allow=allow, egress_dir=egress_dir if allow else "",
        image=str(info.get("Config", {}).get("Image", "")) or "atoll-island:latest",
    )


def labels_base_commits(info: dict[str, Any]) -> list[str] | None:
    labels = info.get("Config", {}).get("Labels") or {}
    if LABEL_BASE not in labels:
        return None
    return [c for c in str(labels[LABEL_BASE]).split() if c]


def open_container_island(engine: str, container: str) -> tuple[ContainerIsland, dict[str, Any]]:
    """The island of an existing container and its inspect data; NotFound-like AtollError."""
    res = Engine(engine).run("container", "inspect", container, timeout=30)
    if not res.ok:
        raise AtollError(f"no {engine} container {container!r}")
    info = json.loads(res.stdout)[0]
    return ContainerIsland(spec_from_inspect(engine, info)), info


@dataclass(frozen=True)
class ContainerRef:
    """A container island found by listing; shaped like ``fleet.local.Server``.

    ``user``: ``ENGINE:CONTAINER`` (what a listing shows as the agent user); ``client``:
    the TmuxClient of the tmux server inside; ``state``: the engine's state word
    (``running``, ``exited``, ``created``, ``paused``); ``pid``: host pid of the container's
    init process when the engine reported it (podman), else None.
    """

    engine: str
    container: str
    name: str
    hash8: str
    state: str
    pid: int | None
    user: str
    client: TmuxClient

    @property
    def running(self) -> bool:
        return self.state == "running"

    def attach_argv(self, session: str, *, read_only: bool = False) -> list[str]:
        """``ENGINE exec -it -u 1000 CONTAINER tmux -L SOCKET attach-session -t =SESSION``
        (``self.client`` runs without a terminal, so its own attach_argv would not do)."""
        runner = ContainerExec(self.engine, self.container, EXEC_USER, interactive=True)
        return TmuxClient(runner, self.client.socket).attach_argv(session, read_only=read_only)


def _ps_records(stdout: bytes) -> list[dict[str, Any]]:
    text = stdout.decode("utf-8", "replace").strip()
    if not text:
        return []
    if text.startswith("["):
        data = json.loads(text)
        return [d for d in data if isinstance(d, dict)]
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def list_container_islands(
    engine: str, operator: str | None = None, socket: str = DEFAULT_SOCKET
) -> list[ContainerRef]:
    """The operator's container islands on ``engine``, with ONE ``ENGINE ps -a`` call.

    ``ENGINE ps -a --filter label=atoll.owner=OPERATOR --format '{{json .}}'`` (docker
    prints one object per line with ``Names`` a string; podman prints an array with
    ``Names`` a list and a ``Pid``). Containers whose name is not ``atoll-{hash8}-{name}``
    are ignored. Raises EngineUnavailableError when the engine does not answer.
    """
    owner = operator or current_user()
    eng = Engine(engine)
    res = eng.check("ps", "-a", "--filter", f"label={LABEL_OWNER}={owner}",
                    "--format", "{{json .}}", timeout=30)
    out: list[ContainerRef] = []
    for rec in _ps_records(res.stdout):
        names = rec.get("Names")
        cname = names[0] if isinstance(names, list) and names else names
        if not isinstance(cname, str):
            continue
        parsed = parse_container_name(cname)
        if parsed is None:
            continue
        pid = rec.get("Pid")
        state = str(rec.get("State", "unknown")).lower()
        client = TmuxClient(ContainerExec(engine, cname, EXEC_USER), socket)
        out.append(ContainerRef(
            engine=engine, container=cname, name=parsed[1], hash8=parsed[0], state=state,
            pid=int(pid) if isinstance(pid, int) and pid > 0 else None,
            user=f"{engine}:{cname}", client=client,
        ))
    return sorted(out, key=lambda r: r.container)
