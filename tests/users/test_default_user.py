"""Isolation is the default (DESIGN decision 11): `atoll new` without --as runs the agent as
the operator's agent user; running as yourself is explicit (`--as $USER`) and listed as
island `none`; with no agent user it still works, with one warning line on stderr.

Real accounts and sudoers (tests/support/users.py), the real CLI run as those accounts.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.support.proc import atoll
from tests.support.users import UserFactory

from atoll.core.config import ConfigError
from atoll.service.defaultuser import AGENT_MAP_PATH, read_agent_map

pytestmark = pytest.mark.root


@dataclass
class Cast:
    op: str  # has op-agent and sudo over it
    mine: str
    other: str  # a second agent user op may act as
    solo: str  # has no agent user at all


@pytest.fixture(scope="module")
def cast(users: UserFactory) -> Iterator[Cast]:
    op = users.user(users.name("dfop"))
    mine = users.user(f"{op}-agent")
    other = users.user(users.name("dfbot"))
    solo = users.user(users.name("dfsolo"))
    users.allow(op, [mine, other])
    yield Cast(op, mine, other, solo)


def rows(user: str) -> dict[str, dict[str, Any]]:
    res = atoll("ls", "--json", user=user)
    assert res.returncode == 0, res.stderr
    return {r["name"]: r for r in json.loads(res.stdout)["sessions"]}


def started(res: subprocess.CompletedProcess[str]) -> list[str]:
    assert res.returncode == 0, res.stderr
    return res.stderr.splitlines()


def test_new_without_as_runs_as_the_agent_user(cast: Cast) -> None:
    lines = started(atoll("new", "iso", "--dir", "/tmp", "--", "sleep", "300", user=cast.op))
    assert lines == [f"atoll: started iso as {cast.mine}"]
    row = rows(cast.op)["iso"]
    assert (row["agent_user"], row["island"], row["launched_by"]) == (cast.mine, "user", cast.op)
    uid = pwd.getpwnam(cast.mine).pw_uid
    assert os.stat(f"/proc/{row['pid']}").st_uid == uid


def test_running_as_yourself_is_explicit_and_listed_as_none(cast: Cast) -> None:
    lines = started(atoll("new", "me", "--as", cast.op, "--dir", "/tmp", "--", "sleep", "300",
                          user=cast.op))
    assert lines == [f"atoll: started me as {cast.op}"]  # asked for: no warning
    assert rows(cast.op)["me"]["island"] == "none"
    table = atoll("ls", user=cast.op).stdout
    (line,) = [t for t in table.splitlines() if " me " in t]
    assert f"{cast.op} (none)" in line


def test_no_agent_user_still_works_with_one_warning_line(cast: Cast) -> None:
    lines = started(atoll("new", "bare", "--dir", "/tmp", "--", "sleep", "300", user=cast.solo))
    assert len(lines) == 2
    warning, done = lines
    assert warning.startswith("atoll: warning: no agent user visible, so the agent runs as "
                              f"{cast.solo} and can reach {cast.solo}'s keys and files")
    assert f"useradd -m {cast.solo}-agent" in warning
    assert f"'{cast.solo} ALL=({cast.solo}-agent) NOPASSWD: ALL'" in warning
    assert done == f"atoll: started bare as {cast.solo}"
    assert rows(cast.solo)["bare"]["island"] == "none"
    # a refused `new` warns of nothing: the one line is the error
    bad = atoll("new", "bad2", "--dir", "/nonexistent", "--", "true", user=cast.solo)
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1


def test_config_default_agent_user_wins(cast: Cast) -> None:
    cfg = Path(pwd.getpwnam(cast.op).pw_dir) / ".config/atoll/config.toml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(f'default_agent_user = "{cast.other}"\n')
    shutil.chown(cfg, cast.op)
    try:
        lines = started(atoll("new", "cfg", "--dir", "/tmp", "--", "sleep", "300", user=cast.op))
        assert lines == [f"atoll: started cfg as {cast.other}"]
        # a configured agent user sudo does not grant is an error, never a silent fallback
        cfg.write_text(f'default_agent_user = "{cast.solo}"\n')
        refused = atoll("new", "cfg2", "--dir", "/tmp", "--", "true", user=cast.op)
        assert refused.returncode == 4, refused.stderr
        assert refused.stderr.startswith("atoll: error: default_agent_user in your config "
                                         f"names {cast.solo}, but sudo does not let")
    finally:
        cfg.unlink()


@pytest.fixture
def host_map() -> Iterator[Path]:
    """The real host map path; refuses to touch a map an admin already wrote."""
    path = Path(AGENT_MAP_PATH)
    if path.exists():
        pytest.skip(f"{path} exists on this host; not overwriting it")
    made_dir = not path.parent.exists()
    path.parent.mkdir(mode=0o755, exist_ok=True)
    yield path
    path.unlink(missing_ok=True)
    if made_dir:
        path.parent.rmdir()


def test_host_map_names_the_agent_user(cast: Cast, host_map: Path) -> None:
    host_map.write_text(f'[agent_users]\n{cast.op} = "{cast.other}"\n')
    os.chmod(host_map, 0o644)
    lines = started(atoll("new", "mapped", "--dir", "/tmp", "--", "sleep", "300", user=cast.op))
    assert lines == [f"atoll: started mapped as {cast.other}"]


def test_host_map_is_read_only_when_root_owned_and_not_writable(
    cast: Cast, tmp_path: Path,
) -> None:
    d = tmp_path / "etc-atoll"
    d.mkdir(mode=0o755)
    f = d / "agent-users.toml"
    f.write_text(f'[agent_users]\n{cast.op} = "{cast.other}"\n')
    os.chmod(f, 0o644)
    assert read_agent_map(str(f)) == {cast.op: cast.other}
    # planted by another account, group/world-writable, a symlink, a FIFO: all refused
    shutil.chown(f, cast.op)
    with pytest.raises(ConfigError, match="must be root's"):
        read_agent_map(str(f))
    shutil.chown(f, "root")
    os.chmod(f, 0o666)
    with pytest.raises(ConfigError, match="must be root's"):
        read_agent_map(str(f))
    os.chmod(f, 0o644)
    os.chmod(d, 0o777)
    with pytest.raises(ConfigError, match="must be root's"):
        read_agent_map(str(f))
    os.chmod(d, 0o755)
    link = d / "link.toml"
    link.symlink_to(f)
    with pytest.raises(ConfigError, match="cannot read"):
        read_agent_map(str(link))
    fifo = d / "fifo.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        read_agent_map(str(fifo))
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    f.write_text('[agent_users]\nana = "bad name!"\n')
    with pytest.raises(ConfigError, match="invalid user name"):
        read_agent_map(str(f))
    assert read_agent_map(str(d / "missing.toml")) == {}

