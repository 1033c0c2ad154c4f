"""Fixtures of the ``atoll admin`` tests: this test process's own view of the host files
``atoll admin`` writes, and the accounts it makes removed afterwards.

``atoll admin`` writes ``/etc/atoll``, ``/var/lib/atoll`` and ``/etc/cron.d``, which every
atoll on this machine reads (other test runs of the same machine included). So for each
test module the test process moves into a new mount namespace (unshare(2) CLONE_NEWNS, as
root) with a fresh tmpfs on each of those directories, and moves back afterwards: the real
``atoll``, ``sudo`` and ``visudo`` processes the tests start inherit that view; no other
process sees it. Users, groups and ``/etc/sudoers.d`` files are real and global: their names carry
a random tag, and they are removed at the end of the module.
"""

from __future__ import annotations

import contextlib
import ctypes
import grp
import os
import pwd
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from atoll.core import admin as text

CLONE_NEWNS = 0x00020000
PRIVATE_DIRS = ("/etc/atoll", "/var/lib/atoll", "/etc/cron.d")


@contextlib.contextmanager
def private_namespace() -> Iterator[None]:
    """Run the block in a new mount namespace, private from the host's, then return to the
    original one (setns(2)) and the same working directory, so that later tests (whose
    mounts, e.g. FUSE grants, dockerd must see) run where they always do. unshare(2) with
    CLONE_NEWNS gives this thread its own fs_struct, which is what lets setns back succeed
    even when other threads exist."""
    libc = ctypes.CDLL(None, use_errno=True)
    original = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    before = os.readlink("/proc/thread-self/ns/mnt")
    cwd = os.getcwd()
    try:
        if libc.unshare(CLONE_NEWNS) != 0:
            err = ctypes.get_errno()
            pytest.fail(f"unshare(CLONE_NEWNS) failed: {os.strerror(err)} (needs root)")
        try:
            subprocess.run(["mount", "--make-rprivate", "/"], check=True)
            yield
        finally:
            if libc.setns(original, CLONE_NEWNS) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns back to the host's mount namespace: {os.strerror(err)}")
            os.chdir(cwd)
            assert os.readlink("/proc/thread-self/ns/mnt") == before
    finally:
        os.close(original)


class Accounts:
    """Names made by ``atoll admin`` in a test, removed (processes, home, sudoers) after."""

    def __init__(self) -> None:
        self.users: list[str] = []

    def track(self, *names: str) -> None:
        self.users += names

    def cleanup(self) -> None:
        for name in self.users:
            subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True)
        import time

        for name in self.users:  # cgroups of `atoll admin limits` (empty once pkill is done)
            for ctrl in ("cpu", "memory", "pids"):
                group = Path(f"/sys/fs/cgroup/{ctrl}/atoll/{name}")
                for _ in range(50):
                    if not group.exists():
                        break
                    try:
                        group.rmdir()
                    except OSError:
                        time.sleep(0.1)  # its last processes are still exiting
        for name in self.users:
            for prefix in (text.PERSON_PREFIX, text.LEAD_PREFIX):
                Path(f"{text.SUDOERS_DIR}/{prefix}{name}").unlink(missing_ok=True)
            with contextlib.suppress(KeyError):
                pwd.getpwnam(name)
                subprocess.run(["userdel", "-r", "-f", name], capture_output=True)


def _exists_group(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


@pytest.fixture(scope="module", autouse=True)
def host_files() -> Iterator[None]:
    """Fresh, private /etc/atoll, /var/lib/atoll and /etc/cron.d for this module; the
    host ledger's accounts and groups removed afterwards when this module made them."""
    if os.geteuid() != 0:
        pytest.fail("the admin tests create users and sudoers: run them as root")
    had = {g: _exists_group(g) for g in (text.OPS_GROUP, text.AGENT_GROUP, text.LEDGER_USER)}
    created = [d for d in PRIVATE_DIRS if not os.path.exists(d)]
    for d in created:
        os.makedirs(d, mode=0o755, exist_ok=True)
    try:
        with private_namespace():
            for d in PRIVATE_DIRS:
                subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=16m", "tmpfs", d],
                               check=True)
            yield
    finally:
        for d in created:
            with contextlib.suppress(OSError):
                os.rmdir(d)
        for ctrl in ("cpu", "memory", "pids"):  # the subtree `admin limits` made, if empty
            with contextlib.suppress(OSError):
                os.rmdir(f"/sys/fs/cgroup/{ctrl}/atoll")
        Path(f"{text.SUDOERS_DIR}/{text.LEDGER_SUDOERS}").unlink(missing_ok=True)
        if not had[text.LEDGER_USER]:
            subprocess.run(["userdel", "-f", text.LEDGER_USER], capture_output=True)
        for g in (text.OPS_GROUP, text.AGENT_GROUP):
            if not had[g]:
                subprocess.run(["groupdel", g], capture_output=True)


@pytest.fixture
def accounts() -> Iterator[Accounts]:
    made = Accounts()
    yield made
    made.cleanup()
