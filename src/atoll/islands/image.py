"""The island image ``atoll-island:latest``: built from the shipped Dockerfile, or imported
from the debootstrap root filesystem (:mod:`atoll.islands.bootstrap`) when no registry can
be reached.

Both give: Debian bookworm, tmux, git, bash, procps, ca-certificates, python3, the user
``agent`` (uid/gid 1000), ``/workspace`` owned by it, ``USER 1000:1000``,
``WORKDIR /workspace``, ``HOME=/home/agent``, ``CMD ["sleep", "infinity"]``.
``--with AGENTS`` adds agent CLIs on top (npm or PyPI, so it needs the network), as a
second build ``FROM`` the image.

Podman keeps its own image store: ``--engine podman`` imports/builds into it separately.
Errors: AtollError subclasses (BootstrapError, ExternalCommandError, UsageError).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from atoll.core.errors import AtollError, UsageError
from atoll.core.islands import AGENT_UID, CONTAINER_HOME, CONTAINER_WORKSPACE, IMAGE
from atoll.islands.bootstrap import recipe_key, rootfs
from atoll.islands.engine import Engine, ulimits

DOCKERFILE = "island.Dockerfile"
PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Agent CLIs ``--with`` can add: (installer, package).
AGENT_PACKAGES: dict[str, tuple[str, str]] = {
    "claude": ("npm", "@anthropic-ai/claude-code"),
    "codex": ("npm", "@openai/codex"),
    "gemini": ("npm", "@google/gemini-cli"),
    "opencode": ("npm", "opencode-ai"),
    "aider": ("pip", "aider-chat"),
}


class ImageMissingError(AtollError):
    """The island image is not in the engine's store."""


@dataclass
class BuildReport:
    """What a build did: per-step seconds, whether the rootfs came from the cache."""

    engine: str
    tag: str
    method: str
    steps: dict[str, float] = field(default_factory=dict)
    rootfs_reused: bool = False

    @property
    def seconds(self) -> float:
        return sum(self.steps.values())

    def summary(self) -> str:
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in self.steps.items())
        cached = " (root filesystem from cache)" if self.rootfs_reused else ""
        return f"built {self.tag} for {self.engine} by {self.method} in {self.seconds:.1f} s" \
               f" ({parts}){cached}"


def dockerfile_text() -> str:
    """The shipped Dockerfile."""
    return (resources.files("atoll.islands") / DOCKERFILE).read_text()


def import_changes(key: str) -> list[str]:
    """``--change`` lines for ``ENGINE import`` so the imported image matches the Dockerfile."""
    return [
        f"USER {AGENT_UID}:{AGENT_UID}",
        f"WORKDIR {CONTAINER_WORKSPACE}",
        f"ENV HOME={CONTAINER_HOME}",
        "ENV LANG=C.UTF-8",
        f"ENV PATH={PATH_ENV}",
        "LABEL atoll.image=island",
        f"LABEL atoll.image-recipe={key}",
        'CMD ["sleep", "infinity"]',
    ]


def image_exists(engine: Engine, tag: str = IMAGE) -> bool:
    return engine.run("image", "inspect", tag, timeout=30).ok


def require_image(engine: Engine, tag: str = IMAGE) -> None:
    """Raise ImageMissingError (with the command that builds it) unless ``tag`` exists."""
    engine.require()
    if not image_exists(engine, tag):
        raise ImageMissingError(
            f"image {tag} not found for {engine.name}: build it with "
            f"`atoll image build --engine {engine.name}` (or add --bootstrap without a registry)"
        )


def import_rootfs(engine: Engine, tarball: Path, key: str, tag: str = IMAGE) -> None:
    """``ENGINE import --change ... TARBALL TAG``."""
    args = ["import"]
    for change in import_changes(key):
        args += ["--change", change]
    engine.check(*args, str(tarball), tag, timeout=1800)


def _build_args(engine: Engine) -> list[str]:
    args = ["build"]
    if engine.name == "podman":
        for name, (soft, hard) in sorted(ulimits().items()):
            args += ["--ulimit", f"{name}={soft}:{hard}"]
    return args


def build_dockerfile(engine: Engine, text: str, tag: str, base: str | None) -> None:
    """Build ``text`` as a Dockerfile in an empty context; ``base`` sets ``ARG BASE``."""
    with tempfile.TemporaryDirectory(prefix="atoll-image-") as ctx:
        path = Path(ctx, "Dockerfile")
        path.write_text(text)
        args = [*_build_args(engine), "-t", tag, "-f", str(path)]
        if base:
            args += ["--build-arg", f"BASE={base}"]
        engine.check(*args, ctx, timeout=3600)


def agents_dockerfile(agents: list[str]) -> str:
    """A Dockerfile adding agent CLIs on top of ``ARG BASE`` (the island image)."""
    unknown = [a for a in agents if a not in AGENT_PACKAGES]
    if unknown:
        raise UsageError(
            f"unknown agent(s) {', '.join(unknown)}: --with takes {', '.join(AGENT_PACKAGES)}"
        )
    npm = sorted({AGENT_PACKAGES[a][1] for a in agents if AGENT_PACKAGES[a][0] == "npm"})
    pip = sorted({AGENT_PACKAGES[a][1] for a in agents if AGENT_PACKAGES[a][0] == "pip"})
    apt = ["ca-certificates"]
    steps = []
    if npm:
        apt += ["nodejs", "npm"]
        steps.append("npm install -g --omit=dev " + " ".join(npm))
    if pip:
        apt += ["python3-venv"]
        steps.append("python3 -m venv /opt/agents && /opt/agents/bin/pip install --no-cache-dir "
                     + " ".join(pip) + " && ln -s /opt/agents/bin/* /usr/local/bin/ || true")
    run = " && ".join(steps)
    return (
        "ARG BASE\nFROM ${BASE}\nUSER root\n"
        "RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "
        f"--no-install-recommends {' '.join(apt)} && {run} "
        "&& rm -rf /var/lib/apt/lists/* /root/.npm /root/.cache\n"
        f"USER {AGENT_UID}:{AGENT_UID}\nWORKDIR {CONTAINER_WORKSPACE}\n"
    )


def build_image(
    engine_name: str,
    *,
    bootstrap: bool = False,
    with_agents: list[str] | None = None,
    base: str | None = None,
    tag: str = IMAGE,
    rebuild_rootfs: bool = False,
) -> BuildReport:
    """Build ``tag`` for ``engine_name`` and report the steps' durations.

    ``bootstrap``: from the cached debootstrap root filesystem (no registry); otherwise
    from the shipped Dockerfile ``FROM base`` (default ``debian:bookworm-slim``).
    ``with_agents``: agent CLIs to add afterwards (needs npm/PyPI).
    """
    engine = Engine(engine_name)
    if with_agents:
        agents_dockerfile(with_agents)  # refuse unknown agents before building anything
    if bootstrap and base:
        raise UsageError("--base and --bootstrap exclude each other")
    engine.require()
    report = BuildReport(engine.name, tag, "debootstrap" if bootstrap else "Dockerfile")
    if bootstrap:
        root = rootfs(rebuild=rebuild_rootfs)
        report.rootfs_reused = root.reused
        report.steps["debootstrap"] = root.seconds
        started = time.monotonic()
        import_rootfs(engine, root.tarball, root.key, tag)
        report.steps["import"] = time.monotonic() - started
    else:
        started = time.monotonic()
        build_dockerfile(engine, dockerfile_text(), tag, base)
        report.steps["build"] = time.monotonic() - started
    if with_agents:
        started = time.monotonic()
        build_dockerfile(engine, agents_dockerfile(with_agents), tag, tag)
        report.steps["agents"] = time.monotonic() - started
    return report


__all__ = [
    "AGENT_PACKAGES", "BuildReport", "ImageMissingError", "build_image", "image_exists",
    "recipe_key", "require_image",
]
