"""The ``docker`` and ``podman`` kinds as the registry sees them: discovery that asks an
engine only when it could hold islands of this operator, and the container module
(:mod:`atoll.islands.container`: tar, hashing, engine plumbing, ~50 ms of imports) loaded
only then.

Cost: docker is asked (one ``docker ps``) when its socket is there and usable; podman when
its container store names an ``atoll-`` container. A host without containers pays for two
``stat`` calls.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from atoll.core.errors import AtollError
from atoll.core.islands import IslandSpec
from atoll.exec.files import UnsafeFileError, read_regular
from atoll.islands.base import Found, Island, IslandServer, Scope

DOCKER_SOCKET = "/var/run/docker.sock"


def _podman_store() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/containers/storage/overlay-containers/containers.json")
    data = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return Path(data, "containers/storage/overlay-containers/containers.json")


def worth_asking(engine: str) -> bool:
    """Whether ``engine`` may hold this operator's islands (cheap checks, no engine call)."""
    if engine == "docker":
        return bool(shutil.which("docker")) and os.access(DOCKER_SOCKET, os.R_OK | os.W_OK)
    if not shutil.which("podman"):
        return False
    try:
        # 64 MiB: thousands of containers; an odd or huge store just means "ask podman".
        return b'"atoll-' in read_regular(_podman_store(), 64 << 20, follow=True)
    except OSError:
        return False
    except UnsafeFileError:
        return True


def make(spec: IslandSpec) -> Island:
    from atoll.islands.container import ContainerIsland

    return ContainerIsland(spec)


def discover(kind: str, scope: Scope) -> list[IslandServer]:
    """The tmux server inside each of the operator's containers on engine ``kind`` (one
    ``ENGINE ps``); an engine that fails to answer contributes nothing. Stopped containers
    are listed with ``running`` False (their sessions cannot be reached)."""
    if not worth_asking(kind):
        return []
    from atoll.islands.container import list_container_islands

    try:
        refs = list_container_islands(kind, scope.operator, scope.socket)
    except AtollError:
        return []
    return [IslandServer(kind, r.user, r.client, attach_argv=r.attach_argv,
                         container=r.container, engine=r.engine, running=r.running)
            for r in refs]


def find(kind: str, target: str, scope: Scope) -> list[Found]:
    """The operator's container islands on engine ``kind`` named ``target`` (or with that
    container name), when the engine is up."""
    from atoll.islands.container import (
        labels_base_commits,
        list_container_islands,
        open_container_island,
    )
    from atoll.islands.engine import Engine

    if not Engine(kind).available():
        return []
    found = []
    for ref in list_container_islands(kind, scope.operator, scope.socket):
        if target not in (ref.name, ref.container):
            continue
        island, info = open_container_island(kind, ref.container)
        granted = island.spec.project_granted() is not None
        found.append(Found(
            island=island, where=f"{kind} container {ref.container}",
            base_commits=labels_base_commits(info),
            check_path=None if granted else island.workdir,
            check_runner=None if granted else island.runner(),
        ))
    return found
