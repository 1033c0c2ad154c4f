"""``atoll image ...``: build the island image (registered by cli/main.py as ``image``).

Errors are AtollError subclasses (one line, documented exit codes); no subprocess here.
"""

from __future__ import annotations

import click

from atoll.core.errors import UsageError
from atoll.core.islands import IMAGE

EPILOG = (
    "Exit codes: 0 ok, 1 error, 2 bad usage or input, 3 not found, 4 permission denied, "
    "5 host unreachable, 130 interrupted."
)


@click.group("image", epilog=EPILOG)
def image_group() -> None:
    """The island image (atoll-island:latest) for docker and podman islands."""


@image_group.command("build", epilog=EPILOG)
@click.option("--engine", type=click.Choice(["docker", "podman"]), default="docker",
              show_default=True, help="Which engine's image store to build into.")
@click.option("--bootstrap", is_flag=True,
              help="Build from a debootstrap root filesystem instead of the Dockerfile: "
                   "no registry needed (needs root; cached under /var/cache/atoll).")
@click.option("--with", "with_agents", default="", metavar="AGENTS",
              help="Comma-separated agent CLIs to add: claude, codex, gemini, opencode, aider "
                   "(installs from npm/PyPI).")
@click.option("--base", default=None, metavar="IMAGE",
              help="Base image for the Dockerfile (default debian:bookworm-slim).")
@click.option("--tag", default=IMAGE, show_default=True, help="Image name to build.")
@click.option("--rebuild", is_flag=True, help="Rebuild the cached root filesystem (--bootstrap).")
def build_cmd(engine: str, bootstrap: bool, with_agents: str, base: str | None, tag: str,
              rebuild: bool) -> None:
    """Build the island image and print how long each step took (on stderr).

    \b
    Examples:
      atoll image build --bootstrap                  # no registry at all
      atoll image build --engine podman --bootstrap
      atoll image build --with claude,codex
    """
    from atoll.islands.image import build_image

    agents = [a.strip() for a in with_agents.split(",") if a.strip()]
    if rebuild and not bootstrap:
        raise UsageError("--rebuild applies to --bootstrap builds")
    report = build_image(engine, bootstrap=bootstrap, with_agents=agents, base=base, tag=tag,
                         rebuild_rootfs=rebuild)
    click.echo(f"atoll: {report.summary()}", err=True)
