"""tmux argument escaping and ``list-panes -F`` format building and parsing.

Facts relied on (tmux 3.3a, checked by tests/tmux/test_tmux_quirks.py):
- an argv element ending in ``;`` ends a tmux command; ``\\;`` at the end is a literal
  ``;`` (cmd-parse.c, cmd_parse_from_arguments). :func:`escape_arg` neutralises it;
- ``new-session -c DIR`` expands formats, so ``#(cmd)`` in a directory runs a shell;
  ``##`` is a literal ``#`` (tmux(1) FORMATS). :func:`escape_format` neutralises it;
- option values and titles come back from ``-F`` raw: tabs, newlines, any byte. Each text
  field is therefore written as ``#{n:FIELD}:#{FIELD}`` (``n:`` = length in bytes) and
  parsed by length, so a hostile value cannot forge fields or rows.
"""

from __future__ import annotations

import msgspec

# (key, tmux variable, is_text). Text fields are length-prefixed; the others are numbers.
FIELDS: tuple[tuple[str, str, bool], ...] = (
    ("session_name", "session_name", True),
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
)

MAX_FIELD_BYTES = 1 << 16


class FormatParseError(ValueError):
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
    """One pane as tmux reported it; text fields decoded, numbers parsed (None if empty)."""

    session_name: str
    session_created: int | None
    session_attached: int
    window_activity: int | None
    pane_id: str
    pane_pid: int | None
    pane_dead: bool
    pane_dead_status: int | None
    pane_current_command: str
    pane_title: str
    agent: str
    project: str
    worktree: str
    launched_by: str
    island: str
    created: str
    command: str
    state: str
    state_time: str
    exit: str

    @property
    def exit_status(self) -> int | None:
        """tmux's pane_dead_status, else the status the pane's wrapper recorded."""
        if self.pane_dead_status is not None:
            return self.pane_dead_status
        return int(self.exit) if self.exit.isdigit() else None


def _int(raw: bytes) -> int | None:
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise FormatParseError(f"expected a number, got {raw[:20]!r}") from exc


_NFIELDS = len(FIELDS)
_TEXT = tuple(is_text for _k, _v, is_text in FIELDS)
_KEYS = tuple(k for k, _v, _t in FIELDS)


def _fast_record(line: bytes) -> PaneRecord | None:
    """Parse one line split on ``|``; None unless every length prefix checks out.

    Sound: if each text field's prefix equals its value's length and no value holds ``|`` or
    a newline, the exact parser would read the same fields at the same offsets.
    """
    parts = line.split(b"|")
    if len(parts) != _NFIELDS + 1 or parts[-1]:
        return None
    values: dict[str, object] = {}
    for key, is_text, raw in zip(_KEYS, _TEXT, parts, strict=False):
        if is_text:
            n, sep, val = raw.partition(b":")
            if not sep or not n.isdigit() or int(n) != len(val):
                return None
            values[key] = val.decode("utf-8", "replace")
        elif raw and not raw.isdigit():
            return None
        else:
            values[key] = int(raw) if raw else None
    values["pane_dead"] = values["pane_dead"] == 1
    values["session_attached"] = values["session_attached"] or 0
    return PaneRecord(**values)  # type: ignore[arg-type]


def parse_list_panes(data: bytes) -> list[PaneRecord]:
    """Parse ``list-panes -a -F list_panes_format()`` output (one record per line).

    Lines are first parsed on their separators (fast path); any line that does not verify
    sends the whole output through the exact length-driven parser, so a hostile value can
    cost time but never forge a field. Raises FormatParseError on malformed output.
    """
    if data.endswith(b"\n"):
        fast = [_fast_record(line) for line in data[:-1].split(b"\n")]
        if all(r is not None for r in fast):
            return fast  # type: ignore[return-value]
    return _exact_parse(data)


def _exact_parse(data: bytes) -> list[PaneRecord]:
    records: list[PaneRecord] = []
    pos = 0
    end = len(data)
    while pos < end:
        values: dict[str, object] = {}
        for key, _var, is_text in FIELDS:
            if is_text:
                colon = data.find(b":", pos, pos + 8)
                if colon < 0:
                    raise FormatParseError(f"missing length prefix at byte {pos}")
                length = _int(data[pos:colon])
                if length is None or length > MAX_FIELD_BYTES or colon + 1 + length >= end + 1:
                    raise FormatParseError(f"bad length for {key} at byte {pos}")
                start = colon + 1
                stop = start + length
                if data[stop : stop + 1] != b"|":
                    raise FormatParseError(f"field {key} not terminated at byte {stop}")
                values[key] = data[start:stop].decode("utf-8", "replace")
                pos = stop + 1
            else:
                bar = data.find(b"|", pos)
                if bar < 0:
                    raise FormatParseError(f"field {key} not terminated at byte {pos}")
                values[key] = _int(data[pos:bar])
                pos = bar + 1
        if data[pos : pos + 1] != b"\n":
            raise FormatParseError(f"record not terminated at byte {pos}")
        pos += 1
        values["pane_dead"] = values["pane_dead"] == 1
        values["session_attached"] = values["session_attached"] or 0
        records.append(PaneRecord(**values))  # type: ignore[arg-type]
    return records
