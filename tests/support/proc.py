"""Running the real ``atoll`` CLI and tmux from tests, as root or as another Linux user."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def atoll_bin() -> str:
    """The installed console script next to the running interpreter."""
    cand = Path(sys.executable).parent / "atoll"
    if cand.exists():
        return str(cand)
    found = shutil.which("atoll")
    assert found, "atoll console script not found; run scripts/setup.sh --dev"
    return found


def run_as(
    user: str | None,
    argv: list[str],
    *,
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float = 60,
    cwd: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` as ``user`` (via runuser, as root) with a clean, explicit environment."""
    base = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
    }
    if user is not None and user != "root":
        import pwd

        pw = pwd.getpwnam(user)
        base.update({"HOME": pw.pw_dir, "USER": user, "LOGNAME": user})
        cwd = cwd or pw.pw_dir
        full = ["runuser", "-u", user, "--", "env", "-i", *(f"{k}={v}" for k, v in
                {**base, **(env or {})}.items()), *argv]
    else:
        base["HOME"] = os.environ.get("HOME", "/root")
        full = ["env", "-i", *(f"{k}={v}" for k, v in {**base, **(env or {})}.items()), *argv]
    return subprocess.run(full, capture_output=True, text=True, input=input, timeout=timeout,
                          cwd=cwd)


def atoll(
    *args: str, user: str | None = None, socket: str | None = None,
    env: dict[str, str] | None = None, input: str | None = None, cwd: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the real atoll CLI; ``socket`` sets ATOLL_TMUX_SOCKET."""
    extra = dict(env or {})
    if socket:
        extra["ATOLL_TMUX_SOCKET"] = socket
    return run_as(user, [atoll_bin(), *args], env=extra, input=input, cwd=cwd)


def tmux(socket: str, *args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    """Plain tmux on ``-L socket`` as ``user``."""
    return run_as(user, ["tmux", "-L", socket, *args])
