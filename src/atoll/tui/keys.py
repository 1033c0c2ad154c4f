"""The fleet view's keys: one list feeds the bindings, the footer and the ``?`` help."""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding


@dataclass(frozen=True)
class KeySpec:
    """A key, its action on the fleet screen, footer label, help text, and whether it
    changes something (hidden and refused in read-only mode)."""

    key: str
    action: str
    label: str
    help: str
    changes: bool = False
    shown: str = ""

    @property
    def display(self) -> str:
        return self.shown or self.key


KEYS: tuple[KeySpec, ...] = (
    KeySpec("enter", "attach", "Attach",
            "attach to the selected session (detach: tmux prefix, then d)",
            changes=True, shown="Enter"),
    KeySpec("w", "next_waiting", "Next waiting",
            "jump to the next session that needs you (waiting or error)"),
    KeySpec("r", "watch", "Watch", "attach read-only: watch without typing"),
    KeySpec("p", "preview", "Preview", "show or hide a live preview of the selected screen"),
    KeySpec("t", "type", "Type",
            "type a line literally; Enter only after a second yes",
            changes=True),
    KeySpec("n", "new", "New", "start a new session (name, agent, directory, user, worktree)",
            changes=True),
    KeySpec("ctrl+d", "kill", "Kill", "kill the selected session, after confirmation",
            changes=True, shown="Ctrl-D"),
    KeySpec("slash", "filter", "Filter", "filter across all columns (Esc clears)", shown="/"),
    KeySpec("s", "sort", "Sort", "cycle the sort: status, name, host, idle, cpu, mem, age"),
    KeySpec("g", "group", "Group",
            "cycle grouping: none, host, project, person (operator and agent users)"),
    KeySpec("R", "refresh", "Refresh", "refresh now"),
    KeySpec("question_mark", "help", "Help", "this help", shown="?"),
    KeySpec("q", "quit", "Quit", "quit atoll"),
)

CHANGING_KEYS: frozenset[str] = frozenset(k.key for k in KEYS if k.changes)
CHANGING_ACTIONS: frozenset[str] = frozenset(k.action for k in KEYS if k.changes)


def screen_bindings() -> list[Binding]:
    """Bindings of the fleet screen, except Enter (the table binds it, see FleetTable)."""
    return [
        Binding(k.key, f"{k.action}", k.label, key_display=k.shown or None)
        for k in KEYS if k.key != "enter"
    ]


def help_lines(read_only: bool) -> list[tuple[str, str]]:
    """(key, what it does) for the help screen; read-only mode lists only allowed keys."""
    return [(k.display, k.help) for k in KEYS if not (read_only and k.changes)]


FOOTER_PRIORITY: tuple[str, ...] = (
    "help", "quit", "attach", "next_waiting", "preview", "filter", "watch", "type", "new",
    "kill", "group", "sort", "refresh",
)
"""Which keys the footer keeps when the terminal is too narrow for all, most needed
first: ``? Help`` lists the rest, so it and ``q Quit`` are never dropped."""


def footer_text(width: int, read_only: bool) -> Text:
    """The footer line for a terminal ``width`` cells wide: ``key Label`` pairs in
    :data:`KEYS` order, leaving out the least needed (:data:`FOOTER_PRIORITY`) until the
    line fits; read-only mode leaves out what changes something."""
    keys = [k for k in KEYS if not (read_only and k.changes)]
    rank = {action: i for i, action in enumerate(FOOTER_PRIORITY)}
    keep = sorted(keys, key=lambda k: rank.get(k.action, len(rank)))

    def size(chosen: list[KeySpec]) -> int:
        return sum(cell_len(k.display) + cell_len(k.label) + 3 for k in chosen) + 1

    while len(keep) > 2 and size(keep) > width:
        keep.pop()
    text = Text(no_wrap=True, overflow="crop")
    for k in keys:
        if k in keep:
            text.append(f" {k.display} ", style="bold")
            text.append(f"{k.label} ")
    return text
