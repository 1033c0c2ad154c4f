"""Helpers for island tests: real engines, the real image, cleanup, the CLI, git projects.

Engines are never skipped: if dockerd cannot be started or podman cannot run a container,
the fixtures fail with the reason (tests must fail loudly where islands cannot work).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

import pytest

from atoll.core.islands import IMAGE
from atoll.exec.runner import Runner
from atoll.islands.bootstrap import recipe_key
from atoll.islands.engine import Engine
from atoll.islands.image import BuildReport, build_image

T = TypeVar("T")
OUT = Path(__file__).resolve().parent / "out"
DOCKERD_LOG = Path("/var/log/atoll-test-dockerd.log")
SOCK = Path("/var/run/docker.sock")


def tag() -> str:
    return secrets.token_hex(3)


def start_dockerd() -> None:
    """Start Debian's dockerd as root if its socket does not answer (fail loudly)."""
    if Engine("docker").available():
        return
    if os.geteuid() != 0:
        pytest.fail("docker is not running and the tests are not root: cannot start dockerd")
    if not Path("/usr/sbin/dockerd").exists():
        pytest.fail("dockerd is not installed: run scripts/setup.sh --dev (docker.io)")
    log = DOCKERD_LOG.open("ab")
    subprocess.Popen(["/usr/sbin/dockerd"], stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                     start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if SOCK.exists() and Engine("docker").available():
            return
        time.sleep(0.5)
    tail = DOCKERD_LOG.read_text(errors="replace").splitlines()[-5:]
    pytest.fail(f"dockerd did not come up within 90 s: {' | '.join(tail)}")


def require_engine(engine: str) -> None:
    if engine == "docker":
        start_dockerd()
    if not Engine(engine).available():
        res = subprocess.run([engine, "info"], capture_output=True, text=True)
        pytest.fail(f"{engine} is not usable here: {res.stderr.strip()[-300:]}")


def image_recipe(engine: str) -> str | None:
    res = Engine(engine).run("image", "inspect", "--format",
                             '{{index .Config.Labels "atoll.image-recipe"}}', IMAGE)
    return res.text().strip() if res.ok else None


def ensure_image(engine: str) -> BuildReport | None:
    """Build atoll-island:latest from the (cached) bootstrap rootfs unless it is current."""
    require_engine(engine)
    if image_recipe(engine) == recipe_key():
        return None
    report = build_image(engine, bootstrap=True)
    OUT.mkdir(exist_ok=True)
    with (OUT / "build-times.txt").open("a") as fh:
        fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {report.summary()}\n")
    return report


def cli(*args: str, input: str | None = None, env: dict[str, str] | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The real atoll CLI (its console script)."""
    full_env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "LANG": "C.UTF-8", "HOME": os.environ.get("HOME", "/root"), **(env or {})}
    return subprocess.run(cli_argv(*args), capture_output=True, text=True,
                          input=input, timeout=timeout, env=full_env)


def cli_argv(*args: str) -> list[str]:
    """argv of the real atoll console script."""
    return [str(Path(sys.executable).parent / "atoll"), *args]


def git(path: Path | str, *args: str, user: str | None = None) -> str:
    argv = ["git", "-c", "user.email=t@example.invalid", "-c", "user.name=test",
            "-c", "init.defaultBranch=main", "-C", str(path), *args]
    if user:
        argv = ["runuser", "-u", user, "--", *argv]
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def git_project(path: Path, files: dict[str, str] | None = None) -> Path:
    """A git repository with one commit holding ``files`` (default: README)."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    for name, text in (files or {"README": "hello\n"}).items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-qm", "init")
    return path


def engine_objects(engine: str, prefix: str) -> dict[str, list[str]]:
    """Containers and volumes of ``engine`` whose name starts with ``prefix``."""
    e = Engine(engine)
    cons = e.run("ps", "-a", "--format", "{{.Names}}").text().split()
    vols = e.run("volume", "ls", "--format", "{{.Name}}").text().split()
    return {"containers": [c for c in cons if c.startswith(prefix)],
            "volumes": [v for v in vols if v.startswith(prefix)]}


def write_json(name: str, data: object) -> Path:
    OUT.mkdir(exist_ok=True)
    path = OUT / name
    path.write_text(json.dumps(data, indent=1))
    return path


class _HasRunner(Protocol):
    def runner(self) -> Runner: ...


def wait_for(pred: Callable[[], T], timeout: float = 15.0) -> T:
    """``pred()`` once it is truthy, polling every 0.1 s; its last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        val = pred()
        if val:
            return val
        time.sleep(0.1)
    return pred()


def inside(isl: _HasRunner, *argv: str) -> str:
    """Run ``argv`` inside island ``isl``; its stdout (ExternalCommandError if it fails)."""
    return isl.runner().run(list(argv), timeout=60).check().text()
