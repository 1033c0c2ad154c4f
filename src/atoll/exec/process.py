"""Running one argv and capturing its result. The only subprocess use of the package.

``run_argv`` never uses a shell, sets ``LC_ALL=C`` so tool messages are stable to parse,
closes stdin unless input is given, and turns a missing program or a timeout into an
:class:`~atoll.core.errors.AtollError` instead of a traceback.
"""

from __future__ import annotations

import os
import subprocess

import msgspec

from atoll.core.errors import AtollError, ExternalCommandError


class Completed(msgspec.Struct, frozen=True):
    """Result of one command: exit status, raw stdout bytes, decoded stderr."""

    argv: list[str]
    returncode: int
    stdout: bytes
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def text(self) -> str:
        """stdout decoded as UTF-8 (invalid bytes replaced)."""
        return self.stdout.decode("utf-8", "replace")

    def check(self) -> Completed:
        """Return self, or raise ExternalCommandError when the command failed."""
        if self.returncode != 0:
            raise ExternalCommandError(self.argv, self.returncode, self.stderr)
        return self


class CommandTimeoutError(AtollError):
    """A command did not finish within its timeout."""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["LC_ALL"] = "C.UTF-8"
    env.pop("TMUX", None)  # never let an inner tmux attach to the caller's server by accident
    return env


def run_argv(
    argv: list[str], *, input: bytes | None = None, timeout: float | None = 30.0
) -> Completed:
    """Run ``argv`` without a shell and capture stdout/stderr.

    Raises AtollError when the program does not exist, CommandTimeoutError on timeout.
    A non-zero exit is returned, not raised (call :meth:`Completed.check`).
    """
    try:
        proc = subprocess.run(
            argv,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            env=_env(),
            check=False,
        )
    except FileNotFoundError as exc:
        raise AtollError(f"{argv[0]}: program not found (is it installed?)") from exc
    except subprocess.TimeoutExpired as exc:
        raise CommandTimeoutError(f"{argv[0]} timed out after {timeout:g}s") from exc
    return Completed(argv, proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace"))


def run_foreground(argv: list[str], *, unset_tmux: bool = False) -> int:
    """Run ``argv`` attached to this terminal (inherited stdin/stdout/stderr), wait for it,
    and return its exit status. No shell; the environment is inherited (minus ``TMUX`` when
    ``unset_tmux``, so that a nested ``tmux attach`` is not refused). Used by the fleet TUI
    to attach while it is suspended. Raises AtollError when the program does not exist."""
    env = dict(os.environ)
    if unset_tmux:
        env.pop("TMUX", None)
    try:
        return subprocess.run(argv, env=env, check=False).returncode
    except FileNotFoundError as exc:
        raise AtollError(f"{argv[0]}: program not found (is it installed?)") from exc
    except OSError as exc:
        raise AtollError(f"cannot run {argv[0]}: {exc.strerror}") from exc
