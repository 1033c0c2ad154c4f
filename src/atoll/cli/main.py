"""atoll command line (placeholder until the commands land)."""

from __future__ import annotations

import click

from atoll import __version__


@click.group(invoke_without_command=True)
@click.version_option(__version__, prog_name="atoll")
def cli() -> None:
    """atoll: fleets of AI coding agents in tmux sessions inside islands."""


def main() -> None:
    cli()
