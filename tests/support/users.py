"""Throwaway Linux users and sudoers rules for tests (real useradd, real visudo).

Every user gets a random suffix so parallel or leftover runs never collide; everything is
removed at teardown (processes killed, home deleted, sudoers file removed).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
from pathlib import Path

SUDOERS_DIR = Path("/etc/sudoers.d")


def require_root() -> None:
    if os.geteuid() != 0:
        import pytest

        pytest.fail("these tests create Linux users and sudoers rules: run them as root")


class UserFactory:
    """Creates users and sudoers files; :meth:`cleanup` removes all of them."""

    def __init__(self) -> None:
        require_root()
        self.tag = secrets.token_hex(3)
        self.users: list[str] = []
        self.groups: list[str] = []
        self.sudoers: list[Path] = []

    def name(self, stem: str, suffix: str = "") -> str:
        return f"{stem}{self.tag}{suffix}"

    def user(self, name: str, groups: list[str] | None = None) -> str:
        argv = ["useradd", "-m", "-s", "/bin/bash", "-K", "UMASK=077"]
        if groups:
            argv += ["-G", ",".join(groups)]
        subprocess.run([*argv, name], check=True, capture_output=True)
        self.users.append(name)
        return name

    def group(self, name: str) -> str:
        subprocess.run(["groupadd", name], check=True, capture_output=True)
        self.groups.append(name)
        return name

    def allow(self, operator: str, agents: list[str]) -> Path:
        """Sudoers: ``operator`` may run anything as each of ``agents`` without a password."""
        text = f"{operator} ALL=({','.join(agents)}) NOPASSWD: ALL\n"
        return self.write_sudoers(f"atoll-test-{operator}", text)

    def write_sudoers(self, stem: str, text: str) -> Path:
        tmp = SUDOERS_DIR / f".{stem}.tmp"
        tmp.write_text(text)
        os.chmod(tmp, 0o440)
        check = subprocess.run(["visudo", "-c", "-f", str(tmp)], capture_output=True, text=True)
        if check.returncode != 0:
            tmp.unlink()
            raise AssertionError(f"visudo rejected test sudoers: {check.stdout}{check.stderr}")
        path = SUDOERS_DIR / stem.replace(".", "_")
        os.replace(tmp, path)
        self.sudoers.append(path)
        return path

    def revoke(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def cleanup(self) -> None:
        for path in self.sudoers:
            path.unlink(missing_ok=True)
        for name in self.users:
            subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True)
            _unmount_brokers(name)
        for name in self.users:
            with contextlib.suppress(KeyError):  # its helper sockets (atoll.rundir)
                shutil.rmtree(f"/tmp/atoll-{pwd.getpwnam(name).pw_uid}", ignore_errors=True)
            subprocess.run(["userdel", "-r", "-f", name], capture_output=True)
        for g in self.groups:
            subprocess.run(["groupdel", g], capture_output=True)


def _unmount_brokers(user: str) -> None:
    """Detach grant-broker mounts (fuse.atoll) below ``user``'s home, so ``userdel -r``
    can remove it and each broker ends (its FUSE loop stops when the mount is gone)."""
    try:
        home = pwd.getpwnam(user).pw_dir.rstrip("/") + "/"
        mounts = Path("/proc/mounts").read_text().splitlines()
    except (KeyError, OSError):
        return
    for line in mounts:
        fields = line.split()
        if len(fields) > 2 and fields[2] == "fuse.atoll" and fields[1].startswith(home):
            subprocess.run(["umount", "-l", fields[1]], capture_output=True)
