"""Where on an agent's screen each kind of marker counts (shared/DESIGN.md decision 5).

A marker counts only where the CLI itself draws it, not anywhere in the last lines: text
the model wrote ("press esc to interrupt the build"), text typed into the prompt box, or a
status line left in the scrollback above a later divider must not change the status. So
each screen is cut into three regions:

- ``busy``: the CLI's own status line(s) and footer, where "esc to interrupt" and spinner
  lines appear while a turn runs (the footer below the input box, and the line right above
  the box where the spinner or "• Working (…)" sits);
- ``latest``: the transcript after the last prompt the user sent (an error banner counts
  only there: a later turn that succeeded makes an earlier error history);
- ``tail``: the last lines of the screen (dialogs, which replace the input box).

The layouts were read off screens captured from the real CLIs (tests/fixtures/screens):
Claude Code draws its input between two rules (``────``, or ``╭─``/``╰─`` before 2.0) with
the footer below; Codex draws its composer as the last ``›`` line with the footer below and
its status line above; Gemini CLI draws `` > `` as its input line; Aider ends with its
``>`` prompt; OpenCode is full-screen with its status bar on the last lines. A screen whose
layout is not recognised (a dialog replaced the input) falls back to its bottom lines.
Pure: no I/O.
"""

from __future__ import annotations

import re

import msgspec

_RULE = re.compile(r"^\s*(?:[─━]{12,}|[╭╰]─{8,}.*)\s*$")
_CLAUDE_ECHO = re.compile(r"^\s*[❯>]\s+\S")
_CODEX_COMPOSER = re.compile(r"^\s*›(?:\s|$)")
_GEMINI_INPUT = re.compile(r"^\s*(?:│\s*)?>\s")
_AIDER_ECHO = re.compile(r"^>\s*\S")
_AIDER_PROMPT = re.compile(r"^>\s*$")
_CLAUDE_PROMPT = re.compile(r"^\s*(?:│\s*)?[❯>](?:\s|$)")
_CLAUDE_SPINNER = re.compile(r"^\s*[·✢✳✶✻✽*]\s")
_OPENCODE_TURN = re.compile(r"^\s*▣\s")
_OPENCODE_BAR = re.compile(r"^\s*┃")
_MENU_ITEM = re.compile(r"^\s*[›❯>]\s*\d+\.\s")

MAX_ROWS = 200  # a pane taller than this is read from its bottom 200 rows
FALLBACK_BUSY_LINES = 6
FALLBACK_LATEST_LINES = 60
# Claude Code draws tips, todo lists and queued prompts between its spinner line and the
# input box (indented or ``⎿``-prefixed); at most this many lines are skipped to reach it.
STATUS_SEARCH_LINES = 12


class Regions(msgspec.Struct, frozen=True):
    """The text of each region (lines joined by newlines); see the module docstring."""

    tail: str
    busy: str
    latest: str
    dialog: str | None = None  # where dialogs count, when not the whole tail


def tail_rows(screen: str, lines: int) -> list[str]:
    """The last ``lines`` rows of ``screen`` after dropping trailing blank rows."""
    rows = screen.rstrip("\n").split("\n")
    while rows and not rows[-1].strip():
        rows.pop()
    return rows[-lines:]


def _join(rows: list[str]) -> str:
    return "\n".join(rows)


def _after_last(rows: list[str], rx: re.Pattern[str], fallback: int) -> list[str]:
    """Rows after the last one matching ``rx`` (the user's newest prompt). With none on
    screen the prompt scrolled off, so every row shown came after it (``fallback`` caps
    how many are looked at)."""
    for i in range(len(rows) - 1, -1, -1):
        if rx.search(rows[i]) and not _MENU_ITEM.search(rows[i]):
            return rows[i + 1 :]
    return rows[-fallback:]


def _status_lines(above: list[str]) -> list[str]:
    """The bottom non-blank lines of ``above`` up to and including the first line that is
    not an indented continuation (the spinner or status line right above an input box)."""
    out: list[str] = []
    for row in reversed(above[-STATUS_SEARCH_LINES:]):
        if not row.strip():
            continue
        out.append(row)
        if not re.match(r"^\s{2,}\S|^\s*⎿", row):
            break
    return out[::-1]


def _fallback(rows: list[str], echo: re.Pattern[str] | None = None) -> Regions:
    """No input line found (a dialog replaced it): the bottom lines are the status region,
    the rows after the newest prompt the latest."""
    latest = (_after_last(rows, echo, FALLBACK_LATEST_LINES) if echo is not None
              else rows[-FALLBACK_LATEST_LINES:])
    return Regions(_join(rows), _join(rows[-FALLBACK_BUSY_LINES:]), _join(latest))


def _claude(rows: list[str]) -> Regions:
    rules = [i for i, r in enumerate(rows) if _RULE.search(r)]
    # the input box: the last two rules, the lower one near the bottom (footer below it),
    # the prompt ("❯", "│ >") on the line below the upper one
    if (len(rules) >= 2 and len(rows) - rules[-1] <= 8 and rules[-1] - rules[-2] <= 12
            and _CLAUDE_PROMPT.search(rows[rules[-2] + 1])):
        top, bottom = rules[-2], rules[-1]
        above, footer = rows[:top], rows[bottom + 1 :]
        # the line above the box counts only when it is the spinner line (a glyph of
        # Claude Code's spinner first), not the model's prose ("⏺ ... esc to interrupt")
        status = _status_lines(above)
        busy = (status if status and _CLAUDE_SPINNER.search(status[0]) else []) + footer
        # a dialog replaces the input box, so with the box drawn no dialog is open: the
        # text of answered ones (trust, bypass warning) stays in an inline TUI's scrollback
        return Regions(_join(rows), _join(busy),
                       _join(_after_last(above, _CLAUDE_ECHO, FALLBACK_LATEST_LINES)),
                       _join(footer))
    return _fallback(rows, _CLAUDE_ECHO)


def _codex(rows: list[str]) -> Regions:
    for i in range(len(rows) - 1, max(-1, len(rows) - 10), -1):
        if _CODEX_COMPOSER.search(rows[i]) and not _MENU_ITEM.search(rows[i]):
            above, footer = rows[:i], rows[i + 1 :]
            return Regions(_join(rows), _join(_status_lines(above) + footer),
                           _join(_after_last(above, _CODEX_COMPOSER, FALLBACK_LATEST_LINES)))
    return _fallback(rows, _CODEX_COMPOSER)


def _gemini(rows: list[str]) -> Regions:
    for i in range(len(rows) - 1, max(-1, len(rows) - 10), -1):
        if _GEMINI_INPUT.search(rows[i]):
            # the spinner line sits above the rule, a hint line ("Shift+Tab to accept
            # edits") and the input line
            above = [r for r in rows[:i] if not _RULE.search(r)]
            near = [r for r in above if r.strip()][-3:]
            latest = _after_last(above, _GEMINI_INPUT, FALLBACK_LATEST_LINES)
            # dialogs of the newest turn; the trust dialog's text stays above after a restart
            return Regions(_join(rows), _join(near + rows[i + 1 :]), _join(latest),
                           _join(latest + rows[i + 1 :]))
    return _fallback(rows, _GEMINI_INPUT)


def _aider(rows: list[str]) -> Regions:
    if rows and _AIDER_PROMPT.search(rows[-1]):
        above = rows[:-1]
        return Regions(_join(rows), _join(rows[-2:]),
                       _join(_after_last(above, _AIDER_ECHO, FALLBACK_LATEST_LINES)))
    return Regions(_join(rows), _join(rows[-2:]),
                   _join(_after_last(rows, _AIDER_ECHO, FALLBACK_LATEST_LINES)))


def _opencode_blocks(rows: list[str]) -> list[int]:
    """Start indexes of the ``┃`` blocks in ``rows`` (runs of rows drawn with OpenCode's
    left bar: a prompt the user sent, or an error banner in place of an answer)."""
    starts: list[int] = []
    for i, r in enumerate(rows):
        if _OPENCODE_BAR.search(r) and (i == 0 or not _OPENCODE_BAR.search(rows[i - 1])):
            starts.append(i)
    return starts


def _opencode_turn(seg: list[str]) -> list[str]:
    """The newest turn of ``seg`` (message-list rows ending with a ``▣`` line). A failed
    turn draws no ``▣`` line of its own once a later turn is drawn, so one segment may
    hold [prompt][error][prompt][answer]▣ (seen in the captures): with answer text after
    the last ``┃`` block, that block is the newest prompt; with none, the last block is
    the newest turn's error banner and the block before it its prompt."""
    starts = _opencode_blocks(seg)
    if not starts:
        return seg
    last = starts[-1]
    end = next((i for i in range(last, len(seg)) if not _OPENCODE_BAR.search(seg[i])), len(seg))
    answered = any(r.strip() and not _OPENCODE_TURN.search(r) for r in seg[end:])
    if answered:
        return seg[last:]
    return seg[starts[-2]:] if len(starts) >= 2 else seg


def _opencode(rows: list[str]) -> Regions:
    # full screen: the status bar is the last lines. Each turn of the message list ends
    # with a "▣  Build · MODEL" line, so the newest turn is the rows after the one before
    # the last such line, through the last one (narrowed by _opencode_turn)
    marks = [i for i, r in enumerate(rows) if _OPENCODE_TURN.search(r)]
    if marks:
        start = marks[-2] + 1 if len(marks) >= 2 else 0
        latest = _opencode_turn(rows[start : marks[-1] + 1])
    else:
        latest = rows[-30:]
    return Regions(_join(rows), _join(rows[-3:]), _join(latest))


_LAYOUTS = {"claude": _claude, "codex": _codex, "gemini": _gemini, "aider": _aider,
            "opencode": _opencode}


def regions(layout: str, screen: str, lines: int) -> Regions:
    """Cut ``screen`` into regions for ``layout`` (an agent name; any other value gets the
    last ``lines`` rows as every region). ``tail`` is the last ``lines`` rows; the
    ``latest`` region may reach higher, up to ``MAX_ROWS`` rows (an inline TUI such as
    Codex draws a fresh session's transcript from the top, above a screenful of blank rows).
    """
    rows = tail_rows(screen, MAX_ROWS)
    fn = _LAYOUTS.get(layout)
    if fn is None:
        text = _join(rows[-lines:])
        return Regions(text, text, text)
    reg = fn(rows)
    return Regions(_join(rows[-lines:]), reg.busy, reg.latest, reg.dialog)
