"""Runners: how an argv reaches the place it runs (shared/DESIGN.md decision 3)."""

from atoll.exec.process import Completed, run_argv
from atoll.exec.runner import ContainerExec, Local, Runner, Ssh, Sudo, current_user

__all__ = [
    "Completed", "ContainerExec", "Local", "Runner", "Ssh", "Sudo", "current_user", "run_argv",
]
