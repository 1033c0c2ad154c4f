"""Fixtures for the ledger tests: private XDG dirs, a real ledger, tmpfs mounts, and
throwaway Linux users (tests run as root)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from atoll.ledger import Actor, Audit, Ledger


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """XDG_STATE_HOME and XDG_CONFIG_HOME point into tmp_path (keys, checkpoints, ledger)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path


@pytest.fixture
def ledger(xdg: Path) -> Ledger:
    return Ledger(xdg / "state" / "atoll" / "ledger.jsonl")


@pytest.fixture
def audit(ledger: Ledger) -> Audit:
    return Audit(ledger, "testhost", Actor.current(), correlation_id="c0ffee")


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.fail("this test mounts filesystems or creates users: run it as root")


@pytest.fixture
def mounts() -> Iterator[list[Path]]:
    """Directories mounted by the test; unmounted (most recent first) afterwards."""
    require_root()
    mounted: list[Path] = []
    yield mounted
    for path in reversed(mounted):
        done = subprocess.run(["umount", str(path)], capture_output=True)
        if done.returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def mount_tmpfs(mounts: list[Path], path: Path, size: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                   check=True, capture_output=True)
    mounts.append(path)
    return path


def mount_readonly(mounts: list[Path], path: Path) -> Path:
    subprocess.run(["mount", "--bind", str(path), str(path)], check=True, capture_output=True)
    mounts.append(path)
    subprocess.run(["mount", "-o", "remount,bind,ro", str(path)], check=True, capture_output=True)
    return path


class Users:
    """Throwaway Linux users; removed, with the processes the tests started for them (by
    pid), at teardown."""

    def __init__(self) -> None:
        require_root()
        self.names: list[str] = []
        self.pids: list[int] = []

    def make(self, stem: str) -> str:
        name = f"atl{stem}{secrets.token_hex(3)}"
        subprocess.run(["useradd", "-M", "-s", "/bin/sh", name], check=True, capture_output=True)
        self.names.append(name)
        return name

    def cleanup(self) -> None:
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for name in self.names:
            uid = subprocess.run(["id", "-u", name], capture_output=True, text=True).stdout.strip()
            subprocess.run(["userdel", "-f", name], capture_output=True)
            if uid.isdigit():
                shutil.rmtree(f"/tmp/tmux-{uid}", ignore_errors=True)


@pytest.fixture
def throwaway() -> Iterator[Users]:
    factory = Users()
    yield factory
    factory.cleanup()


def run_as(user: str, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run argv as ``user`` through runuser with a minimal environment."""
    env = ["env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "HOME=/"]
    return subprocess.run(["runuser", "-u", user, "--", *env, *argv], capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A fresh 0755 directory under /tmp: others may traverse it, so only file modes decide
    what another user can open inside."""
    path = Path(tempfile.mkdtemp(prefix="atoll-ledger-test-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)
