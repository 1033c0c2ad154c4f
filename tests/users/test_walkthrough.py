"""The README walkthrough, typed literally: its root block and its `$` lines run as written
(the names `ana`/`ana-agent` replaced by throwaway accounts), against real useradd,
sudoers, tmux and the real Codex CLI (at its sign-in menu: there is no network here).
Only `atoll attach` (it needs a terminal) and `npm install` (Codex is installed by
scripts/deps/20-agents.sh) are skipped."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from tests.support.proc import atoll_bin, run_as
from tests.support.users import UserFactory
from tests.users.test_real_agent import codex_processes

README = Path(__file__).resolve().parents[2] / "README.md"
pytestmark = pytest.mark.root


def walkthrough() -> tuple[list[str], list[tuple[str, list[str]]]]:
    """(root commands, [(operator command, the output lines the README shows)])."""
    text = README.read_text()
    section = text.split("## Walkthrough", 1)[1].split("\n## ", 1)[0]
    root_block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert root_block is not None
    root = [ln.split("  #")[0].strip() for ln in root_block.group(1).splitlines() if ln.strip()]
    steps: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", section, re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((re.sub(r"\s+#.*$", "", line[2:]).strip(), []))
            elif steps and line.startswith("atoll: "):
                steps[-1][1].append(line)
    return root, steps


def test_readme_walkthrough_as_typed(users: UserFactory) -> None:
    if shutil.which("codex") is None:
        pytest.fail("codex is not installed: scripts/setup.sh --dev installs it from npm")
    ana = users.user(users.name("wk"))
    agent = f"{ana}-agent"
    users.users.append(agent)  # the README's useradd makes it; the factory removes it
    sudoers = Path(f"/etc/sudoers.d/atoll-{ana}")
    users.sudoers.append(sudoers)
    run_as(ana, ["bash", "-c", "mkdir -p ~/src/app && cd ~/src/app && git init -q -b main "
                 "&& echo hi > README && git add README && git -c user.name=a "
                 "-c user.email=a@example.invalid commit -qm init"])

    def named(cmd: str) -> str:
        return re.sub(r"\bana\b", ana, cmd)

    root, steps = walkthrough()
    for cmd in root:
        if cmd.startswith("npm "):
            continue
        res = subprocess.run(["bash", "-c", named(cmd)], capture_output=True, text=True)
        assert res.returncode == 0, (cmd, res.stderr)
    assert oct(Path(f"/home/{agent}").stat().st_mode & 0o777) == "0o700"

    bindir = str(Path(atoll_bin()).parent)
    env = {"PATH": f"{bindir}:/usr/local/bin:/usr/bin:/bin", "ATOLL_NO_HELPER": "1"}
    seen: dict[str, str] = {}
    for cmd, shown in steps:
        cmd = named(cmd)
        if cmd.startswith("atoll attach"):
            continue
        if cmd.startswith(("atoll ls", "atoll peek", "atoll key")):
            wait_for_sign_in(ana, env)
        res = run_as(ana, ["bash", "-c", cmd], env=env)
        seen[cmd] = res.stdout
        if shown and shown[0].startswith("atoll: error: "):
            assert res.returncode == 2, (cmd, res.stderr)
        else:
            assert res.returncode == 0, (cmd, res.stderr)
        for line in shown:
            assert named(line) in res.stderr, (cmd, res.stderr)
    assert "waiting" in seen["atoll ls"] and agent in seen["atoll ls"]
    assert "Sign in with ChatGPT" in seen["atoll peek fix-login"]
    assert codex_processes(Path(f"/home/{agent}").stat().st_uid) == []  # kill left nothing


def wait_for_sign_in(ana: str, env: dict[str, str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        res = run_as(ana, ["bash", "-c", "atoll ls --status waiting"], env=env)
        if "fix-login" in res.stdout:
            return
        time.sleep(1)
    raise AssertionError("codex never reached its sign-in menu")
