"""Container islands in a listing: their pane pids mapped to host pids for load figures.

Which containers there are is each container kind's ``discover``
(:mod:`atoll.islands.containerkind`, through the registry); this module only turns the
pids their tmux servers report (inside the container's pid namespace) into host pids.
"""

from __future__ import annotations

from atoll.core.errors import AtollError
from atoll.fleet.servers import Server
from atoll.islands.base import IslandServer


def as_server(found: IslandServer) -> Server:
    """A discovered island server, shaped like any other (containers attach with
    ``ENGINE exec -it``)."""
    return Server(found.owner, found.client, attach_argv=found.attach_argv)


def pid_maps(found: list[IslandServer]) -> dict[str, dict[int, int]]:
    """Server user -> (pid inside the container -> host pid), for running containers."""
    running = [s for s in found if s.running and s.container and s.engine]
    if not running:
        return {}
    from atoll.islands.load import host_pid_maps, init_pids

    inits: dict[str, int] = {}
    for engine in sorted({s.engine for s in running if s.engine}):
        try:
            inits.update(init_pids(engine, [s.container for s in running
                                            if s.engine == engine and s.container]))
        except AtollError:
            continue
    by_container = host_pid_maps(inits)
    return {s.owner: by_container.get(s.container or "", {}) for s in running}
