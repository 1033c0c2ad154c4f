"""Operator mode, the pure part: what an AI may press, and how its answers are shaped.

An AI connected through ``atoll mcp`` prepares a line in a human's terminal; only the human
submits it (shared/DESIGN.md decision 15). The AI has two ways to change a pane: literal
text (sanitised as ``atoll type``, :mod:`atoll.core.text`) and one key at a time from
:data:`MCP_KEYS`, a closed list of editing and movement keys. Every key that submits or
can lead to a submission is outside it, among them (bash(1) READLINE, readline's
default bindings; tmux(1) KEY BINDINGS for the names):

- Enter, C-m, C-j, KPEnter: accept-line;
- C-o: operate-and-get-next (runs the line);
- C-d: end of input to ``cat`` or a REPL, or the end of an SSH hop (later text would land
  on the jump host);
- C-x (C-x C-e edits the line in $EDITOR, whose ``ZZ`` runs it), C-c, Esc and every Meta
  key (Esc 1 Esc # comments the line out and runs it; in vi mode Esc v ZZ runs it).

- BTab (``ESC [ Z``): unbound in readline's vi insert keymap, so its ESC switches bash to
  vi command mode, where typed letters are commands and ``v`` then ``ZZ`` runs the line
  (measured with bash 5.2 here: tests/mcp/test_operator_mode.py). The other keys of the
  list are bound there (arrows, Home/End, Delete, PgUp/PgDn) or are plain bytes.

The list is matched exactly (tmux key names are case-sensitive for modifiers), so no
spelling of a submitting key gets through.
"""

from __future__ import annotations

from typing import Any

import msgspec

from atoll.core.errors import UsageError

#: The only keys an AI may send (tmux key names, tmux(1) KEY BINDINGS).
MCP_KEYS: tuple[str, ...] = (
    "Left", "Right", "Up", "Down", "Home", "End", "BSpace", "DC", "Tab",
    "PPage", "NPage", "C-u", "C-w",
)

#: Longest text one ``type_text`` call may carry (characters); a command line, not a file.
MAX_TYPED = 4096
#: Most scrollback lines ``read_screen`` returns above the visible screen.
MAX_SCROLLBACK = 2000
#: Longest ``wait_for_screen`` (seconds) and longest pattern (characters).
MAX_WAIT_S = 120.0
MAX_PATTERN = 200


def validate_mcp_key(key: str) -> str:
    """``key`` when it is in :data:`MCP_KEYS`; raises UsageError naming the allowed keys."""
    if key in MCP_KEYS:
        return key
    shown = repr(key[:20]) if key.isprintable() else "a key with control characters"
    raise UsageError(
        f"key {shown} is not allowed: only the human submits or interrupts; allowed keys "
        f"are {', '.join(MCP_KEYS)}"
    )


def validate_lines(lines: int) -> int:
    """Scrollback line count for ``read_screen``; raises UsageError out of 0..MAX."""
    if not 0 <= lines <= MAX_SCROLLBACK:
        raise UsageError(f"lines must be between 0 and {MAX_SCROLLBACK}")
    return lines


def validate_wait(pattern: str | None, timeout_s: float) -> tuple[str | None, float]:
    """The pattern (None or non-empty, at most MAX_PATTERN characters) and a timeout in
    (0, MAX_WAIT_S]; raises UsageError otherwise."""
    if not 0 < timeout_s <= MAX_WAIT_S:
        raise UsageError(f"timeout_s must be more than 0 and at most {MAX_WAIT_S:g}")
    if pattern is not None and not pattern:
        pattern = None
    if pattern is not None and len(pattern) > MAX_PATTERN:
        raise UsageError(f"pattern is longer than {MAX_PATTERN} characters")
    return pattern, timeout_s


def screen_matches(screen: str, pattern: str) -> bool:
    """Whether ``pattern`` occurs in ``screen`` as plain text. Deliberately no regular
    expressions: the pattern comes from the AI, and a backtracking regex run by the
    operator's bridge could keep it busy for hours."""
    return pattern in screen


class PaneInfo(msgspec.Struct, frozen=True):
    """Identity and geometry of a session's active pane, as tmux reports it.

    ``session_id`` is tmux's own ``$N`` id (it restarts at ``$0`` on a new server, so it is
    paired with ``session_created``, seconds since the epoch); sizes and cursor are cells.
    """

    session_id: str
    session_created: int
    width: int
    height: int
    cursor_x: int
    cursor_y: int


PANE_INFO_FORMAT = (
    "#{session_id} #{session_created} #{pane_width} #{pane_height} #{cursor_x} #{cursor_y}"
)


def parse_pane_info(text: str) -> PaneInfo:
    """Parse one line of :data:`PANE_INFO_FORMAT`. The server may belong to an agent user,
    so nothing is trusted: six fields, an id ``$`` + digits, numbers in range. Raises
    UsageError for anything else."""
    parts = text.strip().split(" ")
    if len(parts) != 6 or len(text) > 200:
        raise UsageError("tmux gave an unexpected pane description")
    sid, *nums = parts
    if not (sid.startswith("$") and sid[1:].isdigit() and len(sid) <= 12):
        raise UsageError("tmux gave an unexpected session id")
    values: list[int] = []
    for n in nums:
        if not n.isdigit() or len(n) > 12:
            raise UsageError("tmux gave an unexpected number in a pane description")
        values.append(int(n))
    created, width, height, cx, cy = values
    if not (0 < width <= 10_000 and 0 < height <= 10_000):
        raise UsageError("tmux gave an unexpected pane size")
    return PaneInfo(sid, created, width, height, min(cx, width), min(cy, height))


class SessionInfo(msgspec.Struct, frozen=True):
    """One session as ``list_sessions`` shows it to the AI (sizes in cells)."""

    session: str
    host: str
    status: str
    width: int
    height: int


class Screen(msgspec.Struct, frozen=True):
    """A screen as the AI reads it: plain text (no escape sequences), size and cursor in
    cells; ``matched`` is ``wait_for_screen``'s answer (None for the other tools)."""

    session: str
    width: int
    height: int
    cursor_x: int
    cursor_y: int
    screen: str
    matched: bool | None = None


#: Largest answer read from a peer's ``atoll mcp call`` (bytes): 2,000 lines of
#: scrollback at 500 columns of 4-byte characters, with room to spare.
MAX_PEER_ANSWER = 4 << 20
#: A peer answers list_sessions for at most this many sessions (more is refused).
MAX_PEER_SESSIONS = 256
_STATUSES = frozenset({"running", "waiting", "idle", "exited", "error", "unknown", "lost"})


def plain_text(text: str) -> str:
    """``text`` with every control character but the newline removed (C0, DEL, C1): a
    peer's screen reaches the AI as plain text, whatever bytes the peer sent."""
    return "".join(ch for ch in text if ch == "\n" or not (ord(ch) < 0x20
                                                            or 0x7F <= ord(ch) <= 0x9F))


def _cells(value: int, what: str) -> int:
    if not 0 <= value <= 10_000:
        raise UsageError(f"the peer gave an unexpected {what}")
    return value


def decode_peer_screen(data: bytes, label: str) -> Screen:
    """A peer's ``read_screen``/``type_text``/``send_key``/``wait_for_screen`` answer, as
    the :class:`Screen` of session ``label`` (``HOST:NAME``). The peer is not trusted:
    size-capped, shape-checked, numbers in range, text made plain. Raises UsageError."""
    if len(data) > MAX_PEER_ANSWER:
        raise UsageError(f"the peer's answer is larger than {MAX_PEER_ANSWER} bytes")
    try:
        got = msgspec.json.decode(data, type=Screen)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise UsageError("the peer's answer is not a screen") from exc
    width, height = _cells(got.width, "width"), _cells(got.height, "height")
    return Screen(label, width, height, min(_cells(got.cursor_x, "cursor"), width),
                  min(_cells(got.cursor_y, "cursor"), height), plain_text(got.screen),
                  got.matched)


def decode_peer_sessions(data: bytes, host: str, names: set[str]) -> list[SessionInfo]:
    """A peer's ``list_sessions`` answer, kept to the sessions ``names`` this side opened
    on ``host`` and relabelled ``HOST:NAME``. Raises UsageError as
    :func:`decode_peer_screen` does."""
    if len(data) > MAX_PEER_ANSWER:
        raise UsageError(f"the peer's answer is larger than {MAX_PEER_ANSWER} bytes")
    try:
        got = msgspec.json.decode(data, type=list[SessionInfo])
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise UsageError("the peer's answer is not a list of sessions") from exc
    if len(got) > MAX_PEER_SESSIONS:
        raise UsageError(f"the peer listed more than {MAX_PEER_SESSIONS} sessions")
    return [SessionInfo(f"{host}:{s.session}", host,
                        s.status if s.status in _STATUSES else "unknown",
                        _cells(s.width, "width"), _cells(s.height, "height"))
            for s in got if s.session in names]


#: The tools, and the only names the bridge and ``atoll mcp call`` accept.
TOOLS = ("list_sessions", "read_screen", "type_text", "send_key", "wait_for_screen")
#: Largest request (bytes of JSON): a typed text of MAX_TYPED 4-byte characters and more.
MAX_REQUEST = 64 << 10


class Request(msgspec.Struct, frozen=True):
    """One tool call as the bridge and ``atoll mcp call`` receive it."""

    tool: str
    args: dict[str, Any] = msgspec.field(default_factory=dict)
    client: dict[str, str] = msgspec.field(default_factory=dict)
