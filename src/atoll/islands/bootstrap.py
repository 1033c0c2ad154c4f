"""The island root filesystem without any registry: debootstrap, then a cached tarball.

Recipe (docs/islands.md, "Image"): ``debootstrap --variant=minbase
--include=tmux,git,bash,procps,ca-certificates,python3 bookworm DIR MIRROR``, then the
unprivileged user ``agent`` (uid/gid 1000, home ``/home/agent``) and ``/workspace`` owned
by it; apt's package cache and lists are dropped. The tree is packed with
``tar --numeric-owner`` into ``CACHE/island-rootfs-KEY.tar`` where CACHE is
``/var/cache/atoll`` for root and ``$XDG_CACHE_HOME/atoll`` otherwise (debootstrap itself
needs root), and KEY is the first 12 hex digits of SHA-256 over the suite, the package list
and :data:`RECIPE_VERSION`. An exclusive ``flock`` on ``KEY.lock`` makes concurrent builders
wait for one another; a finished tarball is reused until the recipe changes.

The mirror is the one apt uses (``/etc/apt/sources.list`` and
``/etc/apt/sources.list.d/*``, one-line or deb822 format), overridable with
``ATOLL_DEBIAN_MIRROR``; it defaults to ``http://deb.debian.org/debian``.

Errors: :class:`BootstrapError` (exit 1) with the failing step's last line.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from atoll.core.errors import AtollError
from atoll.core.islands import AGENT_UID, CONTAINER_HOME, CONTAINER_WORKSPACE
from atoll.exec.process import run_argv

SUITE = "bookworm"
PACKAGES = ("tmux", "git", "bash", "procps", "ca-certificates", "python3")
RECIPE_VERSION = "1"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
AGENT_NAME = "agent"


class BootstrapError(AtollError):
    """Building the root filesystem failed."""


@dataclass(frozen=True)
class Rootfs:
    """A cached root filesystem tarball; ``seconds`` is the build time (0.0 if reused)."""

    tarball: Path
    key: str
    seconds: float
    reused: bool


def recipe_key() -> str:
    """12 hex digits naming the recipe (suite, packages, user, version)."""
    text = "\n".join([SUITE, ",".join(PACKAGES), str(AGENT_UID), AGENT_NAME, RECIPE_VERSION])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def cache_dir() -> Path:
    """``/var/cache/atoll`` for root, ``$XDG_CACHE_HOME/atoll`` for anyone else."""
    if os.geteuid() == 0:
        return Path(os.environ.get("ATOLL_CACHE_DIR") or "/var/cache/atoll")
    return Path(os.environ.get("ATOLL_CACHE_DIR") or platformdirs.user_cache_path("atoll"))


def debian_mirror(suite: str = SUITE) -> str:
    """The Debian mirror apt uses for ``suite`` (see the module docstring)."""
    if os.environ.get("ATOLL_DEBIAN_MIRROR"):
        return os.environ["ATOLL_DEBIAN_MIRROR"]
    paths = [Path("/etc/apt/sources.list")]
    with contextlib.suppress(OSError):
        paths += sorted(Path("/etc/apt/sources.list.d").iterdir())
    for path in paths:
        if path.suffix not in ("", ".list", ".sources"):
            continue
        try:
            text = path.read_text()
        except OSError:
            continue
        for m in re.finditer(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", text, re.M):
            if m.group(2) == suite and "security" not in m.group(1):
                return m.group(1)
        for stanza in re.split(r"\n\s*\n", text):
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
            enabled = not re.search(r"^Enabled:\s*no", stanza, re.M | re.I)
            if uris and suites and enabled and suite in suites.group(1).split() \
                    and "security" not in uris.group(1):
                return uris.group(1)
    return DEFAULT_MIRROR


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _step(argv: list[str], what: str, timeout: float = 1800) -> None:
    res = run_argv(argv, timeout=timeout)
    if not res.ok:
        tail = (res.stderr.strip() or res.text().strip()).splitlines()[-1:] or [
            f"exit status {res.returncode}"]
        raise BootstrapError(f"{what} failed: {tail[0]}")


def _unmount_below(root: Path) -> None:
    """Unmount anything debootstrap left mounted below ``root`` (deepest first)."""
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return
    prefix = str(root) + "/"
    points = [ln.split()[1] for ln in lines if len(ln.split()) > 1]
    for mp in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        run_argv(["umount", "-l", mp], timeout=30)


def _prepare(root: Path) -> None:
    """Add the agent user and /workspace; drop apt caches."""
    _step(["useradd", "--root", str(root), "-m", "-u", str(AGENT_UID), "-U", "-s", "/bin/bash",
           "-d", CONTAINER_HOME, AGENT_NAME], "useradd in the root filesystem", 120)
    ws = root / CONTAINER_WORKSPACE.lstrip("/")
    ws.mkdir(mode=0o755, exist_ok=True)
    os.chown(ws, AGENT_UID, AGENT_UID)
    for sub in ("var/cache/apt/archives", "var/lib/apt/lists"):
        d = root / sub
        if d.is_dir():
            for entry in d.iterdir():
                if entry.is_file() and entry.name != "lock":
                    entry.unlink()


def rootfs(*, mirror: str | None = None, rebuild: bool = False) -> Rootfs:
    """Build (or reuse) the cached root filesystem tarball. Needs root to build.

    Raises BootstrapError when a step fails, AtollError when debootstrap is missing.
    """
    key = recipe_key()
    cache = cache_dir()
    tarball = cache / f"island-rootfs-{key}.tar"
    with _locked(cache / f"island-rootfs-{key}.lock"):
        if tarball.is_file() and not rebuild:
            return Rootfs(tarball, key, 0.0, True)
        if os.geteuid() != 0:
            raise BootstrapError("--bootstrap needs root (debootstrap builds a root filesystem)")
        if shutil.which("debootstrap") is None:
            raise BootstrapError("debootstrap is not installed (apt-get install debootstrap)")
        started = time.monotonic()
        work = cache / f"island-rootfs-{key}.build-{os.getpid()}"
        if work.exists():
            _unmount_below(work)
            shutil.rmtree(work)
        try:
            _step(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
                   SUITE, str(work), mirror or debian_mirror()], "debootstrap")
            _unmount_below(work)
            _prepare(work)
            partial = tarball.with_suffix(f".tar.{os.getpid()}")
            _step(["tar", "--numeric-owner", "-C", str(work), "-cf", str(partial), "."],
                  "tar of the root filesystem", 600)
            os.chmod(partial, 0o644)
            os.replace(partial, tarball)
        finally:
            _unmount_below(work)
            shutil.rmtree(work, ignore_errors=True)
        return Rootfs(tarball, key, time.monotonic() - started, False)
