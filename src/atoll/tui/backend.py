"""The fleet view's only way to act: service use cases, called from worker threads.

Each method is one use case for one selected row. Errors are
:class:`~atoll.core.errors.AtollError` with a one-line message; the app shows them on its
status line. Rows of other hosts are acted on through their host's own atoll over SSH.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from atoll.core.errors import AtollError
from atoll.core.models import Listing, SessionRow
from atoll.exec.process import run_argv
from atoll.fleet.local import LoadSampler
from atoll.fleet.screens import ScreenCache
from atoll.fleet.users import visible_agent_users
from atoll.service import listing as listing_service
from atoll.service import sessions
from atoll.service.context import Context, context_from_environment
from atoll.service.remote import RemoteAttachPlan

AnyAttachPlan = sessions.AttachPlan | RemoteAttachPlan


def make_context() -> Context:
    """The Context of a TUI run: the operator's config and ``ATOLL_TMUX_SOCKET``, as for
    the CLI."""
    return context_from_environment()


@dataclass
class Backend:
    """Service calls for the fleet view. ``sampler`` keeps the previous process sample in
    memory, so CPU% is the delta between two refreshes."""

    ctx: Context
    cwd: str = field(default_factory=os.getcwd)
    sampler: LoadSampler = field(default_factory=lambda: LoadSampler(persist=False))
    screens: ScreenCache = field(default_factory=lambda: ScreenCache(persist=False))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _previewed: tuple[str, str, str] | None = None

    @property
    def operator(self) -> str:
        return self.ctx.operator

    def listing(self) -> Listing:
        """List this host and every configured host (serialised: the sampler and screen
        cache are not shared between threads)."""
        with self._lock:
            if self.ctx.hosts:
                return listing_service.list_fleet(self.ctx, sampler=self.sampler,
                                                  cache=self.screens)
            return listing_service.list_local(self.ctx, self.sampler, self.screens)

    def _remote(self, row: SessionRow, action: str, args: list[str],
                details: dict[str, object] | None = None) -> str | None:
        """Run ``action`` on the row's host when it is not this one; None when local."""
        if row.host == self.ctx.host:
            return None
        from atoll.service import remote

        return remote.run(self.ctx, row.host, action, row.name, args, as_user=row.agent_user,
                          details=details)

    def new(self, req: sessions.NewSession) -> str:
        """Start a session; returns the agent user it runs as."""
        return sessions.new_session(self.ctx, req).user

    def kill(self, row: SessionRow) -> None:
        if self._remote(row, "kill", []) is None:
            sessions.kill_session(self.ctx, row.name, row.agent_user)

    def peek(self, row: SessionRow) -> str:
        """The row's screen. The live preview calls this on every refresh; the ledger gets
        one ``session.peek`` when the previewed session changes, not one per refresh."""
        key = (row.host, row.agent_user, row.name)
        record = key != self._previewed
        self._previewed = key
        if row.host != self.ctx.host:
            return self._remote(row, "peek", []) or ""
        return sessions.peek(self.ctx, row.name, row.agent_user, record=record)

    def type_text(self, row: SessionRow, text: str, *, enter: bool) -> str:
        from atoll.core.text import sanitize_typed_text

        typed = sanitize_typed_text(text)
        args = [*(["--enter"] if enter else []), "--", typed]
        if self._remote(row, "type", args, {"text": typed, "enter": enter}) is not None:
            return typed
        return sessions.type_text(self.ctx, row.name, text, enter=enter, as_user=row.agent_user)

    def record_detach(self, row: SessionRow, plan: AnyAttachPlan, status: int) -> None:
        """Ledger: the user came back from an attach."""
        if isinstance(plan, RemoteAttachPlan):
            from atoll.service import remote

            remote.record_detach(self.ctx, plan, status)
        else:
            sessions.record_detach(self.ctx, plan, row.name, status)

    def attach_plan(self, row: SessionRow, *, read_only: bool) -> AnyAttachPlan:
        """Plan the attach and record it in the ledger (before it takes effect). A row of
        another host is attached over ``ssh -t`` (its own atoll and sudoers decide)."""
        if row.host != self.ctx.host:
            from atoll.service import remote

            return remote.attach_plan(self.ctx, row.host, row.name, as_user=row.agent_user,
                                      read_only=read_only)
        plan = sessions.attach_plan(self.ctx, row.name, read_only=read_only,
                                    as_user=row.agent_user, inside_tmux=os.environ.get("TMUX"))
        sessions.record_attach(self.ctx, plan, row.name, read_only)
        return plan

    def agent_users(self) -> list[str]:
        """Agent users sudo lets the operator act as (probed; may take a moment)."""
        return visible_agent_users(self.ctx.candidates())

    def notify(self, argv: list[str]) -> None:
        """Run the notify command (no shell); a failure raises AtollError."""
        res = run_argv(argv, timeout=30)
        if not res.ok:
            tail = res.stderr.strip().splitlines()[-1:] or [f"exit status {res.returncode}"]
            raise AtollError(f"notify command {argv[0]} failed: {tail[0]}")
