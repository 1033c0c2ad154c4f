"""Sanitising text typed into a pane (shared/DESIGN.md decision 10).

Everything that could act as a key press beyond a printable character is removed:
C0 controls (U+0000-U+001F, which include Enter, Tab, Ctrl-C and ESC), DEL (U+007F) and
C1 controls (U+0080-U+009F, which include the 8-bit CSI U+009B). Without ESC and CSI no
bracketed-paste end sequence (``ESC [ 2 0 1 ~``, xterm ctlseqs) can be formed. Tab becomes
a space so that typed code keeps its shape without triggering completion.
"""

from __future__ import annotations


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
