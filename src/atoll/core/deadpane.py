"""Why a session's program ended, and what it printed last: the text ``atoll peek`` shows
for an exited pane.

Exit statuses follow the shell's conventions (POSIX.1-2017 XCU 2.8.2 "Exit Status for
Commands"): 127 command not found, 126 found but not executable, 128+N killed by signal N.
"""

from __future__ import annotations

import re
import shlex
import signal

LAST_LINES = 20
"""Lines of the program's last output shown by default (a missing program prints one)."""

_DEAD_LINE = re.compile(r"^Pane is dead( \(.*\))?$")


def why(status: int | None, command: str) -> str:
    """One phrase for exit ``status`` of ``command`` (the session's shlex-joined argv)."""
    try:
        prog = shlex.split(command)[0] if command else "the program"
    except ValueError:
        prog = command.split(" ", 1)[0]
    if status is None:
        return "exit status unknown"
    if status == 0:
        return "status 0: it finished"
    if status == 127:
        return f"status 127: command not found: {prog}"
    if status == 126:
        return f"status 126: {prog} was found but could not be run (not executable?)"
    if status > 128:
        try:
            name = signal.Signals(status - 128).name
        except ValueError:
            name = f"signal {status - 128}"
        return f"status {status}: killed by {name}"
    return f"status {status}"


def last_output(screen: str, lines: int = LAST_LINES) -> list[str]:
    """The last ``lines`` lines of a dead pane's capture: without tmux's own "Pane is dead"
    line and the blank lines around the output."""
    rows = [r.rstrip() for r in screen.split("\n")]
    rows = [r for r in rows if not _DEAD_LINE.match(r)]
    while rows and not rows[-1]:
        rows.pop()
    while rows and not rows[0]:
        rows.pop(0)
    return rows[-lines:] if lines > 0 else []


def explain(name: str, screen: str, status: int | None, command: str,
            lines: int = LAST_LINES) -> str:
    """The peek text of exited session ``name``: its last output, then one atoll line."""
    out = last_output(screen, lines)
    tail = "its last output is above" if out else "it printed nothing atoll could capture"
    return "\n".join([*out, f"atoll: {name} exited ({why(status, command)}); {tail}"])


_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI ... final byte (ECMA-48 5.4)
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC ... BEL or ST
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC ... ST
    r"|\x1b[ -/]*[0-~]"  # other two- and three-byte escapes
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)


def plain_terminal_text(data: bytes) -> str:
    """What a person reads in recorded terminal output: escape sequences removed, CR-LF as
    newlines, every other control character except tab dropped, so nothing in it can act on
    the operator's terminal (the agent controls what its pane printed)."""
    text = data.decode("utf-8", "replace").replace("\r\n", "\n")
    text = _ESCAPES.sub("", text)
    return "".join(c for c in text if c in "\n\t" or not (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F))
