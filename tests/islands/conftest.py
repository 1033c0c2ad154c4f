"""Island fixtures: engines up and the island image built once per test session."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from atoll.islands.image import BuildReport
from tests.islands.support import ensure_image
from tests.support.users import require_root

BUILDS: dict[str, BuildReport | None] = {}


@pytest.fixture(scope="session")
def docker_image() -> Iterator[str]:
    """docker with atoll-island:latest (built from the cached bootstrap rootfs if needed)."""
    require_root()
    BUILDS["docker"] = ensure_image("docker")
    yield "docker"


@pytest.fixture(scope="session")
def podman_image() -> Iterator[str]:
    """podman with atoll-island:latest in its own image store."""
    require_root()
    BUILDS["podman"] = ensure_image("podman")
    yield "podman"


@pytest.fixture(params=["docker", "podman"])
def engine(request: pytest.FixtureRequest) -> str:
    """Each container engine, with its image ready."""
    name: str = request.param
    request.getfixturevalue(f"{name}_image")
    return name


@pytest.fixture(scope="session")
def bwrap_ready() -> None:
    require_root()
    if shutil.which("bwrap") is None:
        pytest.fail("bwrap is not installed: run scripts/setup.sh --dev (bubblewrap)")
