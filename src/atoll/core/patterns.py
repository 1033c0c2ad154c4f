"""Per-agent screen patterns for the status classifier (shared/DESIGN.md decision 5).

Each agent has regular expressions matched against the last ``tail_lines`` lines of its
pane (the bottom of the screen, trailing blank lines removed first, so ``\\Z`` means "at the
end of the last line that has text"). ``waiting`` means the agent needs a human (sign-in,
trust, permission, a question); ``running`` means it is visibly busy (spinner, "esc to
interrupt"). The classifier gives waiting precedence over running; a screen that matches
neither is ``idle`` and the classifier falls back to activity timestamps.

Every pattern quotes text the real CLI prints. They were written against screens captured
from the real CLIs (claude 2.1.329, codex 0.169.0, gemini 0.61.0, opencode 1.18.33,
aider 0.86.2); the fixtures live in ``tests/fixtures/screens`` with a manifest of the
expected status, and ``tests/unit/test_patterns_fixtures.py`` checks every one.
"""

from __future__ import annotations

import functools
import re

import msgspec

KNOWN_AGENTS: tuple[str, ...] = ("claude", "codex", "gemini", "opencode", "aider", "shell")


class AgentPatterns(msgspec.Struct, frozen=True):
    """Compiled patterns of one agent. ``tail_lines``: how many bottom lines are examined."""

    waiting: tuple[re.Pattern[str], ...] = ()
    running: tuple[re.Pattern[str], ...] = ()
    tail_lines: int = 40


class _Source(msgspec.Struct, frozen=True):
    """The pattern text of one agent; compiled on first use (compiling every agent's
    patterns at import cost ~4 ms of each ``atoll ls``, measured with -X importtime)."""

    waiting: tuple[str, ...] = ()
    running: tuple[str, ...] = ()
    tail_lines: int = 40


def _c(*patterns: str) -> tuple[str, ...]:
    return patterns


def _compile(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p, re.IGNORECASE | re.MULTILINE) for p in patterns)


# Shared by every agent (and the only ones a plain shell or a custom command gets): prompts
# a human must answer. The y/n ones are anchored at the end of the screen (``\Z``), so an
# answered question still in the scrollback does not count.
_GENERIC_WAITING = _c(
    r"[(\[](?:y/n|y/n/a|yes/no)[)\]]\??:?\s*\Z",  # pip "Proceed (Y/n)?", apt "[Y/n]", "(y/n)"
    r"press enter to continue",  # claude onboarding, codex sign-in
    r"^\[sudo\] password for [^:\s]+:\s*\Z",  # sudo
    r"Are you sure you want to continue connecting \(yes/no(?:/\[fingerprint\])?\)\?\s*\Z",  # ssh
)

_SOURCES: dict[str, _Source] = {
    # Claude Code: an inline TUI; the prompt box and footer sit at the bottom.
    "claude": _Source(
        waiting=_c(
            r"Do you want to proceed\?",  # tool permission ("Bash command ... Do you want...")
            r"Do you want to allow ",  # web fetch / connection permissions
            r"Esc to cancel · Tab to amend",  # footer of every permission dialog
            r"Enter to select · ↑/↓ to navigate · Esc to cancel",  # AskUserQuestion
            r"Yes, I trust this folder",  # workspace trust dialog
            r"Choose the text style that looks best with your terminal",  # first-run theme
            r"Select login method",  # sign-in choice (reached when the API is reachable)
            r"Paste code here if prompted",  # OAuth sign-in waiting for the code
        ),
        running=_c(r"esc to interrupt"),  # footer while a turn runs (spinner, retries)
        tail_lines=40,
    ),
    # Codex: sign-in and trust screens are full screens; approvals are inline.
    "codex": _Source(
        waiting=_c(
            r"Welcome to Codex, OpenAI's command-line coding agent",  # onboarding / sign-in
            r"Sign in with ChatGPT",
            r"Paste or type your API key",
            r"Finish signing in via your browser",
            r"Trust this folder\? Codex can read, edit, and run files here",
            r"Hooks need review",  # hooks.json not yet trusted (at start)
            r"Would you like to run the following command\?",
            r"Would you like to make the following edits\?",
            r"Would you like to grant these permissions\?",
            r"Would you like to send input to the existing terminal\?",
            r"Press enter to confirm or esc to cancel",  # footer of approval dialogs
        ),
        # "Working (5s • esc to interrupt)", "Reconnecting... 4/5 (3s • esc to interrupt)"
        running=_c(r"•\s*esc to interrupt\)"),
        tail_lines=40,
    ),
    "gemini": _Source(
        waiting=_c(
            r"Do you trust the files in this folder\?",
            r"How would you like to authenticate for this project\?",
            r"Enter Gemini API Key",
            r"Enter the authorization code:",
            r"Allow execution of",  # shell / MCP tool confirmation
            r"Apply this change\?",  # edit confirmation
            r"Waiting for user confirmation",
        ),
        # "⠏ Thinking... (esc to cancel, 3s)"; dialogs say "Esc to cancel, Ctrl+C ..." instead
        running=_c(r"\(esc to cancel, \d"),
        tail_lines=40,
    ),
    # OpenCode: a full-screen TUI, so dialogs can be anywhere; look at the whole screen.
    "opencode": _Source(
        waiting=_c(
            r"△ Permission required",
            r"Allow once\s+Allow always\s+Reject",
            r"Connect a provider\s+esc\s*$",  # /connect dialog title
            r"^\s*API key\s+esc\s*$",  # API key dialog title
        ),
        running=_c(r"esc interrupt"),  # status bar while busy ("■■⬝⬝ esc interrupt")
        tail_lines=60,
    ),
    # Aider: a line-mode REPL; its questions end the screen, so anchor them at the end.
    "aider": _Source(
        waiting=_c(
            r"\(Y\)es/\(N\)o(?:/\(A\)ll)?(?:/\(S\)kip all)?(?:/\(D\)on't ask again)?"
            r" \[(?:Yes|No)\]:\s*\Z",
            r"Waiting up to \d+ minutes for you to finish in the browser",  # OpenRouter login
        ),
        running=_c(r"^\W*Waiting for \S+\s*\Z"),  # spinner "█░  Waiting for openai/gpt-4o"
        tail_lines=40,
    ),
    "shell": _Source(),
}

_NONE = AgentPatterns()


def patterns_for(agent: str) -> AgentPatterns:
    """Patterns of ``agent``; an unknown or custom agent gets the empty set."""
    return _compiled(agent) if agent in _SOURCES else _NONE


@functools.cache
def _compiled(agent: str) -> AgentPatterns:
    src = _SOURCES[agent]
    return AgentPatterns(_compile(src.waiting), _compile(src.running), src.tail_lines)


@functools.cache
def generic_waiting() -> tuple[re.Pattern[str], ...]:
    """The prompts every agent (and a plain shell) can show that need a human."""
    return _compile(_GENERIC_WAITING)

