"""Errors and the exit codes of the CLI contract (shared/DESIGN.md, "CLI surface").

Every error a user can cause is an :class:`AtollError` subclass; the CLI prints
``atoll: error: <message>`` on one line and exits with :attr:`AtollError.exit_code`.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented process exit codes."""

    OK = 0
    ERROR = 1
    USAGE = 2
    NOT_FOUND = 3
    PERMISSION = 4
    UNREACHABLE = 5
    INTERRUPTED = 130


class AtollError(Exception):
    """Base error; ``str(err)`` is a one-line message fit for a user."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str) -> None:
        # One line, always: a message that embeds untrusted text must not forge more lines.
        super().__init__(" ".join(message.split("\n")).strip())


class UsageError(AtollError):
    """Bad usage or invalid input (exit 2)."""

    exit_code = ExitCode.USAGE


class NotFoundError(AtollError):
    """A session, user, host or file does not exist or is not visible (exit 3)."""

    exit_code = ExitCode.NOT_FOUND


class PermissionDeniedError(AtollError):
    """The operator may not do this (exit 4)."""

    exit_code = ExitCode.PERMISSION


class HostUnreachableError(AtollError):
    """A host did not answer (exit 5)."""

    exit_code = ExitCode.UNREACHABLE


class AmbiguousTargetError(UsageError):
    """A target name matches sessions of several agent users (exit 2)."""

    def __init__(self, name: str, candidates: list[str]) -> None:
        listed = ", ".join(candidates)
        super().__init__(
            f"session {name!r} exists for several agent users ({listed}); choose one with --as USER"
        )
        self.candidates = candidates


class ExternalCommandError(AtollError):
    """A program atoll ran (tmux, sudo, git, ...) failed (exit 1)."""

    def __init__(self, argv: list[str], returncode: int, stderr: str) -> None:
        tail = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit status {returncode}"
        super().__init__(f"{argv[0]} failed: {tail}")
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr
