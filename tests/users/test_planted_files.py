"""Files an agent user can plant, or an operator can misconfigure, are read safely (issue 11
point 3): a FIFO never hangs, a symlink to /dev/zero never grows atoll, huge numbers and
deep nesting never crash it. Real users, real sudo, the real CLI.

Before: a FIFO as config.toml or as the ledger hung every command; ``meta.json ->
/dev/zero`` grew the operator's atoll to gigabytes; ``"memory": 1e400`` or 100,000 nested
brackets in meta.json, or a 5,000-level nested config, ended commands with a traceback.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.proc import atoll, run_as
from tests.support.users import UserFactory

from atoll.core.islands import ISLANDS_SUBDIR
from atoll.islands.bwrap import list_bwrap_islands

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def op(users: UserFactory) -> Iterator[str]:
    name = users.user(users.name("pfop"))
    yield name


def _config_dir(user: str) -> Path:
    pw = pwd.getpwnam(user)
    path = Path(pw.pw_dir) / ".config" / "atoll"
    run_as(user, ["mkdir", "-p", str(path)])
    return path


def one_line_error(res: subprocess.CompletedProcess[str]) -> str:
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("atoll: error: "), res.stderr
    assert "Traceback" not in res.stderr
    return lines[0]


@pytest.mark.parametrize("plant", ["fifo", "dev-zero", "nested", "huge"])
def test_a_bad_config_file_is_one_line_not_a_hang(op: str, plant: str) -> None:
    cfg = _config_dir(op) / "config.toml"
    cfg.unlink(missing_ok=True)
    if plant == "fifo":
        run_as(op, ["mkfifo", str(cfg)])
    elif plant == "dev-zero":
        run_as(op, ["ln", "-s", "/dev/zero", str(cfg)])
    elif plant == "nested":
        run_as(op, ["sh", "-c", f"python3 -c \"print('a = ' + '['*5000 + ']'*5000)\" > {cfg}"])
    else:
        run_as(op, ["sh", "-c", f"head -c 3000000 /dev/zero | tr '\\0' a > {cfg}"])
    for argv in (["ls"], ["new", "x", "--", "true"], ["kill", "x"]):
        res = atoll(*argv, user=op, env={"ATOLL_NO_HELPER": "1"})  # 60 s timeout: a hang fails
        assert res.returncode == 2, (argv, res.stderr)
        one_line_error(res)
    cfg.unlink()


def test_a_fifo_as_the_ledger_fails_closed_without_hanging(op: str, tmp_path: Path) -> None:
    home = Path(pwd.getpwnam(op).pw_dir)
    fifo = home / "ledger.fifo"
    run_as(op, ["mkfifo", str(fifo)])
    cfg = _config_dir(op) / "config.toml"
    cfg.write_text(f'ledger_path = "{fifo}"\n')
    os.chown(cfg, pwd.getpwnam(op).pw_uid, -1)
    try:
        res = atoll("new", "nolog", "--as", op, "--", "sleep", "30", user=op)
        assert res.returncode != 0
        assert "not a regular file" in one_line_error(res)
        # fail closed: nothing was started
        assert run_as(op, ["tmux", "-L", "atoll", "has-session", "-t", "=nolog"]).returncode != 0
        res = atoll("audit", "show", user=op)
        assert res.returncode != 0 and "not a regular file" in one_line_error(res)
    finally:
        cfg.unlink()
        fifo.unlink()


PLANTS = {
    "dev-zero": ["ln", "-s", "/dev/zero", "{meta}"],
    "fifo": ["mkfifo", "{meta}"],
    "1e400": ["sh", "-c", 'echo \'{{"name": "x", "memory": 1e400}}\' > {meta}'],
    "huge-int": ["sh", "-c", 'echo \'{{"name": "x", "memory": 1' + "0" * 400 + "}}' > {meta}"],
    "nested": ["sh", "-c", "python3 -c \"print('{{\\\"name\\\": \\\"x\\\", \\\"grants\\\": ' "
               "+ '['*100000 + ']'*100000 + '}}')\" > {meta}"],
    "big": ["sh", "-c", "head -c 50000000 /dev/zero > {meta}"],
}


def test_planted_island_metadata_is_skipped_not_fatal(users: UserFactory) -> None:
    agent = users.user(users.name("pfag", "-agent"))
    base = Path(pwd.getpwnam(agent).pw_dir) / ISLANDS_SUBDIR
    run_as(agent, ["mkdir", "-p", str(base)])
    for label, argv in PLANTS.items():
        island = base / label
        run_as(agent, ["mkdir", "-p", str(island)])
        meta = island / "meta.json"
        res = run_as(agent, [a.format(meta=meta) for a in argv])
        assert res.returncode == 0, (label, res.stderr)
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    found = list_bwrap_islands(agent)  # as root, through sudo as the agent, like purge
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert found == []
    assert grown_kib < 100_000, f"reading planted metadata grew atoll by {grown_kib} KiB"
