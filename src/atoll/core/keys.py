"""Named keys a human may press in a session with ``atoll key NAME KEY...``.

A closed list, mapped to tmux(1) key names ("KEY BINDINGS"): Esc, the arrows, Tab and
Shift-Tab, Space, Backspace, Delete, Insert, Home, End, Page Up/Down, F1-F12 and Ctrl with a
letter. Keys that submit a line (Enter, Return, KPEnter, and their control-letter forms C-m
and C-j) are refused unless the caller passes ``enter=True`` (``--enter``): like ``type``,
``key`` never submits by accident. This list is for a human at the CLI; the AI's MCP tools
have their own, without any submitting key (DESIGN decision 15).
"""

from __future__ import annotations

import re

from atoll.core.errors import UsageError

_NAMED: dict[str, str] = {
    "esc": "Escape", "escape": "Escape",
    "up": "Up", "down": "Down", "left": "Left", "right": "Right",
    "tab": "Tab", "btab": "BTab", "s-tab": "BTab", "shift-tab": "BTab",
    "space": "Space",
    "bspace": "BSpace", "backspace": "BSpace",
    "delete": "DC", "del": "DC", "dc": "DC",
    "insert": "IC", "ins": "IC", "ic": "IC",
    "home": "Home", "end": "End",
    "pageup": "PPage", "pgup": "PPage", "ppage": "PPage",
    "pagedown": "NPage", "pgdn": "NPage", "npage": "NPage",
    **{f"f{i}": f"F{i}" for i in range(1, 13)},
}
_SUBMIT: dict[str, str] = {
    "enter": "Enter", "return": "Enter", "kpenter": "KPEnter", "c-m": "C-m", "c-j": "C-j",
}
_CTRL = re.compile(r"(?:c-|ctrl-|ctrl\+|\^)([a-z])")

SHOWN = ("Esc, Up, Down, Left, Right, Tab, BTab, Space, BSpace, Delete, Insert, Home, End, "
         "PageUp, PageDown, F1-F12, C-a ... C-z")


def tmux_key(name: str, *, enter: bool = False) -> str:
    """The tmux key name for ``name`` (case-insensitive; ``C-c``, ``Ctrl-C``, ``^C`` alike).

    Raises UsageError (exit 2) for a key outside the list, and for Enter or an alias of it
    unless ``enter``.
    """
    low = name.strip().lower()
    if (m := _CTRL.fullmatch(low)) is not None:
        low = f"c-{m.group(1)}"
    if low in _SUBMIT:
        if not enter:
            raise UsageError(f"key {name!r} submits the line: add --enter to press it")
        return _SUBMIT[low]
    if low in _NAMED:
        return _NAMED[low]
    if m is not None:
        return low.replace("c-", "C-", 1)
    shown = "".join(c if c.isprintable() else "?" for c in name[:32])
    raise UsageError(f"unknown key {shown!r}: use {SHOWN}")
