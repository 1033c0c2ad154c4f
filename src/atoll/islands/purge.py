"""Purging an island: find it, check for git work that would be lost, destroy it, verify.

``atoll purge NAME`` (docs/islands.md, "Purge"):

1. :func:`find_islands` asks every registered kind (atoll.islands.registry) for NAME (or
   an island id ``atoll-{hash8}-{name}`` / ``{hash8}-{name}``): the operator's container
   islands (one ``ENGINE ps`` per engine), the bwrap islands in the given agent users'
   homes, and ``user`` sessions of that name on those users' tmux servers;
2. :meth:`Island.purge_problems` (for workspaces :func:`git_problems`) runs git *inside*
   the island (never outside a sandbox: a hostile
   ``.git/config`` could run commands) and reports uncommitted changes, stashes and
   commits on branches that are neither on a remote nor were already there when the
   project was copied in; a workspace that is not a git repository but holds files is
   reported too. The caller refuses unless ``--force``;
3. :meth:`Found.destroy` (the island's ``purge``) removes everything atoll made: the
   sessions, the container (and its tmux server), the volume, the island directory, the
   worktree. Granted host directories and a user island's project are never deleted;
4. :meth:`Found.leftovers` (the island's ``leftovers``) lists whatever still exists
   (empty after a good purge).
"""

from __future__ import annotations

from atoll.core.errors import AtollError
from atoll.exec.runner import current_user
from atoll.islands.base import Found, Scope
from atoll.tmux.client import DEFAULT_SOCKET


class PurgeRefusedError(AtollError):
    """The island holds work that purge would destroy (exit 1); ``--force`` overrides."""


def find_islands(
    target: str,
    *,
    operator: str | None = None,
    agent_users: list[str] | None = None,
    kinds: list[str] | None = None,
    socket: str = DEFAULT_SOCKET,
) -> list[Found]:
    """Every island of ``operator`` named ``target`` (or with that island id), of every
    registered kind (or of ``kinds``): each kind's ``find`` (atoll.islands.registry)."""
    from atoll.islands.registry import find

    scope = Scope(operator or current_user(), tuple(agent_users or ()), socket)
    return find(target, scope, kinds)


def git_problems(found: Found) -> list[str]:
    """Work that purging ``found`` would destroy, as short phrases ([] when none).

    The shared git check of workspaces (bwrap, containers: their
    :meth:`~atoll.islands.base.Island.purge_problems` call it). Checks run through
    ``found.check_runner`` (inside the island). Raises AtollError when the island cannot be
    inspected.
    """
    path, runner = found.check_path, found.check_runner
    if path is None or runner is None:
        return []
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
        problems = found.island.purge_problems(found) if check else []
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
