"""A real terminal for tests: an outer tmux server (root's, throwaway socket) with one
160x40 window running a command, driven with send-keys and read back with capture-pane.

Its prefix is moved to C-a, so C-b d reaches an inner tmux client running in the window
(send-keys writes into the pane, bypassing the outer server's key table either way)."""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

WAIT = 30.0
"""Upper bound for waiting on the screen (a hang guard, not a speed test)."""


class Terminal:
    """An outer tmux server with one 160x40 window running ``command``."""

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path) -> None:
        self.socket = f"outer-{secrets.token_hex(4)}"
        args = ["new-session", "-d", "-x", "160", "-y", "40", "-c", str(cwd)]
        for key, value in env.items():
            args += ["-e", f"{key}={value}"]
        self.tmux("-f", "/dev/null", *args, *command)
        self.tmux("set-option", "-g", "prefix", "C-a")

    def tmux(self, *args: str) -> str:
        res = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                             text=True, timeout=30, check=True)
        return res.stdout

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.tmux("send-keys", "-t", "0", *(["-l"] if literal else []), *keys)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "0")

    def wait(self, check: Callable[[str], bool], what: str, timeout: float = WAIT) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if check(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting for {what}; screen:\n{text}")
            time.sleep(0.1)

    def alive(self) -> bool:
        return subprocess.run(["tmux", "-L", self.socket, "has-session"],
                              capture_output=True, timeout=30).returncode == 0

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True,
                       timeout=30)
