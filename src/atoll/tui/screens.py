"""Modal screens of the fleet view: help, yes/no confirmation, type a line, new session.

Dialogs only collect input and return it with ``dismiss``; the fleet screen calls the
service. Every user-visible string built from session data is a Rich ``Text`` (never
markup), so a session name cannot inject styling.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from atoll.core.errors import UsageError
from atoll.core.names import validate_branch_name, validate_path_text, validate_session_name
from atoll.core.patterns import KNOWN_AGENTS
from atoll.service.sessions import NewSession
from atoll.tui.keys import help_lines


class HelpScreen(ModalScreen[None]):
    """The key list (the same list the footer and bindings come from)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]

    def __init__(self, read_only: bool) -> None:
        super().__init__()
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        lines = help_lines(self.read_only)
        width = max(len(k) for k, _ in lines) + 2
        table = Text()
        for i, (key, text) in enumerate(lines):
            table.append("\n" if i else "")
            table.append(key.ljust(width), style="bold")
            table.append(text)
        with Vertical(id="dialog", classes="help"):
            yield Label(Text("atoll fleet view: keys", style="bold"))
            yield Static(table, id="keys")
            note = (
                "Read-only mode: attach, type, new and kill are disabled."
                if self.read_only
                else "Status colours: waiting (needs you) yellow, error white on red, running "
                "green, idle cyan, exited red, unknown magenta."
            )
            yield Label(Text(note, style="dim"))
            yield Label(Text("Esc closes this help.", style="dim"))

    def action_close(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question; ``y`` says yes, ``n`` or Esc says no. No is focused, so a
    stray Enter never confirms."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
        Binding("escape", "answer(False)", "Cancel", show=False),
    ]

    def __init__(self, question: Text, yes_label: str = "Yes") -> None:
        super().__init__()
        self.question = question
        self.yes_label = yes_label

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="confirm"):
            yield Label(self.question, id="question")
            with Horizontal(classes="buttons"):
                yield Button(f"{self.yes_label} (y)", id="yes", variant="error")
                yield Button("No (n)", id="no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class TypeScreen(ModalScreen[str | None]):
    """One line of text to type into a session. Submitting types it literally; pressing
    Enter in the session is asked for separately."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="type"):
            yield Label(Text.assemble("Type into ", (self.target, "bold")))
            yield Input(placeholder="text to type (sent literally)", id="text")
            yield Label(Text(
                "Enter types the text without pressing Enter in the session; you are asked "
                "separately whether to press Enter. Control characters are removed. Esc cancels.",
                style="dim",
            ))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


def home_of(user: str) -> str | None:
    """``user``'s home directory from the password database, None when unknown."""
    import pwd

    try:
        return pwd.getpwnam(user).pw_dir
    except KeyError:
        return None


class NewSessionScreen(ModalScreen[NewSession | None]):
    """Name, agent, directory, agent user (the operator or a visible agent user) and an
    optional worktree branch. Returns a :class:`NewSession` or None."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, operator: str, cwd: str, users: list[str] | None, *,
                 prefill: NewSession | None = None, error: str = "",
                 default_user: str | None = None) -> None:
        super().__init__()
        #: whom `atoll new` without --as runs as; the form starts on it (None: not known yet)
        self.default_user = default_user
        self.operator = operator
        self.cwd = cwd
        self.users = users
        #: what was typed before (shown again, with ``error``, when creating it failed)
        self.prefill = prefill
        self.error = error
        #: the directory the form put in by itself (replaced when the user changes)
        self._auto_directory = cwd if prefill is None else None

    def _chosen_user(self) -> str:
        if self.prefill is not None and self.prefill.as_user:
            return self.prefill.as_user
        return self.default_user or self.operator

    def _user_options(self) -> list[tuple[str, str]]:
        opts = [(f"{self.operator} (you)", self.operator)]
        return opts + [(u, u) for u in (self.users or []) if u != self.operator]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="new"):
            yield Label(Text("New session", style="bold"))
            yield Label("Name")
            pre = self.prefill
            yield Input(value=pre.name if pre else "", placeholder="e.g. fix-login", id="name")
            yield Label("Agent")
            agent = pre.agent if pre and pre.agent in KNOWN_AGENTS else "shell"
            yield Select([(a, a) for a in KNOWN_AGENTS], value=agent, allow_blank=False,
                         id="agent")
            yield Label("Directory")
            yield Input(value=(pre.directory or self.cwd) if pre else self.cwd, id="directory")
            yield Label("Agent user")
            options = self._user_options()
            if self._chosen_user() not in {v for _, v in options}:
                options.append((self._chosen_user(), self._chosen_user()))
            yield Select(options, value=self._chosen_user(), allow_blank=False, id="user")
            yield Label(Text("" if self.users is not None else "looking for agent users…",
                             style="dim"), id="users-note")
            yield Label("Worktree branch (optional)")
            yield Input(value=(pre.worktree or "") if pre else "",
                        placeholder="e.g. feature/login", id="worktree")
            yield Label(Text(self.error, style="bold red"), id="error")
            with Horizontal(classes="buttons"):
                yield Button("Create", id="create", variant="success")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()
        if self.users is not None:
            self._show_users()

    def set_users(self, users: list[str], default: str | None = None) -> None:
        """Fill the agent-user choices once they are known (probed in the background),
        and start on ``default`` (whom `atoll new` runs as without --as) unless something
        was chosen already; before the dialog is mounted, its ``on_mount`` shows them."""
        self.users = users
        if default is not None and self.default_user is None:
            self.default_user = default
        if self.is_mounted:
            self._show_users()

    def _show_users(self) -> None:
        users = self.users or []
        select: Select[str] = self.query_one("#user", Select)
        current = select.value
        select.set_options(self._user_options())
        chosen = self._chosen_user()
        if isinstance(current, str) and current in users:
            select.value = current
        elif chosen in users:  # before the users were known only "you" could be chosen
            select.value = chosen
        elif isinstance(current, str) and current == self.operator:
            select.value = current
        note = "" if users else "no agent users visible (sudo grants none)"
        self.query_one("#users-note", Label).update(Text(note, style="dim"))

    def _request(self) -> NewSession:
        name = self.query_one("#name", Input).value.strip()
        if not name:
            raise UsageError("a name is required")
        validate_session_name(name)
        directory = self.query_one("#directory", Input).value.strip() or self.cwd
        validate_path_text(directory)
        worktree = self.query_one("#worktree", Input).value.strip() or None
        if worktree:
            validate_branch_name(worktree)
        agent = self.query_one("#agent", Select).value
        user = self.query_one("#user", Select).value
        return NewSession(
            name=name,
            agent=agent if isinstance(agent, str) else None,
            directory=directory,
            # always explicit: "you" runs as you (island none), as `new --as $USER` does
            as_user=user if isinstance(user, str) else None,
            worktree=worktree,
        )

    def _submit(self) -> None:
        try:
            req = self._request()
        except UsageError as exc:
            self.query_one("#error", Label).update(Text(str(exc), style="bold red"))
            return
        self.dismiss(req)

    def on_select_changed(self, event: Select.Changed) -> None:
        """A directory the form filled in itself follows the chosen user: the operator's
        working directory for the operator, the agent user's home for an agent user
        (which the agent can enter; the operator's own directories usually are 0700)."""
        if event.select.id != "user" or not isinstance(event.value, str):
            return
        field = self.query_one("#directory", Input)
        if self._auto_directory is None or field.value.strip() != self._auto_directory:
            return  # typed by the person: theirs
        wanted = self.cwd if event.value == self.operator else home_of(event.value)
        if wanted:
            field.value = wanted
            self._auto_directory = wanted

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "create":
            self._submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
