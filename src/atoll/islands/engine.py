"""Container engines (docker, podman): how atoll calls them, and engine facts it relies on.

- Every podman call is ``podman --runtime runc ...``: crun fails on hosts with the hybrid
  cgroup v1 layout (docs/islands.md, "Engines"); the runtime is recorded in the container,
  so later ``podman exec`` calls use it too.
- Podman sets ``RLIMIT_NOFILE``/``RLIMIT_NPROC`` of the container to its own defaults,
  which runc cannot raise when the caller lacks ``CAP_SYS_RESOURCE``; atoll therefore
  always passes ``--ulimit`` for both, capped at this process's hard limits
  (:func:`ulimits`). Docker inherits the daemon's limits and gets the same explicit values.
- Commands run inside with :class:`~atoll.exec.runner.ContainerExec` (``stdin=True`` for
  ``ENGINE exec -i``, a tar stream without a terminal).
- podman runs from the operator's private runtime directory, never the caller's: its
  conmon drops an ``oom`` file into its working directory (:func:`atoll.exec.process._cwd`).

Errors: :class:`EngineUnavailableError` (exit 1) when the engine's program or daemon is
missing, with the command that would start it.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass, field

from atoll.core.errors import AtollError, UsageError
from atoll.exec.process import Completed
from atoll.exec.runner import Local, Runner

ENGINES = ("docker", "podman")
NOFILE = 4096
NPROC = 16384  # conmon runs with RLIMIT_NPROC 32768; runc cannot go above it


class EngineUnavailableError(AtollError):
    """The container engine cannot be used here."""


def check_engine_name(engine: str) -> str:
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}: use docker or podman")
    return engine


def engine_argv(engine: str) -> list[str]:
    """The program and global options of ``engine``."""
    check_engine_name(engine)
    return ["podman", "--runtime", "runc"] if engine == "podman" else ["docker"]


def ulimits() -> dict[str, tuple[int, int]]:
    """``--ulimit`` values: nofile and nproc, soft = hard, never above our hard limits."""
    out: dict[str, tuple[int, int]] = {}
    for name, rlim, want in (("nofile", resource.RLIMIT_NOFILE, NOFILE),
                             ("nproc", resource.RLIMIT_NPROC, NPROC)):
        _soft, hard = resource.getrlimit(rlim)
        val = want if hard == resource.RLIM_INFINITY else min(want, hard)
        out[name] = (val, val)
    return out


@dataclass(frozen=True)
class Engine:
    """One engine reached through ``via`` (Local by default)."""

    name: str
    via: Runner = field(default_factory=Local)

    def __post_init__(self) -> None:
        check_engine_name(self.name)

    def argv(self, *args: str) -> list[str]:
        return [*engine_argv(self.name), *args]

    def run(self, *args: str, input: bytes | None = None, timeout: float | None = 60.0
            ) -> Completed:
        """Run ``ENGINE ARGS`` and return the result (not checked)."""
        return self.via.run(self.argv(*args), input=input, timeout=timeout)

    def check(self, *args: str, input: bytes | None = None, timeout: float | None = 60.0
              ) -> Completed:
        """Run ``ENGINE ARGS``; raise ExternalCommandError (or EngineUnavailableError when
        the daemon is down) if it fails."""
        res = self.run(*args, input=input, timeout=timeout)
        if not res.ok:
            if is_daemon_down(res.stderr):
                raise EngineUnavailableError(unavailable_message(self.name))
            res.check()
        return res

    def available(self) -> bool:
        """True if the engine answers ``version``."""
        try:
            return self.run("version", timeout=30).ok
        except AtollError:
            return False

    def require(self) -> None:
        """Raise EngineUnavailableError unless the engine answers."""
        try:
            res = self.run("version", timeout=30)
        except AtollError as exc:
            raise EngineUnavailableError(f"{self.name}: {exc}") from exc
        if not res.ok:
            raise EngineUnavailableError(unavailable_message(self.name))


def is_daemon_down(stderr: str) -> bool:
    return "Cannot connect to the Docker daemon" in stderr or "Is the docker daemon" in stderr


def unavailable_message(engine: str) -> str:
    if engine == "docker":
        return ("docker: the daemon is not running (start it: `systemctl start docker`, "
                "or as root `dockerd &`)")
    return "podman: not usable here (run `podman info` to see why)"
