"""Sanitising text typed into a pane (shared/DESIGN.md decision 10).

Everything that could act as a key press beyond a printable character is removed:
C0 controls (U+0000-U+001F, which include Enter, Tab, Ctrl-C and ESC), DEL (U+007F) and
C1 controls (U+0080-U+009F, which include the 8-bit CSI U+009B). Without ESC and CSI no
bracketed-paste end sequence (``ESC [ 2 0 1 ~``, xterm ctlseqs) can be formed. Tab becomes
a space so that typed code keeps its shape without triggering completion.
"""

from __future__ import annotations

from atoll.core.errors import UsageError


def sanitize_typed_text(text: str) -> str:
    """Return ``text`` with C0/C1 controls, ESC and DEL removed (tabs become spaces)."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch == "\t":
            out.append(" ")
        elif code < 0x20 or 0x7F <= code <= 0x9F:
            continue
        else:
            out.append(ch)
    return "".join(out)


MAX_ENVIRON = 65536
"""Bytes of a process environment read to find its locale (Linux caps one string at 128 KiB,
MAX_ARG_STRLEN; the locale variables of a real shell sit well inside the first 64 KiB)."""

_LOCALE_VARS = ("LC_ALL", "LC_CTYPE", "LANG")


def environ_is_utf8(environ: bytes) -> bool:
    """Whether a process with ``/proc/PID/environ`` contents ``environ`` (NUL-separated
    ``K=V``) has a UTF-8 character type: the first of LC_ALL, LC_CTYPE, LANG that is set
    and non-empty decides (POSIX.1-2017 8.2, "Internationalization Variables"); none set
    means the POSIX locale, which is not UTF-8. Truncated input is read as far as it goes."""
    found: dict[str, str] = {}
    for entry in environ[:MAX_ENVIRON].split(b"\0"):
        key, sep, value = entry.partition(b"=")
        name = key.decode("ascii", "replace")
        if sep and name in _LOCALE_VARS and value and name not in found:
            found[name] = value.decode("ascii", "replace")
    for name in _LOCALE_VARS:
        if name in found:
            codeset = found[name].partition(".")[2].partition("@")[0].lower()
            return codeset in ("utf-8", "utf8")
    return False


def foreground_pgid(stat: bytes) -> int | None:
    """The terminal's foreground process group (``tpgid``) from ``/proc/PID/stat``
    contents, or None when it cannot be read (proc(5): field 8, after the ``(comm)``
    field, which may itself hold spaces and parentheses, so it is split at the last ``)``)."""
    _, sep, rest = stat[:4096].rpartition(b")")
    fields = rest.split()
    if not sep or len(fields) < 6 or not fields[5].isdigit() or len(fields[5]) > 10:
        return None
    pgid = int(fields[5])
    return pgid if pgid > 0 else None


def stty_strips_bit8(stty_a: str) -> bool:
    """Whether ``stty -a`` output says the tty strips input to 7 bits (``istrip``, or a
    7-bit character size ``cs7``), termios(3). Anything unreadable counts as stripping."""
    words = stty_a[:16384].split()
    return not ("-istrip" in words and "cs8" in words)


def check_typable(text: str, *, eight_bit_safe: bool) -> None:
    """Raise UsageError (exit 2) unless ``text`` (already sanitised) may be sent as bytes.

    In a pane whose locale is not UTF-8, or whose tty strips bit 8, each byte of a
    non-ASCII character reaches the program on its own: readline reads a byte >= 0x80 as a
    Meta key (``convert-meta``, bash(1) "Readline Variables"), so U+2C63 (E2 B1 A3) becomes
    M-b M-1 M-# and ends in accept-line, and under ``istrip`` the 0x8D of U+010D becomes CR.
    Only ASCII printable text is safe there."""
    if eight_bit_safe:
        return
    bad = next((ch for ch in text if not " " <= ch <= "~"), None)
    if bad is not None:
        raise UsageError(
            f"refusing to type U+{ord(bad):04X}: the pane's locale is not UTF-8 or its "
            "terminal strips bit 8, so its bytes would act as keys; type ASCII only"
        )


def plain_screen_text(text: str) -> str:
    """Screen text safe to print on the operator's terminal: line feeds and tabs kept, every
    other C0 control, ESC, DEL and C1 control (U+0080-U+009F) removed, so no escape sequence
    (OSC 52 clipboard, title, CSI) of a peer or an agent's server reaches the terminal."""
    return "".join(ch for ch in text if ch in "\n\t" or not (
        ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F))
