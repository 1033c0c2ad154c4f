"""Container islands in a listing: each running container's tmux server is one more
server to ask, and its pane pids are mapped to host pids for load figures.

Cost: an engine is asked (one ``ENGINE ps``) only when it could hold islands of this
operator: docker when its socket is there and usable; podman when its container store
names an ``atoll-`` container. A host without containers pays for two ``stat`` calls.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from atoll.core.errors import AtollError
from atoll.exec.files import UnsafeFileError, read_regular
from atoll.fleet.parallel import parallel_map
from atoll.fleet.servers import Server

if TYPE_CHECKING:
    from atoll.islands.container import ContainerRef

DOCKER_SOCKET = "/var/run/docker.sock"


def _podman_store() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/containers/storage/overlay-containers/containers.json")
    data = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return Path(data, "containers/storage/overlay-containers/containers.json")


def engines_worth_asking() -> list[str]:
    """Engines that may hold this operator's islands (cheap checks, no engine call)."""
    out = []
    if shutil.which("docker") and os.access(DOCKER_SOCKET, os.R_OK | os.W_OK):
        out.append("docker")
    if shutil.which("podman"):
        try:
            # 64 MiB: thousands of containers; an odd or huge store just means "ask podman".
            if b'"atoll-' in read_regular(_podman_store(), 64 << 20, follow=True):
                out.append("podman")
        except OSError:
            pass
        except UnsafeFileError:
            out.append("podman")
    return out


def container_refs(operator: str, socket: str) -> list[ContainerRef]:
    """Every container island of ``operator`` on every engine worth asking; an engine that
    fails to answer contributes nothing. The islands package (tar, hashing, engine
    plumbing: ~50 ms of imports) is loaded only when some engine is worth asking."""
    engines = engines_worth_asking()
    if not engines:
        return []
    from atoll.islands.container import list_container_islands

    def ask(engine: str) -> list[ContainerRef]:
        try:
            return list_container_islands(engine, operator, socket)
        except AtollError:
            return []

    return [r for refs in parallel_map(ask, engines) for r in refs]


def as_server(ref: ContainerRef) -> Server:
    """The container's tmux server, shaped like any other (attach needs a terminal)."""
    return Server(ref.user, ref.client, attach_argv=ref.attach_argv)


def pid_maps(refs: list[ContainerRef]) -> dict[str, dict[int, int]]:
    """Server user -> (pid inside the container -> host pid), for running containers."""
    running = [r for r in refs if r.running]
    if not running:
        return {}
    from atoll.islands.load import host_pid_maps, init_pids

    inits: dict[str, int] = {}
    for engine in sorted({r.engine for r in running}):
        try:
            inits.update(init_pids(engine, [r.container for r in running if r.engine == engine]))
        except AtollError:
            continue
    by_container = host_pid_maps(inits)
    return {r.user: by_container.get(r.container, {}) for r in running}
