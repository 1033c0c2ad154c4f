"""The fleet view's only way to act: service use cases, called from worker threads.

Each method is one use case for one selected row. Errors are
:class:`~atoll.core.errors.AtollError` with a one-line message; the app shows them on its
status line. Each acts on its row's target (:func:`atoll.service.place.row_target`); the
service decides where that is (here, or a peer's own atoll over SSH).
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
from atoll.service.place import Target, row_target

AnyAttachPlan = sessions.AttachPlan


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

    def target(self, row: SessionRow) -> Target:
        """The row's target: its host, its server's user and its key (acting on it never
        reaches a session made again under the same name since it was listed)."""
        return row_target(self.ctx, row)

    def new(self, req: sessions.NewSession) -> str:
        """Start a session; returns the agent user it runs as."""
        return sessions.new_session(self.ctx, req).as_user or ""

    def kill(self, row: SessionRow) -> None:
        sessions.kill_session(self.ctx, self.target(row))

    def peek(self, row: SessionRow) -> str:
        """The row's screen. The live preview calls this on every refresh; the ledger gets
        one ``session.peek`` when the previewed session changes, not one per refresh."""
        key = (row.host, row.agent_user, row.name)
        record = key != self._previewed
        self._previewed = key
        return sessions.peek(self.ctx, self.target(row), record=record)

    def type_text(self, row: SessionRow, text: str, *, enter: bool) -> str:
        """Type ``text`` (sanitised by the service); returns what was typed."""
        return sessions.type_text(self.ctx, self.target(row), text, enter=enter)

    def attach_plan(self, row: SessionRow, *, read_only: bool) -> sessions.AttachPlan:
        """Plan the attach and record it in the ledger (before it takes effect). A row of
        another host is attached over ``ssh -t`` (its own atoll and sudoers decide)."""
        return sessions.attach_plan(self.ctx, self.target(row), read_only=read_only,
                                    inside_tmux=os.environ.get("TMUX"))

    def record_detach(self, row: SessionRow, plan: sessions.AttachPlan, status: int) -> None:
        """Ledger: the user came back from an attach."""
        sessions.finish_attach(self.ctx, plan, status)

    def agent_users(self) -> list[str]:
        """Agent users sudo lets the operator act as (probed; may take a moment)."""
        return visible_agent_users(self.ctx.candidates())

    def default_user(self) -> str:
        """Whom ``atoll new`` without ``--as`` runs as (atoll.service.defaultuser): the
        operator's agent user when one is visible, else the operator."""
        from atoll.core.errors import AtollError
        from atoll.service.defaultuser import default_agent_user

        try:
            return default_agent_user(self.ctx).user
        except AtollError:
            return self.ctx.operator

    def notify(self, argv: list[str]) -> None:
        """Run the notify command (no shell); a failure raises AtollError."""
        res = run_argv(argv, timeout=30)
        if not res.ok:
            tail = res.stderr.strip().splitlines()[-1:] or [f"exit status {res.returncode}"]
            raise AtollError(f"notify command {argv[0]} failed: {tail[0]}")
