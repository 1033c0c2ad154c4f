"""The fleet screen: the session table, its header, preview, filter and status line, and
every key's action.

Service calls run in thread workers (:meth:`FleetScreen.background`); their results come
back to the UI thread with ``call_from_thread``. A refresh result older than the newest
started refresh is dropped. Errors become one line on the status line, never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from rich.text import Text
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.events import Key
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from atoll.core.errors import AtollError
from atoll.core.models import Listing, SessionRow, Status
from atoll.service.attachio import relay_for
from atoll.service.remote import RemoteAttachPlan
from atoll.service.sessions import NewSession
from atoll.tui import model
from atoll.tui.keys import CHANGING_ACTIONS, KEYS, screen_bindings
from atoll.tui.screens import ConfirmScreen, HelpScreen, NewSessionScreen, TypeScreen
from atoll.tui.table import FleetTable

if TYPE_CHECKING:
    from atoll.tui.app import FleetApp
    from atoll.tui.backend import AnyAttachPlan

T = TypeVar("T")


def one_line(exc: BaseException) -> str:
    """A one-line message for any error (AtollError messages are one line already)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, AtollError) else f"{type(exc).__name__}: {text}"


def target_label(row: SessionRow) -> str:
    return model.clean(f"{row.name} ({row.agent_user}@{row.host})", 80)


class FilterInput(Input):
    """The ``/`` filter line; Esc clears the filter."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "screen.clear_filter", "Clear filter"),
    ]


class FleetScreen(Screen[None]):
    """Sessions of every visible agent user, with status, owner and load."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *screen_bindings(),
        Binding("escape", "clear_filter", "Clear", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.listing = Listing(hosts=[], sessions=[])
        self.rows: dict[str, SessionRow] = {}
        self.statuses: dict[str, Status] | None = None
        self.flagged: set[str] = set()
        self.sort_mode = model.SORTS[0]
        self.group_mode = model.GROUPS[0]
        self.filter_text = ""
        self.preview_on = False
        self.refresh_started = 0
        self.refresh_in_flight = 0
        self.refreshes_dropped = 0
        self.bells = 0
        self.message = ""
        self._refresh_error = False
        self._summary: model.Summary | None = None
        self._highlighted: str | None = None
        self._pending_select: str | None = None
        self._peek_seq = 0
        self._ready = False
        self._cells = model.CellCache()
        self._early: Listing | None = None

    @property
    def fleet_app(self) -> FleetApp:
        from atoll.tui.app import FleetApp

        assert isinstance(self.app, FleetApp)
        return self.app

    @property
    def table(self) -> FleetTable:
        return self.query_one("#table", FleetTable)

    def compose(self) -> ComposeResult:
        yield Static(id="summary")
        with Horizontal(id="body"):
            yield FleetTable(id="table")
            yield Static(id="preview")
        yield FilterInput(placeholder="filter: words matched in any column; Enter keeps, Esc "
                          "clears", id="filter")
        yield Static(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self._ready = True
        self._redraw()
        if self._early is not None:
            self.apply_listing(self._early)
            self._early = None
        app = self.fleet_app
        if app.startup_message:
            self.say(app.startup_message, error=True)
        if app.backend is not None and app.live_refresh:
            self.start_refresh()
            self.set_interval(app.settings.refresh_seconds, self._tick)

    # -- status line ---------------------------------------------------------------------
    def say(self, text: str, error: bool = False) -> None:
        """Show one line on the status line (errors in red)."""
        self.message = " ".join(text.split())
        style = "bold red" if error else ""
        self.query_one("#status", Static).update(Text(self.message, style=style))

    # -- background work -----------------------------------------------------------------
    def _from_thread(self, fn: Callable[..., None], *args: Any) -> None:
        with suppress(RuntimeError):  # the app is closing; nobody is left to tell
            self.app.call_from_thread(fn, *args)

    def _guarded(self, what: str, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception as exc:  # a failing UI callback is a status line too
            self.say(f"{what}: {one_line(exc)}", error=True)

    def background(
        self, what: str, job: Callable[[], T], done: Callable[[T], None] | None = None,
        *, group: str = "action",
    ) -> None:
        """Run ``job`` in a thread worker; ``done(result)`` runs on the UI thread, an error
        becomes a status-line message ``what: message``."""

        def run() -> None:
            try:
                result = job()
            except Exception as exc:  # every failure is a status line, never a traceback
                self._from_thread(self.say, f"{what}: {one_line(exc)}", True)
                return
            if done is not None:
                self._from_thread(self._guarded, what, done, result)

        self.run_worker(run, thread=True, group=group, name=what, exit_on_error=False)

    # -- refresh -------------------------------------------------------------------------
    def _tick(self) -> None:
        if not self.refresh_in_flight:
            self.start_refresh()

    def start_refresh(self) -> None:
        """Start a refresh in a worker; only the newest started one will be shown."""
        backend = self.fleet_app.backend
        if backend is None:
            return
        self.refresh_started += 1
        seq = self.refresh_started
        self.refresh_in_flight += 1

        def run() -> None:
            try:
                listing = backend.listing()
            except Exception as exc:
                self._from_thread(self._refresh_failed, seq, one_line(exc))
                return
            self._from_thread(self._refresh_done, seq, listing)

        self.run_worker(run, thread=True, group="refresh", name="refresh", exit_on_error=False)

    def _refresh_done(self, seq: int, listing: Listing) -> None:
        self.refresh_in_flight -= 1
        if seq != self.refresh_started:
            self.refreshes_dropped += 1
            return
        if self._refresh_error or self.message == "refreshing…":
            self._refresh_error = False
            self.say("refreshed" if self.message == "refreshing…" else "")
        self.apply_listing(listing)

    def _refresh_failed(self, seq: int, message: str) -> None:
        self.refresh_in_flight -= 1
        if seq == self.refresh_started:
            self._refresh_error = True
            self.say(f"refresh failed: {message} (showing the last good listing)", error=True)

    def apply_listing(self, listing: Listing) -> None:
        """Show ``listing``: the one path every refresh, test and benchmark goes through.
        Before the screen is mounted the listing is kept and shown on mount."""
        if not self._ready:
            self._early = listing
            return
        turned = model.newly_waiting(self.statuses, listing.sessions)
        self.listing = listing
        self.rows = {model.row_key(r): r for r in listing.sessions}
        self.statuses = {k: r.status for k, r in self.rows.items()}
        self.flagged = {k for k in self.flagged if self.statuses.get(k) == "waiting"}
        self.flagged |= {model.row_key(r) for r in turned}
        self._cells.keep_only(self.rows)
        self._redraw()
        if self._pending_select is not None and self.table.select_key(self._pending_select):
            self._pending_select = None
        if turned:
            self._alert(turned)
        if self.preview_on:
            self._start_peek()

    def _redraw(self) -> None:
        lines = model.layout(
            self.rows.values(), sort=self.sort_mode, group=self.group_mode,
            filter_text=self.filter_text, now=self.fleet_app.clock(), flagged=self.flagged,
            cache=self._cells,
        )
        self.table.show(lines)
        shown = sum(1 for line in lines if line.row is not None)
        summary = model.summary(
            self.listing, shown=shown, sort=self.sort_mode, group=self.group_mode,
            filter_text=self.filter_text, read_only=self.fleet_app.read_only,
        )
        if summary != self._summary:
            self._summary = summary
            text = Text(summary.counts, style="bold")
            text.append("\n")
            for i, (load, problem) in enumerate(summary.loads):
                text.append("   " if i else "")
                text.append(load, style="bold red" if problem else "dim")
            if not summary.loads:
                text.append("no listing yet", style="dim")
            self.query_one("#summary", Static).update(text)

    def _alert(self, turned: list[SessionRow]) -> None:
        app = self.fleet_app
        names = ", ".join(model.clean(r.name) for r in turned)
        self.say(f"waiting for you: {names}")
        if app.settings.bell:
            self.bells += 1
            app.bell()
        command = app.settings.notify_command
        if command and app.backend is not None:
            backend = app.backend
            for row in turned:
                argv = [*command, *model.notify_args(row)]
                self.background("notify command", partial(backend.notify, argv), group="notify")

    # -- selection and preview -----------------------------------------------------------
    def selected_row(self) -> SessionRow | None:
        key = self.table.selected_key()
        return self.rows.get(key) if key is not None else None

    def _row_for(self, doing: str) -> SessionRow | None:
        row = self.selected_row()
        if row is None:
            self.say(f"nothing to {doing}: select a session first", error=True)
        return row

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value
        if key == self._highlighted:
            return
        self._highlighted = key
        if key is not None and key in self.flagged:
            self.flagged.discard(key)
            self._redraw()
        if self.preview_on:
            self._start_peek()

    def action_preview(self) -> None:
        self.preview_on = not self.preview_on
        self.set_class(self.preview_on, "-preview")
        if self.preview_on:
            self.query_one("#preview", Static).update(Text("loading…", style="dim"))
            self._start_peek()

    def _start_peek(self) -> None:
        row = self.selected_row()
        backend = self.fleet_app.backend
        if row is None:
            self.query_one("#preview", Static).update(Text("no session selected", style="dim"))
            return
        if backend is None:
            return
        self._peek_seq += 1
        seq, key = self._peek_seq, model.row_key(row)
        self.background(f"preview {row.name}", lambda: backend.peek(row),
                        lambda text: self._peek_done(seq, key, text), group="peek")

    def _peek_done(self, seq: int, key: str, text: str) -> None:
        if seq == self._peek_seq:
            self.apply_preview(key, text)

    def apply_preview(self, key: str, screen: str) -> None:
        """Show ``screen`` (a captured screen of session ``key``) in the preview panel."""
        row = self.rows.get(key)
        if not self.preview_on or row is None or self.table.selected_key() != key:
            return
        panel = self.query_one("#preview", Static)
        # The panel may not be laid out yet when just shown; the body row it fills is.
        height = max(1, self.query_one("#body").size.height - 1)
        body = Text(target_label(row), style="bold")
        body.append("\n")
        body.append(model.screen_text(screen, height))
        panel.update(body)

    # -- actions -------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Read-only mode hides (and disables) every action that changes something."""
        return not (self.fleet_app.read_only and action in CHANGING_ACTIONS)

    def on_key(self, event: Key) -> None:
        if not self.fleet_app.read_only or not isinstance(self.focused, FleetTable):
            return
        spec = next((k for k in KEYS if k.key == event.key and k.changes), None)
        if spec is not None:
            event.stop()
            event.prevent_default()
            extra = " (r watches)" if spec.action == "attach" else ""
            self.say(f"read-only view: {spec.label.lower()} is disabled{extra}", error=True)

    def _refuse_read_only(self, what: str) -> bool:
        if self.fleet_app.read_only:
            self.say(f"read-only view: {what} is disabled", error=True)
            return True
        return False

    def action_attach(self) -> None:
        if not self._refuse_read_only("attach"):
            self._start_attach(read_only=False)

    def action_watch(self) -> None:
        self._start_attach(read_only=True)

    def _start_attach(self, *, read_only: bool) -> None:
        row = self._row_for("attach to")
        backend = self.fleet_app.backend
        if row is None or backend is None:
            return
        self.flagged.discard(model.row_key(row))
        self.background(
            f"attach {row.name}", lambda: backend.attach_plan(row, read_only=read_only),
            lambda plan: self._run_attached(row, plan),
        )

    @contextmanager
    def _suspended(self) -> Iterator[None]:
        # Headless (Pilot) runs have no terminal to hand over; the attach argv still runs
        # through the app's foreground function, which tests replace with a recorder.
        with nullcontext() if self.app.is_headless else self.app.suspend():
            yield

    def _run_attached(self, row: SessionRow, plan: AnyAttachPlan) -> None:
        try:
            with self._suspended():
                status = self.fleet_app.foreground(plan.argv, unset_tmux=not plan.switch,
                                                   relay=relay_for(plan))
            if self.fleet_app.backend is not None:
                self.fleet_app.backend.record_detach(row, plan, status)
        except SuspendNotSupported:
            self.say("cannot attach: this terminal cannot hand over control", error=True)
            return
        except AtollError as exc:
            self.say(f"attach {row.name}: {exc}", error=True)
            return
        if status == 0:
            self.say(f"back from {target_label(row)}")
        elif isinstance(plan, RemoteAttachPlan):
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
        backend = self.fleet_app.backend
        if text is None or backend is None:
            self.say("typing cancelled")
            return
        if not text:
            self._ask_enter(row, "")
            return
        self.background(f"type into {row.name}",
                        lambda: backend.type_text(row, text, enter=False),
                        lambda typed: self._ask_enter(row, typed, len(text) - len(typed)))

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
        backend = self.fleet_app.backend
        if not yes or backend is None:
            self.say(f"Enter not pressed in {row.name}")
            return
        self.background(f"press Enter in {row.name}",
                        lambda: backend.type_text(row, "", enter=True),
                        lambda _typed: self.say(f"pressed Enter in {row.name}"))

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
        backend = self.fleet_app.backend
        if not yes or backend is None:
            self.say(f"{row.name} not killed")
            return

        def killed(_: None) -> None:
            self.say(f"killed {target_label(row)}")
            self.start_refresh()

        self.background(f"kill {row.name}", lambda: backend.kill(row), killed)

    def action_new(self) -> None:
        if self._refuse_read_only("new"):
            return
        app = self.fleet_app
        dialog = NewSessionScreen(app.operator, app.cwd, app.agent_users)
        self.app.push_screen(dialog, self._create)
        if app.agent_users is None and app.backend is not None:
            backend = app.backend

            def found(users: list[str]) -> None:
                app.agent_users = users
                if dialog.is_attached:
                    dialog.set_users(users)

            self.background("agent users", backend.agent_users, found)

    def _create(self, req: NewSession | None) -> None:
        backend = self.fleet_app.backend
        if req is None or backend is None:
            self.say("new session cancelled")
            return

        def started(user: str) -> None:
            self.say(f"started {req.name} as {user}")
            self._pending_select = f"{backend.ctx.host}\x1f{user}\x1f{req.name}"
            self.start_refresh()

        self.background(f"new {req.name}", lambda: backend.new(req), started)

    def action_filter(self) -> None:
        box = self.query_one("#filter", FilterInput)
        box.value = self.filter_text
        self.add_class("-filtering")
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.filter_text = event.value
            self._redraw()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            self.remove_class("-filtering")
            self.table.focus()

    def action_clear_filter(self) -> None:
        self.query_one("#filter", FilterInput).value = ""
        self.filter_text = ""
        self.remove_class("-filtering")
        self.table.focus()
        self._redraw()

    def action_sort(self) -> None:
        self.sort_mode = model.SORTS[(model.SORTS.index(self.sort_mode) + 1) % len(model.SORTS)]
        self._redraw()

    def action_group(self) -> None:
        i = (model.GROUPS.index(self.group_mode) + 1) % len(model.GROUPS)
        self.group_mode = model.GROUPS[i]
        self._redraw()

    def action_refresh(self) -> None:
        if self.fleet_app.backend is None:
            self.say("nothing to refresh from")
            return
        self.say("refreshing…")
        self.start_refresh()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.fleet_app.read_only))

    def action_quit(self) -> None:
        self.app.exit()
