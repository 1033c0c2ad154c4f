"""Purging an island: find it, check for git work that would be lost, destroy it, verify.

``atoll purge NAME`` (docs/islands.md, "Purge"):

1. :func:`find_islands` looks for NAME (or an island id ``atoll-{hash8}-{name}`` /
   ``{hash8}-{name}``) among the operator's container islands (one ``ENGINE ps`` per
   engine), the bwrap islands in the given agent users' homes, and ``user`` sessions of
   that name on those users' tmux servers;
2. :func:`git_problems` runs git *inside* the island (never outside a sandbox: a hostile
   ``.git/config`` could run commands) and reports uncommitted changes, stashes and
   commits on branches that are neither on a remote nor were already there when the
   project was copied in; a workspace that is not a git repository but holds files is
   reported too. The caller refuses unless ``--force``;
3. :meth:`Found.destroy` removes everything atoll made: the sessions, the container (and
   its tmux server), the volume, the island directory, the worktree. Granted host
   directories and a user island's project are never deleted;
4. :meth:`Found.leftovers` lists whatever still exists (empty after a good purge).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from atoll.core.errors import AtollError
from atoll.core.islands import IslandSpec
from atoll.core.sessionref import is_atoll_name, matches
from atoll.core.worktrees import worktree_path
from atoll.exec.runner import Local, Runner, Sudo, current_user
from atoll.islands.base import Island
from atoll.islands.bwrap import BwrapIsland, list_bwrap_islands
from atoll.islands.container import (
    ContainerIsland,
    labels_base_commits,
    list_container_islands,
    open_container_island,
)
from atoll.islands.engine import ENGINES, Engine
from atoll.islands.user import UserIsland
from atoll.tmux.client import DEFAULT_SOCKET, TmuxClient


class PurgeRefusedError(AtollError):
    """The island holds work that purge would destroy (exit 1); ``--force`` overrides."""


@dataclass
class Found:
    """One island that matched, with what purge needs to know about it."""

    island: Island
    where: str
    base_commits: list[str] | None = None
    check_path: str | None = None
    check_runner: Runner | None = None
    worktree: str | None = None
    session_user: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.island.kind

    def destroy(self, socket: str = DEFAULT_SOCKET) -> None:
        """Remove everything of the island (no checks here; see :func:`git_problems`)."""
        if isinstance(self.island, UserIsland):
            self.island.purge(socket)
            if self.worktree and self.check_runner is not None:
                project = self.island.spec.project_dir
                self.check_runner.run(["git", "-C", project, "worktree", "remove", "--force",
                                       self.worktree], timeout=120).check()
            return
        self.island.purge(socket)

    def leftovers(self, socket: str = DEFAULT_SOCKET) -> list[str]:
        """What still exists of the island after a purge (empty when all is gone)."""
        left: list[str] = []
        isl = self.island
        if isinstance(isl, ContainerIsland):
            eng = isl.engine
            if eng.run("container", "inspect", isl.island_id, timeout=30).ok:
                left.append(f"{eng.name} container {isl.island_id}")
            if eng.run("volume", "inspect", isl.volume, timeout=30).ok:
                left.append(f"{eng.name} volume {isl.volume}")
        elif isinstance(isl, BwrapIsland):
            if isl.exists():
                left.append(f"directory {isl.path}")
            if isl.tmux(socket).has_session(isl.spec.name) and isl.owns_session(
                    isl.spec.name, socket):
                left.append(f"session {isl.spec.name} of {isl.agent_user}")
        elif isinstance(isl, UserIsland):
            if isl.tmux(socket).has_session(isl.session_ref):
                left.append(f"session {isl.spec.name} of {isl.spec.agent_user}")
            if self.worktree and self.check_runner is not None and self.check_runner.run(
                    ["test", "-e", self.worktree], timeout=15).ok:
                left.append(f"worktree {self.worktree}")
        return left


def _engines_up(engines: tuple[str, ...]) -> list[str]:
    return [e for e in engines if Engine(e).available()]


def find_islands(
    target: str,
    *,
    operator: str | None = None,
    agent_users: list[str] | None = None,
    engines: tuple[str, ...] = ENGINES,
    socket: str = DEFAULT_SOCKET,
) -> list[Found]:
    """Every island of ``operator`` named ``target`` (or with that island id)."""
    owner = operator or current_user()
    found: list[Found] = []
    for engine in _engines_up(engines):
        for ref in list_container_islands(engine, owner, socket):
            if target not in (ref.name, ref.container):
                continue
            island, info = open_container_island(engine, ref.container)
            granted = island.spec.project_granted() is not None
            found.append(Found(
                island=island, where=f"{engine} container {ref.container}",
                base_commits=labels_base_commits(info),
                check_path=None if granted else island.workdir,
                check_runner=None if granted else island.runner(),
            ))
    for user in agent_users or []:
        for bw in list_bwrap_islands(user):
            if bw.spec.operator != owner or target not in (bw.spec.name, bw.island_id):
                continue
            meta = bw.read_meta()
            commits = meta.base_commits if meta is not None else None
            granted = bw.spec.project_granted() is not None
            found.append(Found(
                island=bw, where=f"bwrap island {bw.path}",
                base_commits=commits,
                check_path=None if granted else bw.workspace,
                check_runner=None if granted else bw.runner(),
            ))
    for user in [owner, *(agent_users or [])]:
        found += _user_sessions(target, user, owner, socket)
    return found


def _user_sessions(target: str, user: str, operator: str, socket: str) -> list[Found]:
    runner: Runner = Local() if user == current_user() else Sudo(user)
    try:
        panes = TmuxClient(runner, socket).list_panes()
    except AtollError:
        return []
    out: list[Found] = []
    for p in panes:
        if not matches(target, p.session_name, p.session_id) or p.island not in ("", "user",
                                                                                 "none"):
            continue
        made = is_atoll_name(p.session_name)
        if made and p.launched_by and p.launched_by != operator:
            continue
        # a session atoll did not name: a spec name from its id, tmux addresses it by id,
        # and its options (project, worktree) are the agent's word, not atoll's: unused
        name = target if made else f"handmade-{p.session_id.lstrip('$')}"
        spec = IslandSpec(name=name, project_dir=(p.project if made else "") or "/",
                          kind="user", operator=operator, agent_user=user)
        worktree = None
        if made and p.worktree and p.project:
            worktree = worktree_path(p.project, p.worktree)
        island = UserIsland(spec, tmux_name="" if made else p.session_id)
        out.append(Found(
            island=island, where=f"user session {target} of {user}",
            check_path=worktree, check_runner=runner, worktree=worktree, session_user=user,
        ))
        break
    return out


def git_problems(found: Found) -> list[str]:
    """Work that purging ``found`` would destroy, as short phrases ([] when none).

    Checks run through ``found.check_runner`` (inside the island). Raises AtollError when
    the island cannot be inspected (e.g. its container cannot be started).
    """
    if found.kind == "user":
        # a user island's only workspace atoll removes is its worktree (the branch stays)
        from atoll.islands.worktrees import worktree_problems

        return worktree_problems(found)
    path, runner = found.check_path, found.check_runner
    if path is None or runner is None:
        return []
    isl = found.island
    if isinstance(isl, ContainerIsland):
        info = isl.inspect()
        if info is not None and info.get("State", {}).get("Status") != "running":
            isl.start()
    status = runner.run(["git", "-C", path, "status", "--porcelain"], timeout=120)
    if not status.ok:
        if "not a git repository" in status.stderr:
            listing = runner.run(["ls", "-A", path], timeout=30)
            if listing.ok and listing.text().strip():
                return ["files that are not in git (the workspace is not a git repository)"]
            return []
        raise AtollError(f"cannot check git work in {path}: "
                         f"{(status.stderr.strip().splitlines() or ['?'])[-1]}")
    problems: list[str] = []
    changed = [ln for ln in status.text().splitlines() if ln.strip()]
    if changed:
        problems.append(f"uncommitted changes ({len(changed)} path(s))")
    stash = runner.run(["git", "-C", path, "stash", "list"], timeout=60)
    if stash.ok and stash.text().strip():
        problems.append(f"{len(stash.text().splitlines())} stash(es)")
    argv = ["git", "-C", path, "rev-list", "--ignore-missing", "--branches", "--not",
            "--remotes", *(found.base_commits or [])]
    revs = runner.run(argv, timeout=120)
    if not revs.ok:
        raise AtollError(f"cannot check unpushed commits in {path}")
    ahead = [ln for ln in revs.text().splitlines() if ln.strip()]
    if ahead:
        problems.append(f"{len(ahead)} unpushed commit(s)")
    return problems


def purge(found: Found, *, force: bool = False, socket: str = DEFAULT_SOCKET,
          check: bool = True) -> list[str]:
    """Check (unless ``check`` is False: the caller already did), destroy and verify; return
    the problems that ``force`` overrode.

    Raises PurgeRefusedError when there is git work and not ``force``; AtollError when
    something of the island is left afterwards.
    """
    problems: list[str] = []
    try:
        problems = git_problems(found) if check else []
    except AtollError:
        if not force:
            raise
    if problems and not force:
        raise PurgeRefusedError(
            f"{found.where} holds {', '.join(problems)}: commit and push it, "
            "or purge with --force"
        )
    found.destroy(socket)
    left = found.leftovers(socket)
    if left:
        raise AtollError(f"purge left {', '.join(left)}")
    return problems


__all__ = ["Found", "PurgeRefusedError", "find_islands", "git_problems", "purge"]
