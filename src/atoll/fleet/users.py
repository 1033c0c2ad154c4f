"""Which agent users this operator may act as on this host (DESIGN decision 4).

Candidates are the union of: a configured list, accounts whose name matches a pattern
(default ``*-agent``) and members of a group (default ``atoll-agents``). Each candidate is
visible only if sudoers lets the operator run commands as it without a password; a refusal
means "not visible", never an error.
"""

from __future__ import annotations

import fnmatch
import grp
import pwd
from collections.abc import Iterable

from atoll.core.errors import AtollError
from atoll.exec.runner import Sudo, current_user
from atoll.fleet.parallel import parallel_map

DEFAULT_PATTERNS: tuple[str, ...] = ("*-agent",)
DEFAULT_GROUP = "atoll-agents"


def candidates(
    configured: Iterable[str] = (),
    patterns: Iterable[str] = DEFAULT_PATTERNS,
    group: str | None = DEFAULT_GROUP,
) -> list[str]:
    """Sorted candidate agent users that exist on this host, without the operator."""
    me = current_user()
    names: set[str] = set()
    all_users = {p.pw_name for p in pwd.getpwall()}
    names.update(u for u in configured if u in all_users)
    pats = list(patterns)
    names.update(u for u in all_users if any(fnmatch.fnmatchcase(u, p) for p in pats))
    if group:
        try:
            members = grp.getgrnam(group).gr_mem
        except KeyError:
            members = []
        names.update(u for u in members if u in all_users)
    names.discard(me)
    return sorted(names)


def is_sudo_refusal(stderr: str) -> bool:
    """True if sudo itself refused (as opposed to the command it ran failing)."""
    return any(line.startswith("sudo:") for line in stderr.splitlines())


def may_act_as(user: str) -> bool:
    """Probe ``sudo -n -u USER true``: True if allowed without a password."""
    try:
        return Sudo(user).run(["true"], timeout=10).ok
    except AtollError:
        return False


def visible_agent_users(cands: list[str]) -> list[str]:
    """The candidates sudo lets the operator act as, probed in parallel."""
    if not cands:
        return []
    allowed = parallel_map(may_act_as, cands)
    return [u for u, ok in zip(cands, allowed, strict=True) if ok]
