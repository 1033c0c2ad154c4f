"""From a spec to the island object of its kind."""

from __future__ import annotations

from atoll.core.islands import IslandSpec
from atoll.islands.base import Island
from atoll.islands.bwrap import BwrapIsland
from atoll.islands.container import ContainerIsland
from atoll.islands.user import UserIsland


def make_island(spec: IslandSpec) -> Island:
    """The :class:`~atoll.islands.base.Island` for ``spec.kind`` (nothing is created yet)."""
    if spec.kind in ("docker", "podman"):
        return ContainerIsland(spec)
    if spec.kind == "bwrap":
        return BwrapIsland(spec)
    return UserIsland(spec)
