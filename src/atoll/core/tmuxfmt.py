"""tmux argument escaping and ``list-panes -F`` format building and bounded parsing.

Facts relied on (tmux 3.3a, checked by tests/tmux/test_tmux_client.py and
tests/users/test_hostile_tmux.py):
- an argv element ending in ``;`` ends a tmux command; ``\\;`` at the end is a literal
  ``;`` (cmd-parse.c, cmd_parse_from_arguments). :func:`escape_arg` neutralises it;
- ``new-session -c DIR`` expands formats, so ``#(cmd)`` in a directory runs a shell;
  ``##`` is a literal ``#`` (tmux(1) FORMATS). :func:`escape_format` neutralises it;
- option values and titles come back from ``-F`` raw: tabs, newlines, any byte, any length
  (an agent user owns its server and sets what it likes). Each text field is therefore
  written as ``#{n:FIELD}:#{FIELD}`` (``n:`` = length in bytes, strlen in format.c) and
  parsed by length, so a hostile value cannot forge fields or rows;
- session names are already made visible-safe by tmux (``:`` and ``.`` become ``_``,
  control characters are escaped, session.c session_check_name), but may hold any other
  character and be of any length.

Bounds (why these numbers): a field is at most its :data:`FIELD_CAPS` bytes, the same
limits a peer's ``atoll ls --json`` rows are held to (atoll.fleet.remote), so a row this
host lists is a row every peer accepts; a server's answer is at most
:data:`MAX_ANSWER_BYTES` bytes (read that far, then the command is stopped) and
:data:`MAX_PANES` panes, the limits of a peer's whole answer. A field that breaks its
bound or type does not fail the listing: its pane becomes a record with ``problem`` set
(shown as status ``unknown`` with that reason). Only output that does not follow the
format at all (which tmux itself never prints) raises :class:`FormatParseError`.
"""

from __future__ import annotations

import re

import msgspec

from atoll.core.errors import AtollError

# (key, tmux variable, is_text). Text fields are length-prefixed; the others are numbers.
FIELDS: tuple[tuple[str, str, bool], ...] = (
    ("session_name", "session_name", True),
    ("server_pid", "pid", False),
    ("session_id", "session_id", True),
    ("session_created", "session_created", False),
    ("session_attached", "session_attached", False),
    ("window_activity", "window_activity", False),
    ("pane_id", "pane_id", True),
    ("pane_pid", "pane_pid", False),
    ("pane_dead", "pane_dead", False),
    ("pane_dead_status", "pane_dead_status", False),
    ("pane_current_command", "pane_current_command", True),
    ("pane_title", "pane_title", True),
    ("agent", "@atoll_agent", True),
    ("project", "@atoll_project", True),
    ("worktree", "@atoll_worktree", True),
    ("launched_by", "@atoll_launched_by", True),
    ("island", "@atoll_island", True),
    ("created", "@atoll_created", True),
    ("command", "@atoll_command", True),
    ("state", "@atoll_state", True),
    ("state_time", "@atoll_state_time", True),
    ("exit", "@atoll_exit", True),
    ("conversation", "@atoll_conversation", True),
    ("net", "@atoll_net", True),
)

# Bytes per text field. name/agent/project/worktree/launched_by/island/command: the limits
# of a peer row (atoll.fleet.remote._TEXT_LIMITS; a name is shown escaped, see
# atoll.core.sessionref, whose label fits 256); pane_id/session_id: "%N"/"$N" of a 32-bit
# counter; created/state_time: an RFC 3339 time; exit: a shell status; state: a hook state.
FIELD_CAPS: dict[str, int] = {
    "session_name": 4096, "session_id": 12, "pane_id": 12, "pane_current_command": 256,
    "pane_title": 1024, "agent": 128, "project": 4096, "worktree": 4096, "launched_by": 64,
    "island": 256, "created": 40, "command": 4096, "state": 32, "state_time": 40, "exit": 8,
    "conversation": 128,
    "net": 8,
}  # fmt: skip
# Number ranges, the ones a peer row is held to: pid up to PID_MAX_LIMIT (2**22, proc(5)),
# clients attached up to 10,000, statuses up to 2**16 (a wait(2) status fits 16 bits);
# times in seconds since the epoch up to the end of year 9999, the last RFC 3339 can write.
_LAST_TIME = 253_402_300_799
NUMBER_RANGES: dict[str, tuple[int, int]] = {
    "server_pid": (1, 2**22), "session_created": (0, _LAST_TIME), "session_attached": (0, 10_000),
    "window_activity": (0, _LAST_TIME), "pane_pid": (1, 2**22), "pane_dead": (0, 1),
    "pane_dead_status": (0, 2**16),
}  # fmt: skip
MAX_ANSWER_BYTES = 8 << 20
MAX_PANES = 10_000
_MAX_DIGITS = 20  # longest number accepted in a numeric field before its range check

# Fields only tmux writes (from what the pane runs or prints): shown with controls replaced
# rather than failing the row. The rest are atoll's options or identifiers and must be clean.
_TMUX_TEXT = frozenset({"pane_current_command", "pane_title"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_ID = {"session_id": re.compile(r"\$[0-9]{1,10}"), "pane_id": re.compile(r"%[0-9]{1,10}")}
_EXIT = re.compile(r"[0-9]{1,3}")  # "$?" of the pane's wrapper: 0-255
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)")
_TIMES = frozenset({"created", "state_time"})
_CHECKED = frozenset({*_ID, "exit", *_TIMES})
_CONTROL_ASCII = re.compile(rb"[\x00-\x1f\x7f]")


class FormatParseError(AtollError):
    """``list-panes`` output did not follow the format atoll asked for."""


def escape_arg(arg: str) -> str:
    """Make ``arg`` reach tmux as one literal argument even if it ends in ``;``."""
    if arg.endswith(";"):
        return arg[:-1] + "\\;"
    return arg


def escape_format(text: str) -> str:
    """Make ``text`` literal where tmux expands formats (``#`` becomes ``##``)."""
    return text.replace("#", "##")


def list_panes_format() -> str:
    """The ``-F`` argument: numeric fields as ``N|``, text fields as ``LEN:VALUE|``."""
    parts = []
    for _key, var, is_text in FIELDS:
        parts.append(f"#{{n:{var}}}:#{{{var}}}|" if is_text else f"#{{{var}}}|")
    return "".join(parts)


class PaneRecord(msgspec.Struct, frozen=True):
    """One pane as tmux reported it, every field within its bound and type.

    ``problem`` is None for a clean pane. Otherwise it says, in one line, which field broke
    which rule; the fields that broke are empty (text) or None (numbers), the rest are kept.
    ``session_name`` is raw (tmux's own escaping only): show it through
    :func:`atoll.core.sessionref.session_label`.
    """

    session_name: str
    server_pid: int | None = None
    session_id: str = ""
    session_created: int | None = None
    session_attached: int = 0
    window_activity: int | None = None
    pane_id: str = ""
    pane_pid: int | None = None
    pane_dead: bool = False
    pane_dead_status: int | None = None
    pane_current_command: str = ""
    pane_title: str = ""
    agent: str = ""
    project: str = ""
    worktree: str = ""
    launched_by: str = ""
    island: str = ""
    created: str = ""
    command: str = ""
    state: str = ""
    state_time: str = ""
    exit: str = ""
    #: the agent's conversation id its hooks reported (atoll.service.hook); checked
    #: against atoll.core.specs.CONVERSATION_RE before it is used
    conversation: str = ""
    net: str = ""
    problem: str | None = None

    @property
    def exit_status(self) -> int | None:
        """tmux's pane_dead_status, else the status the pane's wrapper recorded."""
        if self.pane_dead_status is not None:
            return self.pane_dead_status
        return int(self.exit) if self.exit else None


class PaneList(msgspec.Struct, frozen=True):
    """A server's panes; ``problem`` says why some were not read (answer over its caps)."""

    panes: list[PaneRecord]
    problem: str | None = None


def _text(key: str, raw: bytes) -> tuple[str, str | None]:
    """(value, problem) of a text field whose length is within its cap."""
    if key not in _CHECKED and raw.isascii() and not _CONTROL_ASCII.search(raw):
        return raw.decode("ascii"), None  # the common case, without the checks below
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        if key in _TMUX_TEXT:
            return _CONTROL.sub("?", raw.decode("utf-8", "replace")), None
        return "", f"{key} is not UTF-8"
    if _CONTROL.search(text):
        if key in _TMUX_TEXT:
            return _CONTROL.sub("?", text), None
        return "", f"{key} holds control characters"
    if not text:
        return text, None
    if key in _ID and not _ID[key].fullmatch(text):
        return "", f"{key} is not a tmux id"
    if key == "exit" and not _EXIT.fullmatch(text):
        return "", "exit is not a number"
    if key in _TIMES and not _RFC3339.fullmatch(text):
        return "", f"{key} is not an RFC 3339 time"
    return text, None


def _capped(key: str, data: bytes, start: int, stop: int) -> tuple[str, str | None]:
    """(value, problem) of the text field ``data[start:stop]``. Over its cap, tmux's own
    text (a title a program printed) is cut there; an atoll option is a problem."""
    cap = FIELD_CAPS[key]
    if stop - start <= cap:
        return _text(key, data[start:stop])
    if key in _TMUX_TEXT:
        return _text(key, data[start : start + cap])
    return "", f"{key} is {stop - start} bytes (at most {cap})"


def _number(key: str, raw: bytes) -> tuple[int | None, str | None]:
    if not raw:
        return None, None
    if not raw.isdigit() or len(raw) > _MAX_DIGITS:  # bytes.isdigit: ASCII digits only
        return None, f"{key} is not a number"
    value = int(raw)
    low, high = NUMBER_RANGES[key]
    if not low <= value <= high:
        return None, f"{key} out of range"
    return value, None


class _Incomplete(Exception):
    """The data ended inside a record."""


_LEN_DIGITS = 10  # a length prefix longer than this is not tmux's


def _record(data: bytes, pos: int, end: int) -> tuple[PaneRecord, int]:
    """The record starting at ``pos`` and the offset after its newline."""
    values: dict[str, object] = {}
    problem: str | None = None
    for key, _var, is_text in FIELDS:
        if is_text:
            colon = data.find(b":", pos, pos + _LEN_DIGITS + 1)
            if colon < 0:
                if end - pos <= _LEN_DIGITS:
                    raise _Incomplete
                raise FormatParseError(f"missing length prefix for {key} at byte {pos}")
            prefix = data[pos:colon]
            if not prefix.isdigit():
                raise FormatParseError(f"bad length prefix for {key} at byte {pos}")
            start = colon + 1
            stop = start + int(prefix)
            if stop >= end:
                raise _Incomplete
            if data[stop] != 0x7C:  # "|"
                raise FormatParseError(f"field {key} not terminated at byte {stop}")
            pos = stop + 1
            values[key], found = _capped(key, data, start, stop)
        else:
            bar = data.find(b"|", pos, pos + _MAX_DIGITS + 1)
            if bar < 0:
                if end - pos <= _MAX_DIGITS:
                    raise _Incomplete
                raise FormatParseError(f"field {key} not terminated at byte {pos}")
            values[key], found = _number(key, data[pos:bar])
            pos = bar + 1
        if problem is None:
            problem = found
    if pos >= end:
        raise _Incomplete
    if data[pos] != 0x0A:
        raise FormatParseError(f"record not terminated at byte {pos}")
    if not values["session_name"] and problem is None:
        problem = "empty session name"
    values["pane_dead"] = values["pane_dead"] == 1
    values["session_attached"] = values["session_attached"] or 0
    values["problem"] = problem
    return PaneRecord(**values), pos + 1  # type: ignore[arg-type]


_NFIELDS = len(FIELDS)


def _split_record(line: bytes) -> PaneRecord | None:
    """One line split on ``|``; None unless every length prefix checks out (then the exact
    parser of :func:`_record` would read the same fields at the same offsets, since no value
    holds a ``|`` or a newline), and the same checks as there."""
    parts = line.split(b"|")
    if len(parts) != _NFIELDS + 1 or parts[-1]:
        return None
    values: dict[str, object] = {}
    problem: str | None = None
    for (key, _var, is_text), raw in zip(FIELDS, parts, strict=False):
        if is_text:
            n, sep, val = raw.partition(b":")
            if not sep or not n.isdigit() or len(n) > _LEN_DIGITS or int(n) != len(val):
                return None
            values[key], found = _capped(key, val, 0, len(val))
        else:
            if len(raw) > _MAX_DIGITS:
                return None
            values[key], found = _number(key, raw)
        if problem is None:
            problem = found
    if not values["session_name"] and problem is None:
        problem = "empty session name"
    values["pane_dead"] = values["pane_dead"] == 1
    values["session_attached"] = values["session_attached"] or 0
    values["problem"] = problem
    return PaneRecord(**values)  # type: ignore[arg-type]


def parse_panes(data: bytes, *, truncated: bool = False) -> PaneList:
    """Parse ``list-panes -a -F list_panes_format()`` output (one record per line).

    ``truncated`` says the output was cut at :data:`MAX_ANSWER_BYTES`: its last, partial
    record is dropped and the list carries a problem. At most :data:`MAX_PANES` records
    are read. Cost is linear in ``len(data)``. Raises FormatParseError (an AtollError) on
    output that does not follow the format; a field out of bounds is a record's
    ``problem``, never an exception.
    """
    if not truncated and data.endswith(b"\n") and data.count(b"\n") <= MAX_PANES:
        fast = [_split_record(line) for line in data[:-1].split(b"\n")]
        if all(r is not None for r in fast):
            return PaneList(fast)  # type: ignore[arg-type]
    return _exact_panes(data, truncated)


def _exact_panes(data: bytes, truncated: bool) -> PaneList:
    """The length-driven parse of :func:`parse_panes` (any input; slower)."""
    records: list[PaneRecord] = []
    problem: str | None = None
    pos, end = 0, len(data)
    while pos < end:
        if len(records) >= MAX_PANES:
            problem = f"more than {MAX_PANES} panes; the rest are not shown"
            break
        try:
            record, pos = _record(data, pos, end)
        except _Incomplete:
            if not truncated:
                raise FormatParseError(f"output ends inside a record at byte {pos}") from None
            break
        records.append(record)
    if truncated and problem is None:
        problem = (f"answer larger than {MAX_ANSWER_BYTES} bytes; "
                   f"panes after the first {len(records)} are not shown")
    return PaneList(records, problem)


def parse_list_panes(data: bytes) -> list[PaneRecord]:
    """The records of :func:`parse_panes` (complete output, at most MAX_PANES)."""
    return parse_panes(data).panes
