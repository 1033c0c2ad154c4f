"""Acting on the selected session from the fleet view: attach, watch, type, kill, new.

:class:`SessionActions` is the fleet screen's base: each action asks what it must (a
confirmation, the text to type), runs its service call in a thread worker through
:meth:`SessionActions.act`, and shows the typed message the worker posts
(atoll.tui.messages). Read-only mode hides and refuses every action that changes something.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext

from rich.text import Text
from textual.app import SuspendNotSupported
from textual.events import Key
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static

from atoll.core.errors import AtollError
from atoll.core.models import SessionRow
from atoll.service.attachio import relay_for
from atoll.service.sessions import NewSession
from atoll.tui import model
from atoll.tui.backend import AnyAttachPlan
from atoll.tui.keys import CHANGING_ACTIONS, KEYS
from atoll.tui.messages import (
    AgentUsersFound,
    AttachPlanned,
    EnterPressed,
    Killed,
    NewFailed,
    Started,
    Typed,
)
from atoll.tui.options import FleetOptions
from atoll.tui.screens import ConfirmScreen, NewSessionScreen, TypeScreen
from atoll.tui.table import FleetTable


def one_line(exc: BaseException) -> str:
    """A one-line message for any error (AtollError messages are one line already)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, AtollError) else f"{type(exc).__name__}: {text}"


def target_label(row: SessionRow) -> str:
    return model.clean(f"{row.name} ({row.agent_user}@{row.host})", 80)



class SessionActions(Screen[None]):
    """The fleet screen's actions on sessions (see the module docstring). The screen
    provides :meth:`selected_row` and :meth:`start_refresh`."""

    options: FleetOptions
    message: str
    flagged: set[str]
    agent_users: list[str] | None
    default_user: str | None = None
    _pending_select: str | None

    def selected_row(self) -> SessionRow | None:
        raise NotImplementedError

    def start_refresh(self) -> None:
        raise NotImplementedError

    # -- status line ---------------------------------------------------------------------
    def say(self, text: str, error: bool = False) -> None:
        """Show one line on the status line (errors in red)."""
        self.message = " ".join(text.split())
        style = "bold red" if error else ""
        self.query_one("#status", Static).update(Text(self.message, style=style))

    # -- background work -----------------------------------------------------------------
    def act(self, what: str, job: Callable[[], Message | None], *,
            group: str = "action") -> None:
        """Run ``job`` in a thread worker named ``what``; the message it returns is posted
        to this screen, an error it raises becomes ``what: message`` (see
        :meth:`on_worker_state_changed`)."""

        def run() -> None:
            message = job()
            if message is not None:
                self.post_message(message)

        self.run_worker(run, name=what, group=group, thread=True, exit_on_error=False)

    def _row_for(self, doing: str) -> SessionRow | None:
        row = self.selected_row()
        if row is None:
            self.say(f"nothing to {doing}: select a session first", error=True)
        return row
    # -- actions -------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Read-only mode hides (and disables) every action that changes something."""
        return not (self.options.read_only and action in CHANGING_ACTIONS)

    def on_key(self, event: Key) -> None:
        if not self.options.read_only or not isinstance(self.focused, FleetTable):
            return
        spec = next((k for k in KEYS if k.key == event.key and k.changes), None)
        if spec is not None:
            event.stop()
            event.prevent_default()
            extra = " (r watches)" if spec.action == "attach" else ""
            self.say(f"read-only view: {spec.label.lower()} is disabled{extra}", error=True)

    def _refuse_read_only(self, what: str) -> bool:
        if self.options.read_only:
            self.say(f"read-only view: {what} is disabled", error=True)
            return True
        return False

    def on_attach_planned(self, message: AttachPlanned) -> None:
        self._run_attached(message.row, message.plan)

    def on_killed(self, message: Killed) -> None:
        self.say(f"killed {target_label(message.row)}")
        self.start_refresh()

    def on_started(self, message: Started) -> None:
        self.say(f"started {message.name} as {message.user}")
        self._pending_select = f"{message.host}\x1f{message.user}\x1f{message.name}"
        self.start_refresh()

    def on_typed(self, message: Typed) -> None:
        self._ask_enter(message.row, message.typed, message.removed)

    def on_enter_pressed(self, message: EnterPressed) -> None:
        self.say(f"pressed Enter in {message.row.name}")

    def on_agent_users_found(self, message: AgentUsersFound) -> None:
        self.agent_users = message.users
        self.default_user = message.default
        if message.dialog.is_attached:
            message.dialog.set_users(message.users, message.default)

    def action_attach(self) -> None:
        if not self._refuse_read_only("attach"):
            self._start_attach(read_only=False)

    def action_watch(self) -> None:
        self._start_attach(read_only=True)

    def _start_attach(self, *, read_only: bool) -> None:
        row = self._row_for("attach to")
        backend = self.options.backend
        if row is None or backend is None:
            return
        self.flagged.discard(model.row_key(row))

        def plan() -> Message:
            return AttachPlanned(row, backend.attach_plan(row, read_only=read_only))

        self.act(f"attach {row.name}", plan)

    @contextmanager
    def _suspended(self) -> Iterator[None]:
        # Headless (Pilot) runs have no terminal to hand over; the attach argv still runs
        # through the options' foreground function, which tests replace with a recorder.
        with nullcontext() if self.app.is_headless else self.app.suspend():
            yield

    def _run_attached(self, row: SessionRow, plan: AnyAttachPlan) -> None:
        try:
            with self._suspended():
                status = self.options.foreground(plan.argv, unset_tmux=not plan.switch,
                                                 relay=relay_for(plan))
            if self.options.backend is not None:
                self.options.backend.record_detach(row, plan, status)
        except SuspendNotSupported:
            self.say("cannot attach: this terminal cannot hand over control", error=True)
            return
        except AtollError as exc:
            self.say(f"attach {row.name}: {exc}", error=True)
            return
        if status == 0:
            self.say(f"back from {target_label(row)}")
        elif plan.remote:
            why = "ssh failed" if status == 255 else f"atoll there exited with status {status}"
            self.say(f"attach {target_label(row)}: {why}", error=True)
        else:
            self.say(f"attach {row.name}: tmux exited with status {status}", error=True)
        self.start_refresh()

    def action_type(self) -> None:
        if self._refuse_read_only("type"):
            return
        row = self._row_for("type into")
        if row is not None:
            self.app.push_screen(TypeScreen(target_label(row)),
                                 lambda text: self._typed(row, text))

    def _typed(self, row: SessionRow, text: str | None) -> None:
        backend = self.options.backend
        if text is None or backend is None:
            self.say("typing cancelled")
            return
        if not text:
            self._ask_enter(row, "")
            return

        def job() -> Message:
            typed = backend.type_text(row, text, enter=False)
            return Typed(row, typed, len(text) - len(typed))

        self.act(f"type into {row.name}", job)

    def _ask_enter(self, row: SessionRow, typed: str, removed: int = 0) -> None:
        if typed:
            note = f" ({removed} control characters removed)" if removed else ""
            self.say(f"typed {len(typed)} characters into {row.name}, no Enter yet{note}")
        question = Text.assemble("Press Enter in ", (target_label(row), "bold"), " now?")
        if typed:
            question.append(f"\nTyped: {model.clean(typed, 200)}", style="dim")
        self.app.push_screen(ConfirmScreen(question, "Press Enter"),
                             lambda yes: self._confirm_enter(row, bool(yes)))

    def _confirm_enter(self, row: SessionRow, yes: bool) -> None:
        backend = self.options.backend
        if not yes or backend is None:
            self.say(f"Enter not pressed in {row.name}")
            return

        def job() -> Message:
            backend.type_text(row, "", enter=True)
            return EnterPressed(row)

        self.act(f"press Enter in {row.name}", job)

    def action_kill(self) -> None:
        if self._refuse_read_only("kill"):
            return
        row = self._row_for("kill")
        if row is None:
            return
        question = Text.assemble("Kill ", (target_label(row), "bold"),
                                 "? Every process in it ends.")
        self.app.push_screen(ConfirmScreen(question, "Kill"),
                             lambda yes: self._confirm_kill(row, bool(yes)))

    def _confirm_kill(self, row: SessionRow, yes: bool) -> None:
        backend = self.options.backend
        if not yes or backend is None:
            self.say(f"{row.name} not killed")
            return

        def job() -> Message:
            backend.kill(row)
            return Killed(row)

        self.act(f"kill {row.name}", job)

    def action_new(self) -> None:
        if self._refuse_read_only("new"):
            return
        opts = self.options
        assert opts.operator is not None and opts.cwd is not None
        dialog = NewSessionScreen(opts.operator, opts.cwd, self.agent_users,
                                  default_user=self.default_user)
        self.app.push_screen(dialog, self._create)
        backend = opts.backend
        if self.agent_users is None and backend is not None:
            def job() -> Message:
                return AgentUsersFound(backend.agent_users(), dialog, backend.default_user())

            self.act("agent users", job)

    def _create(self, req: NewSession | None) -> None:
        backend = self.options.backend
        if req is None or backend is None:
            self.say("new session cancelled")
            return

        def job() -> Message:
            try:
                return Started(req.name, backend.new(req), backend.ctx.host)
            except AtollError as exc:
                return NewFailed(req, one_line(exc))

        self.act(f"new {req.name}", job)

    def on_new_failed(self, message: NewFailed) -> None:
        """Creating failed: the form comes back with what was typed and the error."""
        self.say(f"new {message.req.name}: {message.error}", error=True)
        opts = self.options
        assert opts.operator is not None and opts.cwd is not None
        self.app.push_screen(NewSessionScreen(opts.operator, opts.cwd, self.agent_users,
                                              prefill=message.req, error=message.error),
                             self._create)
