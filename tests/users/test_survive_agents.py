"""``atoll resume`` with the real agent CLIs (issue 18, points 2 and 5): the conversation id
comes from the agent's own hook, lands in the spec, and the resumed session runs the
agent's native resume argument, which the real CLI accepts and acts on without a model.

Claude Code: the binary from PATH, ``$ATOLL_CLAUDE_BIN`` or the npm prefix
scripts/capture_states.py uses (skipped without it). Codex: installed by
scripts/deps/20-agents.sh (required).
"""

from __future__ import annotations

import json
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from tests.cli.test_hooks_real_agent import claude_bin
from tests.support.proc import atoll, run_as
from tests.support.users import UserFactory

from atoll.core.specs import SessionSpec, resume_argv

UUID = "0199a213-81c0-7800-8aa1-bbab2a035a53"


def ok(res: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert res.returncode == 0, res.stderr
    return res


def processes(uid: int, needle: str) -> list[str]:
    out = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and proc.stat().st_uid == uid:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                if needle in cmd:
                    out.append(cmd)
        except OSError:
            continue
    return out


@pytest.mark.skipif(claude_bin() is None, reason="Claude Code not installed")
def test_claude_resumes_the_conversation_its_hook_reported(users: UserFactory) -> None:
    op = users.user(users.name("scop"))
    agent = users.user(f"{op}-agent")
    users.allow(op, [agent])
    home = Path(pwd.getpwnam(agent).pw_dir)
    project = Path(tempfile.mkdtemp(prefix="atoll-resume-"))
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    # onboarding and trust done; no real endpoint (port 9 refuses): no model is reached
    (home / ".claude.json").write_text(json.dumps({
        "hasCompletedOnboarding": True, "theme": "dark",
        "projects": {str(project): {"hasTrustDialogAccepted": True}}}))
    (home / ".claude").mkdir(exist_ok=True)
    (home / ".claude/settings.json").write_text(json.dumps({"env": {
        "ANTHROPIC_AUTH_TOKEN": "atoll-test", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
        "DISABLE_AUTOUPDATER": "1"}}))
    subprocess.run(["chown", "-R", f"{agent}:", str(home), str(project)], check=True)
    ok(atoll("hooks", "install", "--agent", "claude", "--as", agent, user=op))
    ok(atoll("new", "cl", "--as", agent, "--agent", "claude", "--dir", str(project), "--",
             str(claude_bin()), user=op))
    spec_path = (Path(pwd.getpwnam(op).pw_dir)
                 / f".local/state/atoll/sessions/atoll/{agent}@cl.json")
    conversation = None
    deadline = time.monotonic() + 90
    while conversation is None:  # SessionStart runs `atoll hook idle`; ls learns the id
        assert time.monotonic() < deadline, atoll("peek", "cl", user=op).stdout
        ok(atoll("ls", "--json", user=op, env={"ATOLL_NO_HELPER": "1"}))
        conversation = json.loads(spec_path.read_text()).get("conversation")
        time.sleep(0.5)
    ok(run_as(agent, ["tmux", "-L", "atoll", "kill-server"]))  # the server dies
    res = ok(atoll("resume", "cl", user=op))
    assert f"resumed its conversation {conversation}" in res.stderr
    uid = pwd.getpwnam(agent).pw_uid
    deadline = time.monotonic() + 60
    while not processes(uid, f"--resume {conversation}"):
        assert time.monotonic() < deadline, "claude was not started with --resume ID"
        time.sleep(0.3)
    # Claude Code parsed --resume and looked the conversation up: resumed at its prompt,
    # or (no message was ever sent, so nothing saved) it says it has no such conversation
    deadline = time.monotonic() + 60
    screen = ""
    while time.monotonic() < deadline:
        screen = ok(atoll("peek", "cl", user=op)).stdout
        if f"No conversation found with session ID: {conversation}" in screen \
                or "? for shortcuts" in screen or "for shortcuts" in screen:
            break
        time.sleep(0.5)
    else:
        raise AssertionError(screen)
    ok(atoll("kill", "cl", user=op))
    shutil.rmtree(project, ignore_errors=True)


def _codex_accepts(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Codex's own argument parser (clap) on ``argv``: with ``--help`` appended it prints
    help and exits 0 only when every argument before it parsed."""
    home = tempfile.mkdtemp(prefix="atoll-codex-home-", dir="/var/tmp")
    try:
        return subprocess.run([*argv, "--help"], capture_output=True, text=True, timeout=60,
                              env={"HOME": home, "PATH": os.environ["PATH"]},
                              stdin=subprocess.DEVNULL)
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.parametrize("conversation", [UUID, None])
def test_codex_accepts_the_resume_argv(conversation: str | None) -> None:
    codex = shutil.which("codex")
    if codex is None:
        pytest.fail("codex is not installed: scripts/setup.sh --dev installs it from npm")
    spec = SessionSpec(name="cx", agent="codex", command=[codex, "--search"],
                       directory="/tmp", project="/tmp", island="user", agent_user="a",
                       launched_by="b", created="2026-12-02T10:00:00Z",
                       conversation=conversation)
    argv, how = resume_argv(spec)
    assert how == ("conversation" if conversation else "latest")
    res = _codex_accepts(argv)
    assert res.returncode == 0 and "Resume a previous interactive session" in res.stdout, \
        res.stderr
    bad = _codex_accepts([codex, "resume", "--no-such-flag"])  # the check can fail
    assert bad.returncode != 0 and "unexpected argument" in bad.stderr


def test_claude_accepts_the_latest_argv() -> None:
    """``claude --continue`` (what a resume without a learnt id runs) in a real terminal:
    Claude Code parses it and, with no saved conversation in the directory, says so and
    exits, before any model call."""
    binary = claude_bin()
    if binary is None:
        pytest.skip("Claude Code not installed")
    spec = SessionSpec(name="cl", agent="claude", command=[binary], directory="/tmp",
                       project="/tmp", island="user", agent_user="a", launched_by="b",
                       created="2026-12-02T10:00:00Z")
    argv, how = resume_argv(spec)
    assert how == "latest" and argv[-1] == "--continue"
    home = Path(tempfile.mkdtemp(prefix="atoll-claude-home-", dir="/var/tmp"))
    project = Path(tempfile.mkdtemp(prefix="atoll-claude-proj-", dir="/var/tmp"))
    (home / ".claude.json").write_text(json.dumps({
        "hasCompletedOnboarding": True, "theme": "dark",
        "projects": {str(project): {"hasTrustDialogAccepted": True}}}))
    env = [f"HOME={home}", "PATH=/usr/bin:/bin", "TERM=tmux-256color", "DISABLE_AUTOUPDATER=1",
           "ANTHROPIC_AUTH_TOKEN=atoll-test", "ANTHROPIC_BASE_URL=http://127.0.0.1:9"]
    sock = f"atoll-survive-{os.getpid()}"
    tmux = ["tmux", "-L", sock, "-f", "/dev/null"]
    try:
        # the shell keeps the pane after claude exits, so its last words can be read
        cmd = f"env -i {shlex.join([*env, *argv])}; sleep 60"
        subprocess.run([*tmux, "new-session", "-d", "-s", "c", "-x", "200", "-y", "50",
                        "-c", str(project), cmd], check=True)
        screen = ""
        deadline = time.monotonic() + 60
        while "No conversation found to continue" not in screen:
            assert time.monotonic() < deadline, screen
            time.sleep(0.5)
            screen = subprocess.run([*tmux, "capture-pane", "-p", "-t", "=c:"],
                                    capture_output=True, text=True).stdout
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(project, ignore_errors=True)
