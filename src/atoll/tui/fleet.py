"""The fleet screen: the session table, its header, preview, filter, status and key lines,
and the keys that change the view (sort, group, filter, next waiting, preview); the keys
that act on a session are its base, :class:`atoll.tui.actions.SessionActions`.

Service calls run in Textual thread workers and come back as typed messages
(atoll.tui.messages) handled on the UI thread. Refresh and preview workers are
``exclusive``: starting one cancels the one before, and a cancelled worker's result is
dropped, so only the newest listing or screen is shown. Every worker failure goes through
one handler (:meth:`FleetScreen.on_worker_state_changed`) and becomes one line on the
status line, never a traceback.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState, get_current_worker

from atoll.core.models import Listing, SessionRow, Status
from atoll.tui import model
from atoll.tui.actions import SessionActions, one_line, target_label
from atoll.tui.keys import footer_text, screen_bindings
from atoll.tui.messages import (
    Peeked,
    Refreshed,
)
from atoll.tui.options import FleetOptions
from atoll.tui.screens import HelpScreen
from atoll.tui.table import FleetTable


class FilterInput(Input):
    """The ``/`` filter line; Esc clears the filter."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "screen.clear_filter", "Clear filter"),
    ]


class KeyLine(Static):
    """The footer: the keys that fit in the terminal's width, most needed first kept
    (``? Help`` and ``q Quit`` always; see :func:`atoll.tui.keys.footer_text`)."""

    def __init__(self, read_only: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.read_only = read_only

    def on_resize(self, event: events.Resize) -> None:
        self.update(footer_text(event.size.width, self.read_only))


class FleetScreen(SessionActions):
    """Sessions of every visible agent user, with status, owner and load."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *screen_bindings(),
        Binding("escape", "clear_filter", "Clear", show=False),
    ]

    def __init__(self, options: FleetOptions) -> None:
        super().__init__()
        self.options = options
        self.agent_users = options.agent_users
        self.listing = Listing(hosts=[], sessions=[])
        self.rows: dict[str, SessionRow] = {}
        self.statuses: dict[str, Status] | None = None
        self.flagged: set[str] = set()
        self.sort_mode = model.SORTS[0]
        self.group_mode = model.GROUPS[0]
        self.filter_text = ""
        self.preview_on = False
        self.refreshes_dropped = 0
        """Refreshes cancelled, their result never shown, because a newer one started
        (tests read it)."""
        self.bells = 0
        self.message = ""
        self._refresh_error = False
        self._summary: model.Summary | None = None
        self._highlighted: str | None = None
        self._pending_select: str | None = None
        self._ready = False
        self._cells = model.CellCache()
        self._early: Listing | None = None

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
        yield KeyLine(self.options.read_only, id="keyline")

    def on_mount(self) -> None:
        self._ready = True
        self._redraw()
        if self._early is not None:
            self.apply_listing(self._early)
            self._early = None
        if self.options.startup_message:
            self.say(self.options.startup_message, error=True)
        if self.options.backend is not None and self.options.live_refresh:
            self.start_refresh()
            self.set_interval(self.options.settings.refresh_seconds, self._tick)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place a worker's failure is shown."""
        worker = event.worker
        if event.state != WorkerState.ERROR or worker.error is None:
            return
        if worker.group == "refresh":
            self._refresh_error = True
            self.say(f"refresh failed: {one_line(worker.error)} (showing the last good "
                     "listing)", error=True)
        else:
            self.say(f"{worker.name}: {one_line(worker.error)}", error=True)

    # -- refresh -------------------------------------------------------------------------
    def _refreshes(self) -> list[Worker[Any]]:
        """This screen's refresh workers that have not finished and were not cancelled."""
        return [w for w in self.app.workers if w.group == "refresh" and w.node is self
                and not w.is_finished and not w.is_cancelled]

    @property
    def refresh_in_flight(self) -> bool:
        """True while a refresh of this screen has not finished."""
        return bool(self._refreshes())

    def _tick(self) -> None:
        if not self.refresh_in_flight:
            self.start_refresh()

    def start_refresh(self) -> None:
        """Start a refresh; an older one still running is cancelled and its result
        dropped."""
        if self.options.backend is not None:
            self.refreshes_dropped += len(self._refreshes())  # exclusive: cancelled now
            self._refresh_worker()

    @work(thread=True, exclusive=True, group="refresh", name="refresh", exit_on_error=False)
    def _refresh_worker(self) -> None:
        assert self.options.backend is not None
        listing = self.options.backend.listing()
        self.post_message(Refreshed(listing, get_current_worker()))

    def on_refreshed(self, message: Refreshed) -> None:
        if message.worker.is_cancelled:  # a newer refresh started (see start_refresh)
            return
        if self._refresh_error or self.message == "refreshing…":
            self._refresh_error = False
            self.say("refreshed" if self.message == "refreshing…" else "")
        self.apply_listing(message.listing)

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
            self._size_preview()
            self._start_peek()

    def _redraw(self) -> None:
        lines = model.layout(
            self.rows.values(), sort=self.sort_mode, group=self.group_mode,
            filter_text=self.filter_text, now=self.options.clock(), flagged=self.flagged,
            cache=self._cells,
        )
        self.table.show(lines)
        shown = sum(1 for line in lines if line.row is not None)
        summary = model.summary(
            self.listing, shown=shown, sort=self.sort_mode, group=self.group_mode,
            filter_text=self.filter_text, read_only=self.options.read_only,
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
        opts = self.options
        names = ", ".join(model.clean(r.name) for r in turned)
        self.say(f"waiting for you: {names}")
        if opts.settings.bell:
            self.bells += 1
            self.app.bell()
        command = opts.settings.notify_command
        backend = opts.backend
        if command and backend is not None:
            for row in turned:
                argv = [*command, *model.notify_args(row)]

                def notify(argv: list[str] = argv) -> None:
                    backend.notify(argv)

                self.act("notify command", notify, group="notify")

    # -- selection and preview -----------------------------------------------------------
    def selected_row(self) -> SessionRow | None:
        key = self.table.selected_key()
        return self.rows.get(key) if key is not None else None

    def on_fleet_table_highlighted(self, event: FleetTable.Highlighted) -> None:
        key = event.key
        if key == self._highlighted:
            return
        self._highlighted = key
        if key is not None and key in self.flagged:
            self.flagged.discard(key)
            self._redraw()
        if self.preview_on:
            self._start_peek()

    def action_next_waiting(self) -> None:
        """Move to the next session that needs a human (waiting, error), wrapping."""
        order = self.table.order
        if not order:
            self.say("nothing needs you: no sessions shown")
            return
        start = self.table.cursor_row
        for step in range(1, len(order) + 1):
            key = order[(start + step) % len(order)]
            row = self.rows.get(key)
            if row is not None and row.status in model.ATTENTION:
                self.table.select_key(key)
                self.say(f"{row.status}: {target_label(row)}")
                return
        self.say("nothing needs you: no session is waiting or in error")

    def on_resize(self, _event: events.Resize) -> None:
        self._size_preview()

    def _size_preview(self) -> None:
        """The preview takes what the table does not need, at least 40% of the width, and
        leaves the table at least 40 cells (NAME, PROJECT, STATUS, IDLE)."""
        if not self.preview_on:
            return
        body = self.size.width
        least = body * 2 // 5
        width = max(least, min(body - self.table.wanted_width, body - 40))
        panel = self.query_one("#preview", Static)
        if panel.styles.width is None or panel.styles.width.value != width:
            panel.styles.width = width

    def action_preview(self) -> None:
        self.preview_on = not self.preview_on
        self.set_class(self.preview_on, "-preview")
        if self.preview_on:
            self._size_preview()
            self.query_one("#preview", Static).update(Text("loading…", style="dim"))
            self._start_peek()

    def _start_peek(self) -> None:
        row = self.selected_row()
        if row is None:
            self.query_one("#preview", Static).update(Text("no session selected", style="dim"))
            return
        if self.options.backend is not None:
            self._peek_worker(row)

    @work(thread=True, exclusive=True, group="peek", name="preview", exit_on_error=False)
    def _peek_worker(self, row: SessionRow) -> None:
        assert self.options.backend is not None
        screen = self.options.backend.peek(row)
        self.post_message(Peeked(model.row_key(row), screen, get_current_worker()))

    def on_peeked(self, message: Peeked) -> None:
        if not message.worker.is_cancelled:
            self.apply_preview(message.key, message.screen)

    def apply_preview(self, key: str, screen: str) -> None:
        """Show ``screen`` (a captured screen of session ``key``) in the preview panel:
        its bottom lines, each cut at the panel's right edge, never wrapped (a 200-column
        agent screen stays readable line by line in a 40-column panel)."""
        row = self.rows.get(key)
        if not self.preview_on or row is None or self.table.selected_key() != key:
            return
        panel = self.query_one("#preview", Static)
        # The panel may not be laid out yet when just shown; the body row it fills is.
        height = max(1, self.query_one("#body").size.height - 1)
        body = Text(target_label(row), style="bold", no_wrap=True, overflow="crop")
        body.append("\n")
        body.append(model.screen_text(screen, height))
        panel.update(body)

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
        if self.options.backend is None:
            self.say("nothing to refresh from")
            return
        self.say("refreshing…")
        self.start_refresh()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.options.read_only))

    def action_quit(self) -> None:
        self.app.exit()
