"""Fixtures for the multi-host tests (docs/hosts.md).

``testbed`` (session): operator ``marcus`` on our side and
- ``hosta``: marcus's own sessions only (no agent users granted);
- ``hostb``: agent users wes-agent, nadia-agent (granted to marcus by sudoers) and
  omar-agent (not granted), each with a session;
- ``hostc``: the same agent users with sessions, and no sudoers rule for marcus;
- ``hostd``: down (its address answers nothing).
``spare_host`` (function): a fresh host for tests that break things, destroyed afterwards.
Build and boot times are printed in the terminal summary.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.hosts.harness import TestHost
from tests.hosts.testbed import Testbed

DRIVE = str(Path(__file__).with_name("drive.py"))
GRANT = "marcus ALL=(wes-agent,nadia-agent) NOPASSWD: ALL\n"
TIMINGS: dict[str, float] = {}

SESSIONS = {
    "hostb": [("wes-agent", "wes-fix-login"), ("nadia-agent", "nadia-review"),
              ("omar-agent", "omar-private")],
    "hostc": [("wes-agent", "c-wes-secret"), ("nadia-agent", "c-nadia-secret")],
    "hosta": [("marcus", "a-own")],
}


def _setup_agents(host: TestHost) -> None:
    for user in ("wes-agent", "nadia-agent", "omar-agent"):
        host.add_user(user)
    for user, name in SESSIONS[host.name]:
        host.tmux_session(user, name)


@pytest.fixture(scope="session")
def testbed() -> Iterator[Testbed]:
    if os.geteuid() != 0:
        pytest.fail("the host tests need root (namespaces, mounts, users); CI runs as root")
    bed = Testbed()
    try:
        for name in ("hosta", "hostb", "hostc"):
            host = bed.add_host(name)
            if name != "hosta":
                _setup_agents(host)
            else:
                host.tmux_session("marcus", "a-own")
        bed.hosts["hostb"].write_sudoers("marcus", GRANT)
        bed.add_down_host("hostd")
        TIMINGS.update(bed.timings)
        yield bed
    finally:
        bed.close()


@pytest.fixture
def spare_host(testbed: Testbed) -> Iterator[Callable[[], TestHost]]:
    """Factory of throwaway hosts (named ``spare-XXXX``) destroyed after the test."""
    made: list[TestHost] = []

    def make() -> TestHost:
        host = testbed.add_host(f"spare-{secrets.token_hex(2)}")
        made.append(host)
        return host

    yield make
    for host in made:
        host.destroy()
        testbed.hosts.pop(host.name, None)
        testbed.operator.aliases.pop(host.name, None)


CONFIG = """\
[[hosts]]
name = "b"
ssh = "hostb"

[[hosts]]
name = "c"
ssh = "hostc"

[[hosts]]
name = "d"
ssh = "hostd"
timeout = 2
"""


@pytest.fixture
def marcus_config(testbed: Testbed) -> Iterator[str]:
    """marcus's config.toml naming hosts b, c and d (down); his name."""
    pw = pwd.getpwnam("marcus")
    cfg = Path(pw.pw_dir) / ".config" / "atoll"
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "config.toml").write_text(CONFIG)
    for path in (cfg.parent, cfg, cfg / "config.toml"):
        os.chown(path, pw.pw_uid, pw.pw_gid)
    yield "marcus"
    shutil.rmtree(cfg, ignore_errors=True)


def drive(bed: Testbed, *args: str, timeout: float = 300) -> dict[str, Any]:
    """Run tests/hosts/drive.py as the operator; its JSON output."""
    proc = bed.operator.run([sys.executable, DRIVE, *args], timeout=timeout)
    assert proc.returncode == 0, proc.stderr.decode()
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def query(bed: Testbed, timeout: float, *specs: str) -> dict[str, dict[str, Any]]:
    """``query_hosts`` as the operator; ``{host name: {"host": row, "sessions": [...]}}``."""
    out = drive(bed, "query", str(timeout), *specs)
    return {r["host"]["host"]: r for r in out["results"]}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TIMINGS:
        terminalreporter.section("test hosts: setup times (s)")
        for key, value in TIMINGS.items():
            terminalreporter.write_line(f"{key:>14} {value:8.2f}")
