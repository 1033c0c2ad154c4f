"""Issue 11 point 3: an agent user plants hostile ``meta.json`` files in its own island
directories (``~AGENT/.atoll/islands/ID/``); the operator's listing and purge lookup
(:func:`atoll.islands.bwrap.list_bwrap_islands`, which purge uses) skip them and still find
the genuine island. Before: ``1e400`` raised OverflowError and deep nesting RecursionError
(for every target), a symlink to ``/dev/zero`` was read by ``cat`` into memory for 15 s
(gigabytes), a FIFO blocked ``cat`` for its whole timeout."""

from __future__ import annotations

import json
import pwd
from collections.abc import Callable

import pytest
from tests.support.proc import run_as
from tests.support.users import UserFactory

from atoll.core.islands import ISLANDS_SUBDIR, IslandSpec
from atoll.islands.bwrap import list_bwrap_islands

pytestmark = pytest.mark.root


def _meta(name: str, **changes: object) -> str:
    base = {"name": name, "project_dir": "/srv/p", "owner": "root", "kind": "bwrap",
            "net": False, "cpus": 1.0, "memory": 1 << 30, "pids": 256, "grants": [],
            "base_commits": None, "created": 1.0}
    return json.dumps({**base, **changes})


def _planter(agent: str) -> Callable[[str, str], str]:
    home = pwd.getpwnam(agent).pw_dir

    def plant(name: str, shell: str) -> str:
        spec = IslandSpec(name=name, project_dir="/srv/p", kind="bwrap", operator="root",
                          agent_user=agent)
        d = f"{home}/{ISLANDS_SUBDIR}/{spec.island_id}"
        script = f"mkdir -p {d} && cd {d} && {shell}"
        res = run_as(agent, ["sh", "-c", script])  # planted by the agent user itself
        assert res.returncode == 0, res.stderr
        return d
    return plant


@pytest.fixture(scope="module")
def agent(users: UserFactory) -> str:
    return users.user(users.name("pm", "-agent"))


def test_planted_meta_files_are_skipped_and_the_real_island_is_found(agent: str) -> None:
    plant = _planter(agent)
    plant("good", f"printf '%s' '{_meta('good')}' > meta.json")
    plant("inf", f"printf '%s' '{_meta('inf').replace('1073741824', '1e400')}' > meta.json")
    plant("nest", "python3 -c \"print('{\\\"name\\\": \\\"nest\\\", \\\"grants\\\": ' + "
                  "'[' * 100000 + ']' * 100000 + '}')\" > meta.json")
    plant("huge", f"printf '%s' '{_meta('huge', project_dir='/' + 'x' * 100)}' > meta.json"
                  " && head -c 1000000 /dev/zero | tr '\\0' ' ' >> meta.json")
    plant("zero", "ln -s /dev/zero meta.json")
    plant("fifo", "mkfifo meta.json")
    found = list_bwrap_islands(agent)
    assert [i.spec.name for i in found] == ["good"]
    assert found[0].read_meta() is not None and found[0].read_meta().memory == 1 << 30
