"""Root filesystems of the test hosts (docs/hosts.md, "How the test hosts are built").

- :func:`base_rootfs`: a Debian bookworm ``minbase`` root made by debootstrap with
  :data:`PACKAGES`, plus a venv at ``/opt/atoll`` holding atoll's runtime dependencies from
  PyPI. Built once and cached under ``/var/cache/atoll-tests/rootfs-KEY`` (KEY: SHA-256 of
  the package list, suite, dependency list and :data:`BASE_VERSION`); a lock file makes
  concurrent builders wait for each other. Its build times (seconds) are stored next to it
  in ``rootfs-KEY.json``.
- :func:`session_layer`: per test session, an overlay upper directory on top of the base
  holding atoll built from the checkout the tests run from (so source changes take effect),
  the hosts' PID 1, the latency proxy and sshd settings. Hosts mount ``layer:base`` as
  their lower layers.

Errors: :class:`BuildError` with the failing command's output tail.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

SUITE = "bookworm"
PACKAGES = ("openssh-server", "sudo", "tmux", "python3", "python3-venv", "procps", "iproute2")
BASE_VERSION = "1"  # bump when base_rootfs() changes what it puts in the root
CACHE_DIR = Path(os.environ.get("ATOLL_TEST_CACHE", "/var/cache/atoll-tests"))
REPO = Path(__file__).resolve().parents[2]
FILES = Path(__file__).resolve().parent / "files"
VENV = "/opt/atoll"


class BuildError(RuntimeError):
    """Building a root filesystem failed."""


@dataclass(frozen=True)
class Base:
    """A cached base root: its directory and the build timings (seconds, 0 if reused)."""

    root: Path
    debootstrap_s: float
    pip_s: float
    reused: bool


def _run(argv: list[str], *, timeout: float = 900, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env,
                          check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise BuildError(f"{argv[0]} failed ({proc.returncode}): {' '.join(argv)}\n{tail}")


def debian_mirror() -> str:
    """The Debian mirror apt uses here (``ATOLL_TEST_MIRROR`` overrides it); the same
    lookup as the island image build."""
    from atoll.islands.bootstrap import debian_mirror as island_mirror

    return os.environ.get("ATOLL_TEST_MIRROR") or island_mirror(SUITE)


def runtime_deps(repo: Path = REPO) -> list[str]:
    """atoll's runtime and build requirements from ``pyproject.toml``."""
    data = tomllib.loads((repo / "pyproject.toml").read_text())
    return [*data["project"]["dependencies"], *data["build-system"]["requires"]]


def _wheelhouse(dest: Path, repo: Path) -> None:
    """Download wheels of :func:`runtime_deps` with the test interpreter's pip (whatever
    index, proxy and CA settings work here), for the hosts' Python 3.11."""
    arch = platform.machine()
    _run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
          "--only-binary=:all:", "--python-version", "3.11", "--platform",
          f"manylinux2014_{arch}", "--platform", f"manylinux_2_28_{arch}", "--dest", str(dest),
          *runtime_deps(repo)], timeout=1200, env=dict(os.environ))


def base_key(repo: Path = REPO) -> str:
    """Cache key of the base root (16 hex)."""
    blob = json.dumps([BASE_VERSION, SUITE, sorted(PACKAGES), sorted(runtime_deps(repo))])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def chroot_argv(root: Path, argv: list[str], overlay: tuple[str, Path, Path] | None = None,
                ) -> list[str]:
    """argv running ``argv`` chrooted in ``root`` with /proc, /dev and a private /tmp, in
    fresh mount and pid namespaces (nothing leaks into ours). ``overlay`` (lowerdirs,
    upper, work) mounts an overlay at ``root`` first."""
    script = 'set -e; R="$1"; shift; '
    if overlay:
        lower, upper, work = overlay
        script += (f'mount -t overlay overlay -o "lowerdir={lower},upperdir={upper},'
                   f'workdir={work}" "$R"; ')
    script += ('mount -t proc proc "$R/proc"; mount --rbind /dev "$R/dev"; '
               'mount -t tmpfs tmpfs "$R/tmp"; exec chroot "$R" "$@"')
    return ["unshare", "--mount", "--pid", "--fork", "--propagation", "private", "--",
            "sh", "-c", script, "sh", str(root), *argv]


def _build_base(dest: Path, mirror: str, repo: Path) -> tuple[float, float]:
    t0 = time.monotonic()
    _run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE,
          str(dest), mirror], timeout=1800)
    t1 = time.monotonic()
    for key in (dest / "etc/ssh").glob("ssh_host_*"):
        key.unlink()  # every host makes its own at first boot
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LC_ALL": "C.UTF-8"}
    wheels = dest / "opt/wheels"
    _wheelhouse(wheels, repo)
    _run(chroot_argv(dest, ["python3", "-m", "venv", VENV]), env=env)
    _run(chroot_argv(dest, [f"{VENV}/bin/pip", "install", "-q", "--disable-pip-version-check",
                            "--no-cache-dir", "--no-index", "--find-links", "/opt/wheels",
                            *runtime_deps(repo)]), env=env, timeout=1200)
    shutil.rmtree(wheels)
    (dest / "usr/local/bin/atoll").symlink_to(f"{VENV}/bin/atoll")
    (dest / "etc/resolv.conf").unlink(missing_ok=True)
    for junk in (dest / "var/cache/apt/archives").glob("*.deb"):
        junk.unlink()
    shutil.rmtree(dest / "var/lib/apt/lists", ignore_errors=True)
    return t1 - t0, time.monotonic() - t1


def base_rootfs(repo: Path = REPO, cache_dir: Path = CACHE_DIR) -> Base:
    """The cached base root for the current package/dependency lists, built if missing."""
    cache_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
    key = base_key(repo)
    root = cache_dir / f"rootfs-{key}"
    meta = cache_dir / f"rootfs-{key}.json"
    with open(cache_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if meta.exists() and root.is_dir():
            info = json.loads(meta.read_text())
            return Base(root, info["debootstrap_s"], info["pip_s"], reused=True)
        partial = cache_dir / f"rootfs-{key}.partial"
        if partial.exists():
            shutil.rmtree(partial)
        partial.mkdir(mode=0o755)
        try:
            deb_s, pip_s = _build_base(partial, debian_mirror(), repo)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        if root.exists():
            shutil.rmtree(root)
        partial.rename(root)
        for old in cache_dir.glob("rootfs-*"):  # bases of other package/dependency lists
            if old.name not in (root.name, meta.name):
                if old.is_dir():
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    old.unlink(missing_ok=True)
        meta.write_text(json.dumps({"debootstrap_s": deb_s, "pip_s": pip_s,
                                    "packages": PACKAGES, "built": time.time()}))
        return Base(root, deb_s, pip_s, reused=False)


def _copy_source(repo: Path, dest: Path) -> None:
    dest.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in"):
        if (repo / name).exists():
            shutil.copy2(repo / name, dest / name)
    shutil.copytree(repo / "src", dest / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"))


def session_layer(base: Path, layer: Path, repo: Path = REPO) -> float:
    """Fill ``layer`` (an empty dir) with the per-session files; return seconds taken."""
    t0 = time.monotonic()
    upper, work, mnt = layer / "upper", layer / "work", layer / "mnt"
    for d in (upper, work, mnt):
        d.mkdir(parents=True)
    _copy_source(repo, upper / "opt/atoll-src")
    sbin = upper / "usr/local/sbin"
    sbin.mkdir(parents=True)
    for script in ("atoll-test-init", "atoll-test-delay"):
        shutil.copy2(FILES / f"{script}.py", sbin / script)
        os.chmod(sbin / script, 0o755)
    conf = upper / "etc/ssh/sshd_config.d"
    conf.mkdir(parents=True)
    shutil.copy2(FILES / "sshd-atoll-test.conf", conf / "atoll-test.conf")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LC_ALL": "C.UTF-8",
           "PIP_NO_INDEX": "1"}
    install = ["sh", "-c",
               f"cd /opt/atoll-src && {VENV}/bin/pip install -q --disable-pip-version-check "
               "--no-deps --no-build-isolation --no-cache-dir . && cd / && rm -rf /opt/atoll-src"]
    _run(chroot_argv(mnt, install, overlay=(str(base), upper, work)), env=env, timeout=300)
    shutil.rmtree(work, ignore_errors=True)
    return time.monotonic() - t0
