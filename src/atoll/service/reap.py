"""``atoll reap``: stop the sessions the host policy's ``max_idle``/``max_age`` have run out
(run by root from the cron line or systemd timer ``atoll admin init`` installs).

A reaped session is *stopped*, not killed: every process of its pane trees ends
(:mod:`atoll.service.killtree`, SIGTERM then SIGKILL), and the tmux session stays, listed as
``exited`` (``remain-on-exit``), its worktree untouched, until someone kills or purges it.
Each stop is an ``session.reap`` action in the ledger (root's, and the host ledger) before
it happens. Idle time is since the newest ``window_activity`` of the session's panes; age
is since ``session_created``.

Which servers: every user's ``-L SOCKET`` tmux server whose socket exists
(``/tmp/tmux-UID/SOCKET``), asked through ``sudo -n -u USER``.
"""

from __future__ import annotations

import glob
import os
import pwd
import time
from dataclasses import dataclass

from atoll.core.errors import AtollError, PermissionDeniedError
from atoll.core.policy import Policy, due
from atoll.core.tmuxfmt import PaneRecord
from atoll.exec.runner import Sudo
from atoll.service import audit
from atoll.service.context import Context
from atoll.tmux.client import TmuxClient


@dataclass(frozen=True)
class Reaped:
    """One session that was (or with ``dry_run`` would be) stopped."""

    user: str
    session: str
    rule: str
    idle_seconds: int | None
    age_seconds: int | None

    def to_json(self) -> dict[str, object]:
        return {"agent_user": self.user, "session": self.session, "rule": self.rule,
                "idle_seconds": self.idle_seconds, "age_seconds": self.age_seconds}


def server_users(socket: str) -> list[str]:
    """Users with a tmux server socket named ``socket`` in their ``/tmp/tmux-UID``."""
    out = []
    for path in glob.glob(f"/tmp/tmux-*/{glob.escape(socket)}"):
        try:
            out.append(pwd.getpwuid(os.stat(path).st_uid).pw_name)
        except (OSError, KeyError):
            continue
    return sorted(set(out))


def _sessions(panes: list[PaneRecord]) -> dict[str, list[PaneRecord]]:
    out: dict[str, list[PaneRecord]] = {}
    for pane in panes:
        out.setdefault(pane.session_name, []).append(pane)
    return out


def _ages(panes: list[PaneRecord], now: float) -> tuple[int | None, int | None]:
    activity = [p.window_activity for p in panes if p.window_activity]
    created = [p.session_created for p in panes if p.session_created]
    idle = int(now - max(activity)) if activity else None
    age = int(now - min(created)) if created else None
    return idle, age


def reap(ctx: Context, policy: Policy, *, dry_run: bool = False,
         now: float | None = None) -> list[Reaped]:
    """Stop every live session ``policy`` says is due; return them. Root only
    (PermissionDeniedError otherwise). A server that cannot be listed is skipped."""
    from atoll.service.killtree import end_tree, session_tree

    if os.geteuid() != 0:
        raise PermissionDeniedError("atoll reap stops every user's sessions: run it as root")
    if policy.max_idle is None and policy.max_age is None:
        return []
    now = time.time() if now is None else now
    out: list[Reaped] = []
    for user in server_users(ctx.socket):
        if user == "root":
            continue
        client = TmuxClient(Sudo(user), ctx.socket)
        try:
            panes = client.list_panes()
        except AtollError:
            continue
        uid = pwd.getpwnam(user).pw_uid
        for name, mine in sorted(_sessions(panes).items()):
            if all(p.pane_dead for p in mine):
                continue
            idle, age = _ages(mine, now)
            rule = due(policy, idle, age)
            if rule is None:
                continue
            found = Reaped(user, name, rule, idle, age)
            out.append(found)
            if dry_run:
                continue
            target = {"agent_user": user, "session": name}
            details: dict[str, object] = {"rule": rule, "idle_seconds": idle,
                                          "age_seconds": age, "policy": "host"}
            with audit.action(ctx, "session.reap", target, details):
                end_tree(client.runner, session_tree(panes, name, uid))
    return out
