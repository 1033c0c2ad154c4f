"""Project and worktree resolution with git, run as the session's user."""

from __future__ import annotations

from pathlib import Path

from atoll.core.errors import AtollError, UsageError
from atoll.core.names import validate_branch_name
from atoll.core.worktrees import WORKTREES_DIR, worktree_path
from atoll.exec.files import read_as
from atoll.exec.runner import Runner


def project_root(runner: Runner, directory: str) -> str:
    """The git top level containing ``directory``, or ``directory`` itself."""
    res = runner.run(["git", "-C", directory, "rev-parse", "--show-toplevel"], timeout=15)
    if res.ok and res.text().strip():
        return res.text().strip()
    return directory


def ensure_worktree(runner: Runner, project: str, branch: str) -> str:
    """Create or reuse a worktree of ``project`` for ``branch``; return its path.

    Worktrees live in ``PROJECT/.atoll-worktrees/BRANCH`` (slashes become ``-``), listed in
    ``.git/info/exclude`` so they never show as untracked files.
    """
    validate_branch_name(branch)
    top = runner.run(["git", "-C", project, "rev-parse", "--show-toplevel"], timeout=15)
    if not top.ok:
        raise UsageError(f"--worktree needs a git repository, and {project!r} is not one")
    root = top.text().strip()
    path = worktree_path(root, branch)
    listing = runner.run(["git", "-C", root, "worktree", "list", "--porcelain"], timeout=15)
    if listing.ok and f"worktree {path}\n" in listing.text() + "\n":
        return path
    common = runner.run(["git", "-C", root, "rev-parse", "--git-common-dir"], timeout=15).check()
    exclude = Path(root, common.text().strip(), "info", "exclude")
    _add_exclude(runner, exclude)
    has_branch = runner.run(
        ["git", "-C", root, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"], timeout=15
    ).ok
    argv = ["git", "-C", root, "worktree", "add"]
    argv += [path, branch] if has_branch else ["-b", branch, path]
    res = runner.run(argv, timeout=60)
    if not res.ok:
        raise AtollError(f"git worktree add failed: {res.stderr.strip().splitlines()[-1:]}")
    return path


MAX_EXCLUDE_BYTES = 1 << 20
"""A ``.git/info/exclude`` over 1 MiB is not touched (git's own is a few hundred bytes)."""


def _add_exclude(runner: Runner, exclude: Path) -> None:
    line = f"/{WORKTREES_DIR}/"
    try:
        cur = read_as(runner, str(exclude), MAX_EXCLUDE_BYTES, timeout=10)
    except FileNotFoundError:
        cur = b""
    if cur is None:  # a symlink, FIFO, huge or unreadable file: leave it alone
        return
    old = cur.decode("utf-8", "replace")
    if line in old.splitlines():
        return
    text = old.rstrip("\n")
    text = (text + "\n" if text else "") + line + "\n"
    runner.run(["mkdir", "-p", str(exclude.parent)], timeout=10)
    runner.run(["tee", str(exclude)], input=text.encode(), timeout=10).check()
