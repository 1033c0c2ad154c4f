"""Fixed listings for snapshot tests and update-path tests: no clock, no tmux."""

from __future__ import annotations

import msgspec

from atoll.core.models import HostRow, Listing, SessionRow
from atoll.core.timefmt import rfc3339

NOW = 1_795_000_000.0
"""Frozen "now" (2026-11-18T...Z) for every snapshot."""


def row(name: str, status: str = "running", *, host: str = "local", user: str = "alice",
        agent: str = "claude", project: str = "/home/alice/src/shop", worktree: str = "",
        by: str = "alice", idle: int | None = None, cpu: float | None = 3.0,
        rss: int | None = 120 << 20, age: float = 3600, exit_status: int | None = None,
        ) -> SessionRow:
    return SessionRow(
        host=host, name=name, agent=agent, project=project, worktree=worktree,
        agent_user=user, launched_by=by, island="user", status=status,  # type: ignore[arg-type]
        idle_seconds=idle, created=rfc3339(NOW - age), last_activity=rfc3339(NOW - (idle or 0)),
        attached=0, cpu_percent=cpu, rss_bytes=rss, pid=1000, command=agent,
        exit_status=exit_status,
    )


def fleet_listing() -> Listing:
    """Two reachable hosts and one unreachable, every status once or more."""
    return Listing(
        hosts=[HostRow(host="local", reachable=True),
               HostRow(host="gpu-1", reachable=True),
               HostRow(host="build-2", reachable=False, error="ssh: connect timed out")],
        sessions=[
            row("fix-login", "waiting", idle=95, cpu=0.0, worktree="fix/login"),
            row("refactor-db", "running", agent="codex", cpu=87.0, rss=512 << 20, age=7200),
            row("docs", "idle", agent="gemini", idle=1500, cpu=0.0, rss=80 << 20,
                project="/home/alice/src/docs", age=86400 * 2),
            row("review-42", "running", user="alice-agent", agent="claude",
                worktree="review/42", cpu=12.5, rss=300 << 20, age=600),
            row("train", "running", host="gpu-1", user="bob-agent", by="bob", agent="aider",
                project="/srv/ml/train", cpu=190.0, rss=3 << 30, age=86400 * 5),
            row("nightly", "exited", host="gpu-1", user="bob-agent", by="bob", agent="shell",
                project="/srv/ml/train", idle=3600 * 5, cpu=None, rss=None, exit_status=1,
                age=86400),
            row("mystery", "unknown", agent="opencode", cpu=None, rss=None, idle=None,
                project="/home/alice/src/shop", age=120),
        ],
    )


def synthetic(n: int, *, cpu_shift: float = 0.0) -> Listing:
    """``n`` sessions over 4 agent users and 2 hosts (benchmark and update-path tests)."""
    statuses = ("running", "waiting", "idle", "exited", "unknown")
    rows = [
        row(f"agent-{i:04d}", statuses[i % 5], host="local" if i % 2 else "gpu-1",
            user=f"user{i % 4}-agent", agent=("claude", "codex", "gemini")[i % 3],
            project=f"/srv/proj{i % 7}", idle=i % 300, cpu=(i % 50) + cpu_shift,
            rss=(i % 64) << 20, age=60 * i)
        for i in range(n)
    ]
    return Listing(hosts=[HostRow(host="local", reachable=True),
                          HostRow(host="gpu-1", reachable=True)], sessions=rows)


def with_status(listing: Listing, name: str, status: str) -> Listing:
    rows = [msgspec.structs.replace(r, status=status) if r.name == name else r  # type: ignore[arg-type]
            for r in listing.sessions]
    return Listing(hosts=listing.hosts, sessions=rows)
