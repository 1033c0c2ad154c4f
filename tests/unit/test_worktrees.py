"""The worktree path rule both ``new --worktree`` and purge apply (core.worktrees)."""

from __future__ import annotations

import pytest

from atoll.core.worktrees import worktree_path


@pytest.mark.parametrize(("project", "branch", "path"), [
    ("/srv/app", "main", "/srv/app/.atoll-worktrees/main"),
    ("/srv/app", "feature/login", "/srv/app/.atoll-worktrees/feature-login"),
    ("/srv/app/", "a/b/c", "/srv/app/.atoll-worktrees/a-b-c"),
])
def test_one_level_under_the_project(project: str, branch: str, path: str) -> None:
    assert worktree_path(project, branch) == path
