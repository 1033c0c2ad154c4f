"""The lifecycle of a ``--worktree`` session's git worktree.

``atoll new NAME --worktree BRANCH`` makes ``PROJECT/.atoll-worktrees/BRANCH`` (see
:mod:`atoll.service.gitwork`) and :func:`remember` notes it in the operator's state
directory (``$XDG_STATE_HOME/atoll/worktrees/USER@NAME.json``, 0600). ``atoll kill`` never
touches it: work is never destroyed by kill. ``atoll purge NAME`` finds it through
:func:`recorded` once the session is gone (while it lives, through its tmux options), and
removes the worktree when :func:`worktree_problems` finds no uncommitted work in it and no
commits on its branch that are on no remote and no other branch. The branch itself is kept.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
from pathlib import Path

import platformdirs

from atoll.core.errors import AtollError
from atoll.core.islands import IslandSpec
from atoll.core.names import validate_branch_name, validate_session_name, validate_user_name
from atoll.core.worktrees import worktree_path
from atoll.exec.runner import Local, Runner, Sudo, current_user
from atoll.islands.purge import Found
from atoll.islands.user import UserIsland

MAX_RECORD_BYTES = 16 << 10


def records_dir() -> Path:
    return platformdirs.user_state_path("atoll") / "worktrees"


def _record_path(user: str, name: str) -> Path:
    return records_dir() / f"{user}@{name}.json"


def remember(user: str, name: str, project: str, branch: str) -> None:
    """Note that session ``name`` of ``user`` works in a worktree of ``project`` for
    ``branch`` (best effort: a failure here must not fail a started session)."""
    data = json.dumps({"user": user, "name": name, "project": project, "branch": branch,
                       "path": worktree_path(project, branch)}).encode()
    path = _record_path(user, name)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)


def forget(user: str, name: str) -> None:
    with contextlib.suppress(OSError):
        _record_path(user, name).unlink()


def _read(path: Path) -> dict[str, str] | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        raw = os.read(fd, MAX_RECORD_BYTES + 1)
    finally:
        os.close(fd)
    try:
        rec = json.loads(raw) if len(raw) <= MAX_RECORD_BYTES else None
        if not isinstance(rec, dict):
            return None
        out = {k: rec[k] for k in ("user", "name", "project", "branch")}
        if not all(isinstance(v, str) for v in out.values()):
            return None
        validate_user_name(out["user"])
        validate_session_name(out["name"])
        validate_branch_name(out["branch"])
    except (ValueError, KeyError, AtollError):
        return None
    if not posixpath.isabs(out["project"]):
        return None
    return out


def remembered(user: str, name: str) -> str | None:
    """The worktree path remembered for session ``name`` of ``user``, if any."""
    rec = _read(_record_path(user, name))
    return worktree_path(rec["project"], rec["branch"]) if rec else None


def recorded(name: str, users: list[str], operator: str | None = None) -> list[Found]:
    """The worktrees remembered for session ``name`` of any of ``users`` (the operator
    included), as purgeable user islands whose session may be gone."""
    me = operator or current_user()
    out: list[Found] = []
    for user in dict.fromkeys([me, *users]):
        rec = _read(_record_path(user, name))
        if rec is None or rec["name"] != name or rec["user"] != user:
            continue
        runner: Runner = Local() if user == current_user() else Sudo(user)
        path = worktree_path(rec["project"], rec["branch"])
        if not runner.run(["test", "-d", path], timeout=15).ok:
            forget(user, name)  # removed by hand: nothing left to purge
            continue
        spec = IslandSpec(name=name, project_dir=rec["project"], kind="user", operator=me,
                          agent_user=user)
        out.append(Found(island=UserIsland(spec, worktree=path),
                         where=f"worktree {path} of {name} ({user})",
                         check_path=path, check_runner=runner, worktree=path,
                         session_user=user, notes=[rec["branch"]]))
    return out


def worktree_problems(found: Found) -> list[str]:
    """Work removing ``found``'s worktree would destroy: uncommitted or untracked files in
    it, and commits on its branch that are on no remote and no other local branch. Git runs
    as the session's user, in the worktree. Raises AtollError when git cannot tell."""
    path, runner = found.worktree, found.check_runner
    if path is None or runner is None:
        return []
    status = runner.run(["git", "-C", path, "status", "--porcelain"], timeout=120)
    if not status.ok:
        raise AtollError(f"cannot check git work in {path}: "
                         f"{(status.stderr.strip().splitlines() or ['?'])[-1]}")
    problems: list[str] = []
    changed = [ln for ln in status.text().splitlines() if ln.strip()]
    if changed:
        problems.append(f"uncommitted changes ({len(changed)} path(s))")
    head = runner.run(["git", "-C", path, "symbolic-ref", "-q", "HEAD"], timeout=30)
    ref = head.text().strip() if head.ok else ""
    argv = ["git", "-C", path, "rev-list", "HEAD", "--not", "--remotes"]
    if ref.startswith("refs/heads/"):  # --exclude matches names as --branches sees them
        argv += [f"--exclude={ref.removeprefix('refs/heads/')}", "--branches"]
    revs = runner.run(argv, timeout=120)
    if not revs.ok:
        raise AtollError(f"cannot check unpushed commits in {path}")
    ahead = [ln for ln in revs.text().splitlines() if ln.strip()]
    if ahead:
        problems.append(f"{len(ahead)} commit(s) on its branch that are on no remote or "
                        "other branch")
    return problems
