"""What a tmux client may send to the operator's terminal: an incremental escape filter.

A tmux client attached to a server the operator does not own (an agent user's, a
container's, a peer's) writes whatever that server tells it to: the server owns its options,
and ``terminal-overrides`` / ``terminal-features`` strings or ``set-clipboard on`` make the
client emit OSC 52 (clipboard write), OSC 0/2 (title), DCS passthrough and any other bytes.
:class:`EscapeFilter` sits between that client and the operator's terminal and passes only
what drawing a tmux screen needs.

Its output is a concatenation of complete, allowed tokens, so the terminal is back in its
ground state after every token and nothing dropped can combine with what follows:

- printable text: ASCII 0x20-0x7E and valid UTF-8 for code points >= U+00A0 (C1 controls
  U+0080-U+009F, whether as raw 8-bit bytes or UTF-8 encoded, are dropped; so are invalid
  or overlong UTF-8 and surrogates); a character split across two ``feed`` calls is held;
- C0 controls BEL, BS, HT, LF, CR, SO, SI (BEL only rings: it cannot end anything, since no
  string sequence is ever passed to the terminal; SO/SI switch to and from the line-drawing
  set, which tmux uses for borders with terminfo ``smacs=^N``, as ``screen`` has);
- ESC sequences: ``ESC 7``/``ESC 8`` (save/restore cursor), ``ESC =``/``ESC >`` (keypad),
  ``ESC D``/``ESC E``/``ESC M`` (index, next line, reverse index), ``ESC ( C``/``ESC ) C``
  charset designation for C in ``0 A B`` (DEC line drawing, UK, ASCII);
- CSI sequences (``ESC [``) of at most :data:`MAX_CSI` bytes whose final byte and
  parameters are in :data:`CSI_PLAIN` (digits, ``;`` and ``:`` only: cursor motion, erase,
  insert/delete, scroll, SGR, margins), ``CSI Ps SP q`` (cursor style), ``CSI 4 h/l``
  (insert mode) and ``CSI ? Pm h/l`` for the DEC private modes in :data:`PRIVATE_MODES`.

Everything else is consumed and dropped: OSC, DCS (tmux passthrough among them), APC, PM and
SOS strings up to their terminator (ST, BEL, CAN or SUB; xterm ctlseqs "Controls beginning
with ESC"), every other ESC or CSI sequence (window operations ``CSI ... t``, device status
and attribute queries ``CSI n`` / ``CSI c`` / ``CSI > q``, DECRQM ``CSI ? Ps $ p``,
modifyOtherKeys ``CSI > Ps m``, kitty keyboard ``CSI > u``, soft/hard resets), other C0
controls and DEL. Sources: XTerm Control Sequences (invisible-island.net/xterm/ctlseqs),
ECMA-48 5th ed. section 5.4 (CSI shape: parameter bytes 0x30-0x3F, intermediate bytes
0x20-0x2F, final byte 0x40-0x7E), tmux 3.3a tty.c / tty-term.c (what a client emits).

State is O(1): string contents are never buffered, a CSI longer than :data:`MAX_CSI` is
dropped as it arrives, and at most 3 bytes of an unfinished UTF-8 character are held.
"""

from __future__ import annotations

import functools
import re

MAX_CSI = 64
"""Longest CSI sequence passed (bytes, introducer included); tmux's own are under 32."""

CSI_PLAIN = frozenset(b"@ABCDEFGHIJKLMPSTXZ`abdefgmrs")
"""Final bytes passed with plain numeric parameters (ECMA-48 8.3: ICH CUU CUD CUF CUB CNL
CPL CHA CUP CHT ED EL IL DL DCH SU SD ECH CBT HPA HPR REP VPA VPR HVP TBC SGR; DECSTBM ``r``,
DECSLRM ``s``)."""

PRIVATE_MODES = frozenset({
    1, 3, 4, 5, 6, 7, 8, 12, 25, 47, 66, 69, 1000, 1002, 1003, 1004, 1005, 1006, 1015,
    1047, 1048, 1049, 2004, 2026,
})
"""DEC private modes a tmux client sets or resets (``CSI ? Pm h/l``): cursor keys, column,
scroll, screen, origin, wrap, autorepeat, cursor blink/visibility, alternate screens, keypad,
margins, mouse reporting and its encodings, focus events, bracketed paste, synchronized
output (xterm ctlseqs "DEC Private Mode Set")."""

_ESC_SINGLE = frozenset(b"78=>DEM")
_CHARSETS = frozenset(b"0AB")
_C0_PASS = frozenset(b"\x07\x08\x09\x0a\x0d\x0e\x0f")
_CAN, _SUB, _ESC, _BEL = 0x18, 0x1A, 0x1B, 0x07
_UTF8_CHAR = (rb"\xc2[\xa0-\xbf]|[\xc3-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]"
              rb"|[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]"
              rb"|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
              rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}")  # well-formed, >= U+00A0 (RFC 3629)
_STRING_END = re.compile(rb"[\x07\x18\x1a\x1b]")
_ASCII_RUN = re.compile(rb"[\x20-\x7e\x07-\x0a\x0d-\x0f]+")
_UTF8_RUN = re.compile(rb"(?:" + _UTF8_CHAR + rb")+")
_WHOLE_CSI = re.compile(rb"\x1b\[[\x20-\x3f]{0,%d}[\x40-\x7e]" % (MAX_CSI - 3))

_GROUND, _ESCAPE, _CSI, _CSI_DROP, _STRING, _STRING_ESC, _CHARSET, _ESC_DROP = range(8)


@functools.lru_cache(maxsize=4096)  # a screen redraw repeats the same few sequences
def _csi_allowed(seq: bytes) -> bool:
    """``seq`` is a complete CSI (``ESC [`` ... final byte)."""
    body, final = seq[2:-1], seq[-1]
    if not body or body[0] not in b"<=>?":
        if all(0x30 <= c <= 0x3B for c in body):
            if final in CSI_PLAIN:
                return True
            if final in b"hl":
                return body == b"4"
        # DECSCUSR, CSI Ps SP q: the only intermediate byte passed
        return final == ord("q") and body.endswith(b" ") and (body[:-1].isdigit() or body == b" ") \
            and len(body) < 4
    if body[0] == ord("?") and final in b"hl":
        params = body[1:].split(b";")
        return all(p.isdigit() and len(p) <= 5 and int(p) in PRIVATE_MODES for p in params)
    return False


class EscapeFilter:
    """Incremental filter: ``feed(chunk) -> safe bytes``; chunks may split anywhere."""

    def __init__(self) -> None:
        self._state = _GROUND
        self._seq = bytearray()  # a pending CSI or ESC ( sequence, at most MAX_CSI bytes
        self._utf8 = bytearray()  # an unfinished UTF-8 character, at most 3 bytes
        self._need = 0

    def feed(self, data: bytes) -> bytes:
        """Filter ``data``; returns what may reach the terminal now."""
        out = bytearray()
        i, n = 0, len(data)
        while i < n:
            if self._state == _GROUND and not self._need:
                # fast paths for whole tokens, judged exactly as _step would judge them
                lead = data[i]
                if lead == _ESC:
                    tok = _WHOLE_CSI.match(data, i)
                    if tok is not None and _csi_allowed(tok.group()):
                        out += tok.group()
                elif lead >= 0xC2:
                    tok = _UTF8_RUN.match(data, i)
                    if tok is not None:
                        out += tok.group()
                else:
                    tok = _ASCII_RUN.match(data, i)
                    if tok is not None:
                        out += tok.group()
                if tok is not None:
                    i = tok.end()
                    continue
            elif self._state == _STRING:  # skip a string's body up to a possible end
                end = _STRING_END.search(data, i)
                if end is None:
                    break
                i = end.start()
            self._step(data[i], out)
            i += 1
        return bytes(out)

    def _step(self, b: int, out: bytearray) -> None:
        state = self._state
        if state == _GROUND:
            self._ground(b, out)
        elif state == _ESCAPE:
            self._escape(b, out)
        elif state == _CSI:
            if b in (_CAN, _SUB):
                self._state = _GROUND
            elif b == _ESC:
                self._state = _ESCAPE
            elif 0x40 <= b <= 0x7E:
                self._seq.append(b)
                if _csi_allowed(bytes(self._seq)):
                    out += self._seq
                self._state = _GROUND
            elif 0x20 <= b <= 0x3F and len(self._seq) < MAX_CSI - 1:
                self._seq.append(b)
            elif 0x20 <= b <= 0x3F:
                self._state = _CSI_DROP
            elif b < 0x20:
                pass  # C0 inside CSI: executed by terminals, dropped here
            else:
                self._state = _CSI_DROP
        elif state == _CSI_DROP:
            if b in (_CAN, _SUB) or 0x40 <= b <= 0x7E:
                self._state = _GROUND
            elif b == _ESC:
                self._state = _ESCAPE
        elif state == _STRING:
            if b in (_BEL, _CAN, _SUB):
                self._state = _GROUND
            elif b == _ESC:
                self._state = _STRING_ESC
        elif state == _STRING_ESC:
            # ESC \ is ST; any other ESC ends the string too (xterm), and starts a sequence
            if b == ord("\\"):
                self._state = _GROUND
            else:
                self._state = _ESCAPE
                self._escape(b, out)
        elif state == _CHARSET:
            if b in _CHARSETS:
                out += self._seq
                out.append(b)
            self._state = _GROUND if b != _ESC else _ESCAPE
        else:  # _ESC_DROP: nF intermediates until a final byte
            if 0x30 <= b <= 0x7E or b in (_CAN, _SUB):
                self._state = _GROUND
            elif b == _ESC:
                self._state = _ESCAPE

    def _ground(self, b: int, out: bytearray) -> None:
        if self._need:
            if 0x80 <= b <= 0xBF:
                self._utf8.append(b)
                self._need -= 1
                if not self._need:
                    self._emit_utf8(out)
                return
            self._utf8.clear()
            self._need = 0  # invalid: drop the partial character, look at b afresh
        if 0x20 <= b <= 0x7E:
            out.append(b)
        elif b == _ESC:
            self._state = _ESCAPE
        elif b in _C0_PASS:
            out.append(b)
        elif 0xC2 <= b <= 0xF4:
            self._utf8[:] = bytes((b,))
            self._need = 1 if b < 0xE0 else 2 if b < 0xF0 else 3
        # other C0, DEL, raw C1 (0x80-0x9F), stray continuation bytes, C0/C1/F5-FF: dropped

    def _emit_utf8(self, out: bytearray) -> None:
        raw = bytes(self._utf8)
        self._utf8.clear()
        try:
            cp = ord(raw.decode("utf-8"))
        except UnicodeDecodeError:  # overlong, surrogate or above U+10FFFF
            return
        if cp >= 0xA0:
            out += raw

    def _escape(self, b: int, out: bytearray) -> None:
        self._seq.clear()
        if b == ord("["):
            self._seq += b"\x1b["
            self._state = _CSI
        elif b in b"]PX^_":
            self._state = _STRING  # OSC, DCS, SOS, PM, APC
        elif b in b"()":
            self._seq += bytes((_ESC, b))
            self._state = _CHARSET
        elif b in _ESC_SINGLE:
            out += bytes((_ESC, b))
            self._state = _GROUND
        elif b == _ESC:
            self._state = _ESCAPE
        elif 0x20 <= b <= 0x2F:
            self._state = _ESC_DROP
        else:
            self._state = _GROUND  # any other final (RIS ``c``, ST, ...) or C0: dropped


def filter_all(data: bytes) -> bytes:
    """``data`` filtered in one go (for text that arrives whole, such as a peer's answer)."""
    return EscapeFilter().feed(data)
