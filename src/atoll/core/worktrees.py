"""Where atoll puts a session's git worktree: ``PROJECT/.atoll-worktrees/BRANCH`` with each
``/`` of the branch made ``-`` (one directory level, so a branch never nests under another).
Pure: the one rule both ``atoll new --worktree`` (service.gitwork) and purge
(islands.purge) apply."""

from __future__ import annotations

import posixpath

WORKTREES_DIR = ".atoll-worktrees"


def worktree_path(project: str, branch: str) -> str:
    """The worktree directory of ``branch`` in the project at ``project`` (a POSIX path).
    The caller has validated ``branch`` (core.names.validate_branch_name)."""
    return posixpath.join(project, WORKTREES_DIR, branch.replace("/", "-"))
