"""A testbed: the cached base root, this session's atoll layer, an operator, test hosts and
down hosts, all torn down by :meth:`Testbed.close` (docs/hosts.md).

Timings (seconds, wall clock) are kept in :attr:`Testbed.timings` for the report:
``debootstrap``/``pip`` (0 when the cached base was reused), ``layer`` (atoll built from the
checkout into the session layer), ``host:NAME`` (create + boot until sshd answers).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from tests.hosts.harness import DownHost, HostError, Run, TestHost, cleanup_stale, free_subnets
from tests.hosts.localuser import Operator
from tests.hosts.rootfs import REPO, base_rootfs, session_layer


class Testbed:
    """Hosts on this machine for one test session (or one bench run)."""

    __test__ = False

    def __init__(self, operator: str = "marcus", repo: Path = REPO) -> None:
        if os.geteuid() != 0:
            raise HostError("test hosts need root (namespaces, mounts, users)")
        self.timings: dict[str, float] = {}
        self.stale_cleaned = cleanup_stale()
        self.res = Run()
        self.hosts: dict[str, TestHost] = {}
        self.down: dict[str, DownHost] = {}
        try:
            base = base_rootfs(repo)
            self.timings["debootstrap"] = 0.0 if base.reused else base.debootstrap_s
            self.timings["pip"] = 0.0 if base.reused else base.pip_s
            layer = self.res.dir / "layer"
            self.timings["layer"] = session_layer(base.root, layer, repo)
            self.lower = f"{layer / 'upper'}:{base.root}"
            self.operator = Operator(self.res, operator)
            self.operator.create()
            self._check_operator_can_run_atoll(repo)
        except BaseException:
            self.res.cleanup()
            raise

    def _check_operator_can_run_atoll(self, repo: Path) -> None:
        """The operator runs this checkout's interpreter and tests/hosts/drive.py."""
        probe = self.operator.run([sys.executable, "-c", "import atoll.fleet.remote, msgspec",
                                   ], env={"PYTHONDONTWRITEBYTECODE": "1"})
        readable = self.operator.run(["test", "-r", str(repo / "tests/hosts/drive.py")])
        if probe.returncode != 0 or readable.returncode != 0:
            raise HostError(
                f"local user {self.operator.name} cannot run {sys.executable} with atoll from "
                f"{repo} (a parent directory is not world-readable?): "
                f"{probe.stderr.decode().strip()[-300:]}")

    def add_host(self, name: str) -> TestHost:
        """Create and boot host ``name``; the operator's account there accepts its key and
        ``name`` becomes an ssh alias of the operator."""
        t0 = time.monotonic()
        (index,) = free_subnets(1)
        host = TestHost(self.res, name, index, self.lower)
        self.hosts[name] = host
        host.create()
        host.start()
        host.add_user(self.operator.name, authorized_key=self.operator.pubkey)
        self.operator.set_alias(name, host.address, host.host_key())
        self.timings[f"host:{name}"] = time.monotonic() - t0
        return host

    def add_down_host(self, name: str) -> DownHost:
        (index,) = free_subnets(1)
        host = DownHost(self.res, name, index)
        self.down[name] = host
        host.create()
        self.operator.set_alias(name, host.address, None)
        return host

    def close(self) -> None:
        """Tear everything down: hosts (processes, mounts, netns), operator, files."""
        try:
            for host in self.hosts.values():
                host.destroy()
            for down in self.down.values():
                down.destroy()
            self.operator.remove()
        finally:
            self.res.cleanup()
