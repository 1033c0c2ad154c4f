"""Runners compose argv prefixes; they never build shell strings.

A runner turns a command argv into the argv that runs it where it must run:

- :class:`Local` runs it as is;
- :class:`Sudo` prefixes ``sudo -n -u USER --`` (``-n``: never prompt, see sudo(8)); it is
  skipped when the runner would already be that user, and refuses to nest in another Sudo;
- :class:`Ssh` runs it on an SSH alias with OpenSSH; the remote command is the single place
  a shell string exists, built with :func:`shlex.join` so every argument stays one word;
- :class:`ContainerExec` runs it in a container with ``docker|podman exec``.

Runners nest through ``via``: ``Sudo("wes-agent", via=Ssh("b"))`` runs sudo on host b.
"""

from __future__ import annotations

import os
import pwd
import shlex
from typing import Protocol

import msgspec

from atoll.exec.process import Completed, run_argv


def current_user() -> str:
    """Name of the real uid (never ``$USER``, which the environment can forge)."""
    return pwd.getpwuid(os.getuid()).pw_name


class Runner(Protocol):
    """Something that can turn an argv into the argv that runs it, and run it."""

    @property
    def host(self) -> str:
        """``local`` or the SSH alias the command ends up on."""
        ...

    @property
    def user(self) -> str | None:
        """The Linux user the command runs as, when known (None: the remote login user)."""
        ...

    def wrap(self, argv: list[str]) -> list[str]:
        """The full argv that runs ``argv`` here."""
        ...

    def run(
        self, argv: list[str], *, input: bytes | None = None, timeout: float | None = 30.0
    ) -> Completed:
        """Run ``argv`` (wrapped) and capture its output; see :func:`run_argv`."""
        ...


class _Base(msgspec.Struct, frozen=True):
    def wrap(self, argv: list[str]) -> list[str]:  # pragma: no cover - overridden
        raise NotImplementedError

    def run(
        self, argv: list[str], *, input: bytes | None = None, timeout: float | None = 30.0
    ) -> Completed:
        return run_argv(self.wrap(argv), input=input, timeout=timeout)


class Local(_Base, frozen=True):
    """Run on this host as the current user."""

    @property
    def host(self) -> str:
        return "local"

    @property
    def user(self) -> str | None:
        return current_user()

    def wrap(self, argv: list[str]) -> list[str]:
        return list(argv)


class Sudo(_Base, frozen=True):
    """Run as ``user`` through ``sudo -n -u USER --`` on the host of ``via``."""

    target_user: str
    via: Runner = msgspec.field(default_factory=Local)

    def __post_init__(self) -> None:
        if isinstance(self.via, Sudo):
            raise ValueError("refusing to nest sudo in sudo")

    @property
    def host(self) -> str:
        return self.via.host

    @property
    def user(self) -> str | None:
        return self.target_user

    @property
    def needed(self) -> bool:
        """False when ``via`` already runs as the target user."""
        return self.via.user != self.target_user

    def wrap(self, argv: list[str]) -> list[str]:
        if not self.needed:
            return self.via.wrap(argv)
        return self.via.wrap(["sudo", "-n", "-u", self.target_user, "--", *argv])


class Ssh(_Base, frozen=True):
    """Run on SSH alias ``alias`` with OpenSSH in batch mode over a shared ControlMaster.

    ``options`` are extra ``-o`` settings; ``control_dir`` must be a private (0700)
    directory. ``tty`` asks for a terminal (``-t``), for attach.
    """

    alias: str
    control_dir: str | None = None
    connect_timeout: int = 5
    control_persist: str = "60s"
    options: tuple[str, ...] = ()
    tty: bool = False

    @property
    def host(self) -> str:
        return self.alias

    @property
    def user(self) -> str | None:
        return None

    def ssh_argv(self) -> list[str]:
        """The ``ssh`` argv up to and including the alias and ``--``."""
        argv = [
            "ssh",
            "-o", "BatchMode=yes",
            "-o", f"ConnectTimeout={self.connect_timeout}",
        ]
        if self.control_dir:
            argv += [
                "-o", "ControlMaster=auto",
                "-o", f"ControlPersist={self.control_persist}",
                "-o", f"ControlPath={self.control_dir}/%C",
            ]
        for opt in self.options:
            argv += ["-o", opt]
        argv.append("-t" if self.tty else "-T")
        return [*argv, self.alias, "--"]

    def wrap(self, argv: list[str]) -> list[str]:
        return [*self.ssh_argv(), shlex.join(argv)]


class ContainerExec(_Base, frozen=True):
    """Run inside container ``name`` with ``ENGINE exec`` (engine: docker or podman).

    ``interactive`` gives the command a terminal (``-it``, for attach); ``stdin`` passes
    stdin on without one (``-i``, for a tar stream into the container)."""

    engine: str
    name: str
    exec_user: str | None = None
    interactive: bool = False
    via: Runner = msgspec.field(default_factory=Local)
    stdin: bool = False

    @property
    def host(self) -> str:
        return self.via.host

    @property
    def user(self) -> str | None:
        return self.exec_user

    def wrap(self, argv: list[str]) -> list[str]:
        cmd = [self.engine, "exec"]
        if self.interactive:
            cmd.append("-it")
        elif self.stdin:
            cmd.append("-i")
        if self.exec_user:
            cmd += ["-u", self.exec_user]
        return self.via.wrap([*cmd, self.name, *argv])

    def run(
        self, argv: list[str], *, input: bytes | None = None, timeout: float | None = 30.0
    ) -> Completed:
        """As :meth:`Runner.run`; with ``input``, stdin is passed on (``-i``) even when this
        runner was not made with ``stdin``: without it ``ENGINE exec`` drops the input and
        the command reads an empty stdin."""
        wrapped = self if input is None or self.stdin or self.interactive else \
            msgspec.structs.replace(self, stdin=True)
        return run_argv(wrapped.wrap(argv), input=input, timeout=timeout)
