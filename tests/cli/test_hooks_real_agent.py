"""The hooks ``atoll hooks install`` writes are fired by the real Claude Code: its
SessionStart hook runs ``atoll hook idle`` with no model needed, which marks the pane.

Needs the ``claude`` binary (PATH, ``$ATOLL_CLAUDE_BIN``, or the npm prefix that
scripts/capture_states.py uses); skipped without it.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from tests.support.proc import atoll, atoll_bin

PREFIXED = "/var/tmp/atoll-agents/claude/node_modules/@anthropic-ai/claude-code/bin/claude.exe"


def claude_bin() -> str | None:
    for cand in (os.environ.get("ATOLL_CLAUDE_BIN"), shutil.which("claude"), PREFIXED):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


@pytest.mark.skipif(claude_bin() is None, reason="Claude Code not installed")
def test_claude_session_start_hook_marks_the_pane(tmp_path: Path) -> None:
    home, repo = tmp_path / "home", tmp_path / "repo"
    home.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    res = atoll("hooks", "install", "--agent", "claude", env={"HOME": str(home)})
    assert res.returncode == 0, res.stderr
    # onboarding and the folder's trust already done, so Claude Code opens at its prompt
    (home / ".claude.json").write_text(json.dumps({
        "hasCompletedOnboarding": True, "theme": "dark",
        "projects": {str(repo): {"hasTrustDialogAccepted": True}}}))
    path = f"{Path(atoll_bin()).parent}:/usr/bin:/bin"
    env = [f"HOME={home}", f"PATH={path}", "TERM=tmux-256color", "DISABLE_AUTOUPDATER=1",
           "ANTHROPIC_AUTH_TOKEN=atoll-test", "ANTHROPIC_BASE_URL=http://127.0.0.1:9"]
    cmd = ('exec env -i TMUX="$TMUX" TMUX_PANE="$TMUX_PANE" '
           + " ".join(shlex.quote(e) for e in env) + " " + shlex.quote(str(claude_bin())))
    sock = f"atoll-hooks-real-{uuid.uuid4().hex[:8]}"
    tmux = ["tmux", "-L", sock, "-f", "/dev/null"]
    try:
        subprocess.run([*tmux, "new-session", "-d", "-s", "a", "-x", "200", "-y", "50",
                        "-c", str(repo), cmd], check=True)
        state = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not state:
            out = subprocess.run([*tmux, "show-options", "-p", "-v", "-t", "a:", "@atoll_state"],
                                 capture_output=True, text=True)
            state = out.stdout.strip()
            time.sleep(0.5)
        assert state == "idle"
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
        Path(f"/tmp/tmux-{os.getuid()}", sock).unlink(missing_ok=True)
