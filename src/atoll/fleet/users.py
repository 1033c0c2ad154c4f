"""Which agent users this operator may act as on this host (DESIGN decision 4).

Candidates are the union of: a configured list, accounts whose name matches a pattern
(default ``*-agent``) and members of a group (default ``atoll-agents``). Each candidate is
visible only if sudoers lets the operator run commands as it without a password; a refusal
means "not visible", never an error.
"""

from __future__ import annotations

import contextlib
import fnmatch
import grp
import json
import os
import pwd
import time
from collections.abc import Iterable

import platformdirs

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


REFUSAL_TTL = 60.0
"""Seconds a sudo refusal is remembered, so that a listing (the fleet view refreshes every
2 s) does not ask sudo, and flood the auth log, for every candidate the operator has no rule
for. Only refusals are kept: a granted agent user is asked every time, so a revoked rule
hides it at the very next listing. Every refusal is forgotten as soon as ``/etc/sudoers`` or
the directory ``/etc/sudoers.d`` changes (a rule file added, removed or replaced, as visudo
and ``atoll admin`` do); a rule edited in place inside an existing file shows up within this
time."""

SUDOERS_PATHS = ("/etc/sudoers", "/etc/sudoers.d")


def _sudoers_stamp() -> list[int]:
    out = []
    for path in SUDOERS_PATHS:
        try:
            st = os.stat(path)
            out += [st.st_ino, st.st_mtime_ns]
        except OSError:
            out += [0, 0]
    return out


def _refusals_path() -> str:
    return str(platformdirs.user_cache_path("atoll") / "sudo-refusals.json")


def _read_refusals() -> dict[str, float]:
    try:
        fd = os.open(_refusals_path(), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return {}
    try:
        raw = os.read(fd, 1 << 20)
    finally:
        os.close(fd)
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(data, dict) or data.get("sudoers") != _sudoers_stamp():
        return {}
    refused = data.get("refused")
    if not isinstance(refused, dict):
        return {}
    return {u: float(t) for u, t in refused.items()
            if isinstance(u, str) and isinstance(t, int | float)}


def not_recently_refused(cands: list[str], now: float | None = None) -> list[str]:
    """The candidates sudo has not refused within :data:`REFUSAL_TTL` seconds (under the
    sudoers files as they are now)."""
    now = time.time() if now is None else now
    refused = _read_refusals()
    return [u for u in cands if not 0 <= now - refused.get(u, -1e18) < REFUSAL_TTL]


def note_refusals(asked: list[str], refused: list[str], now: float | None = None) -> None:
    """Remember that sudo refused ``refused`` just now (and forget any of ``asked`` it
    allowed); best effort, in the operator's cache directory (0600)."""
    now = time.time() if now is None else now
    old = _read_refusals()
    new = {u: t for u, t in old.items() if u not in asked and 0 <= now - t < REFUSAL_TTL}
    new.update({u: now for u in refused})
    if new == old:
        return
    path = _refusals_path()
    with contextlib.suppress(OSError):
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"sudoers": _sudoers_stamp(), "refused": new}, fh)
        os.replace(tmp, path)
