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
    """Compiled patterns of one agent. ``tail_lines``: how many bottom lines are examined;
    ``waiting_reasons``/``error_reasons`` run parallel to ``waiting``/``error``; ``layout``
    names the screen layout of :mod:`atoll.core.screen` that says where each kind counts."""

    waiting: tuple[re.Pattern[str], ...] = ()
    running: tuple[re.Pattern[str], ...] = ()
    tail_lines: int = 40
    waiting_reasons: tuple[str, ...] = ()
    error: tuple[re.Pattern[str], ...] = ()
    error_reasons: tuple[str, ...] = ()
    layout: str = ""


class _Source(msgspec.Struct, frozen=True):
    """The pattern text of one agent; compiled on first use (compiling every agent's
    patterns at import cost ~4 ms of each ``atoll ls``, measured with -X importtime).
    ``waiting`` and ``error`` are (reason, pattern) pairs, first match wins."""

    waiting: tuple[tuple[str, str], ...] = ()
    running: tuple[str, ...] = ()
    tail_lines: int = 40
    error: tuple[tuple[str, str], ...] = ()
    layout: str = ""


def _c(*patterns: str) -> tuple[str, ...]:
    return patterns


def _r(reason: str, *patterns: str) -> tuple[tuple[str, str], ...]:
    return tuple((reason, p) for p in patterns)


def _wrap_tolerant(pattern: str) -> str:
    """``pattern`` with each literal space (outside a character class) as ``\\s+``: a
    dialog line wraps at the pane's width (an 80-column pane splits "Would you like to
    proceed?" over two lines, seen in the captures)."""
    out: list[str] = []
    in_class = escaped = False
    for ch in pattern:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\":
            out.append(ch)
            escaped = True
        elif in_class:
            out.append(ch)
            in_class = ch != "]"
        elif ch == "[":
            out.append(ch)
            in_class = True
        elif ch == " ":
            out.append(r"\s+")
        else:
            out.append(ch)
    return "".join(out)


def _compile(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(_wrap_tolerant(p), re.IGNORECASE | re.MULTILINE) for p in patterns)


# Reasons (the ``reason`` field of ``atoll ls --json``): waiting = permission, question,
# plan, sign-in, trust, confirm, setup, hooks-review, password, host-key; error = login,
# rate-limit, model-unavailable, overloaded, billing.

# Shared by every agent (and the only ones a plain shell or a custom command gets): prompts
# a human must answer. The y/n ones are anchored at the end of the screen (``\Z``), so an
# answered question still in the scrollback does not count.
_GENERIC_WAITING = (
    *_r("question", r"[(\[](?:y/n|y/n/a|yes/no)[)\]]\??:?\s*\Z"),  # pip "(Y/n)?", apt "[Y/n]"
    *_r("confirm", r"press enter to continue"),  # claude onboarding, codex sign-in
    *_r("password", r"^\[sudo\] password for [^:\s]+:\s*\Z"),  # sudo
    *_r("host-key",
        r"Are you sure you want to continue connecting \(yes/no(?:/\[fingerprint\])?\)\?\s*\Z"),
)

# Error banners of OpenAI-compatible APIs as the CLIs print them (the API's own error
# "code"/"type" values and HTTP status lines; OpenAI API reference, "Error codes").
_OPENAI_ERRORS = (
    *_r("login", r"\b401 Unauthorized\b", r"invalid_api_key", r"Incorrect API key provided",
        r"AuthenticationError", r"not able to authenticate you", r"Invalid API key",
        r"token (?:has )?expired", r"(?:please )?(?:log|sign) ?in again"),
    *_r("rate-limit", r"\b429 Too Many Requests\b", r"rate_limit_exceeded",
        r"Rate limit reached", r"RateLimitError", r"has rate limited you",
        r"hit your usage limit", r"insufficient_quota", r"Quota exceeded"),
    *_r("model-unavailable", r"model_not_found", r"does not exist or you do not have access",
        r"NotFoundError", r"model (?:is )?not (?:found|supported)", r"\b404 Not Found\b"),
    *_r("billing", r"billing_hard_limit", r"check your plan and billing"),
)

_SOURCES: dict[str, _Source] = {
    # Claude Code: an inline TUI; the prompt box and footer sit at the bottom.
    "claude": _Source(
        waiting=(
            # plan approval (ExitPlanMode): "Would you like to proceed?" ... "No, keep planning"
            *_r("plan", r"No, keep planning", r"Would you like to proceed\?",
                r"Ready to code\?", r"has written up a plan and is ready to execute",
                r"Tell Claude what to change"),
            *_r("permission",
                r"Do you want to proceed\?",  # tool permission ("Bash command ... Do you want")
                r"Do you want to allow ",  # web fetch / connection permissions
                r"Do you want to make this edit to ",  # Edit, older and newer wording
                r"Do you want to (?:create|overwrite|delete) \S",  # Write
                r"No, and tell Claude what to do differently",  # older permission dialogs
                r"Esc to cancel · Tab to amend",  # footer of every permission dialog
                r"^\s*(?:[❯>]\s*)?\d\.\s*Allow\b.*\n(?:.*\n){0,3}.*\bDeny\b",  # browser tool
                r"\bDeny \(esc\)"),
            *_r("question",
                r"Enter to select · ↑/↓ to navigate · Esc to cancel"),  # AskUserQuestion
            *_r("trust", r"Yes, I trust this folder",  # workspace trust dialog
                r"Do you trust the files in this folder\?"),  # trust dialog before 2.0
            *_r("confirm", r"Yes, I accept"),  # --dangerously-skip-permissions warning
            *_r("setup", r"Choose the text style that looks best with your terminal"),
            *_r("sign-in", r"Select login method",  # reached when the API is reachable
                r"Paste code here if prompted",  # OAuth sign-in waiting for the code
                r"Do you want to use this API key\?"),
        ),
        # footer while a turn runs ("esc to interrupt"; the key is the "chat:cancel"
        # binding, so "ctrl+c to interrupt" where it is rebound), and the spinner line
        # itself ("✻ Caramelizing… (12s · ↓ 200 tokens)", "✻ Connection refused … ·
        # retrying in 2s"), which a bypass-permissions or background-shell footer leaves
        # as the only busy marker
        running=_c(r"\b(?:esc|ctrl\+\w|[\w+-]{1,16}) to interrupt\b",
                   r"^\s*[·✢✳✶✻✽*]\s+[\w' -]{1,40}(?:…|\.\.\.)",
                   r"^\s*[·✢✳✶✻✽*]\s.*·\s*retrying in \d"),
        error=(
            *_r("login", r"Please run /login", r"Invalid API key", r"Not logged in",
                r"Invalid bearer token", r"OAuth token revoked",
                r"OAuth token (?:has )?expired", r"authentication_error",
                r"API Error: 40[13]\b", r"\(40[13]\)"),
            *_r("rate-limit", r"API Error: 429\b", r"rate_limit_error", r"\(429\)",
                r"hit your (?:\w+ )?limit", r"usage limit reached", r"Rate limit reached",
                r"limit reached\s*[∙·|]\s*resets"),  # "5-hour limit reached ∙ resets 3pm"
            *_r("model-unavailable", r"issue with the selected model",
                r"may not exist or you may not have access", r"not_found_error",
                r"API Error: 404\b", r"\(404\)"),
            *_r("overloaded", r"API Error: 529\b", r"overloaded_error", r"\(529\)",
                r"Repeated 529", r"API Error: 5\d\d\b.*\bOverloaded\b"),
            *_r("billing", r"Credit balance is too low"),
        ),
        tail_lines=40,
        layout="claude",
    ),
    # Codex: sign-in and trust screens are full screens; approvals are inline.
    "codex": _Source(
        waiting=(
            *_r("sign-in",
                r"Welcome to Codex, OpenAI's command-line coding agent",  # onboarding
                r"Sign in with ChatGPT", r"Paste or type your API key",
                r"Finish signing in via your browser"),
            *_r("trust", r"Trust this folder\? Codex can read, edit, and run files here",
                r"Do you trust the contents of this directory\?"),
            *_r("hooks-review", r"Hooks need review"),  # hooks.json not yet trusted
            # request_user_input's form ("Question 1/3 … enter to submit answer")
            *_r("question", r"^\s*Question \d+/\d+", r"enter to submit answer",
                r"enter to submit all"),
            *_r("permission",
                r"Would you like to run the following command\?",
                r"Would you like to make the following edits\?",
                r"Would you like to grant these permissions\?",
                r"Would you like to send input to the existing terminal\?",
                r"Allow the .{1,80}? MCP server to run tool",  # MCP tool approval
                r"No, and tell Codex what to do differently",  # every approval's last choice
                r"enter to submit \| esc to cancel",
                r"Press enter to confirm or esc to cancel"),  # footer of approval dialogs
        ),
        # the status line right above the composer: "• Working (5s • esc to interrupt)",
        # "Reconnecting... 4/5 (3s • esc to interrupt)"
        running=_c(r"•\s*esc to interrupt\)"),
        error=(
            *_r("login", r"unexpected status 40[13]\b"),
            *_r("rate-limit", r"last status: 429", r"unexpected status 429\b"),
            *_r("model-unavailable", r"unexpected status 404\b"),
            *_OPENAI_ERRORS,
        ),
        tail_lines=40,
        layout="codex",
    ),
    "gemini": _Source(
        waiting=(
            *_r("trust", r"Do you trust the files in this folder\?"),
            *_r("sign-in", r"How would you like to authenticate for this project\?",
                r"Enter Gemini API Key", r"Enter the authorization code:"),
            *_r("permission",
                r"Allow execution\b",  # shell / MCP tool ("Allow execution of [Shell]?")
                r"Apply this change\?",  # edit confirmation
                r"Waiting for user confirmation"),
        ),
        # "⠏ Thinking... (esc to cancel, 3s)"; dialogs say "Esc to cancel, Ctrl+C ..." instead
        running=_c(r"\(esc to cancel, \d"),
        error=(
            *_r("login", r"API key not valid", r"UNAUTHENTICATED", r'"code":\s*40[13]\b',
                r"API_KEY_INVALID"),
            *_r("rate-limit", r"RESOURCE_EXHAUSTED", r'"code":\s*429\b', r"Quota exceeded",
                r"exhausted your (?:\w+ )?quota", r"reached your daily .{0,40}quota limit",
                r"Usage limit reached", r"rate limit"),
            *_r("overloaded", r"model is overloaded"),
            *_r("model-unavailable", r"is not found for API version", r'"code":\s*404\b',
                r"NOT_FOUND", r"you don't have access to \S+",  # a dialog: Keep trying/Stop
                r"Contact them to enable the"),
        ),
        tail_lines=40,
        layout="gemini",
    ),
    # OpenCode: a full-screen TUI, so dialogs can be anywhere; look at the whole screen.
    "opencode": _Source(
        waiting=(
            *_r("permission", r"△ Permission required", r"Allow once\s+Allow always\s+Reject",
                r"Allow for session"),  # the Go releases' dialog: Allow (a) / for session (s)
            *_r("question", r"↑↓ select\s+enter submit\s+esc dismiss"),  # question tool
            *_r("sign-in", r"Connect a provider\s+esc\s*$",  # /connect dialog title
                r"^\s*API key\s+esc\s*$"),  # API key dialog title
        ),
        # status bar while busy ("■■⬝⬝ esc interrupt"), or while it retries an API error
        # ("⬝⬝⬝ Rate limit reached … [retrying in 3s attempt #2]")
        running=_c(r"esc interrupt", r"\[retrying in \d+\w* attempt #\d+\]"),
        error=_OPENAI_ERRORS,
        tail_lines=60,
        layout="opencode",
    ),
    # Aider: a line-mode REPL; its questions end the screen, so anchor them at the end.
    "aider": _Source(
        waiting=(
            *_r("question",
                r"\(Y\)es/\(N\)o(?:/\(A\)ll)?(?:/\(S\)kip all)?(?:/\(D\)on't ask again)?"
                r" \[(?:Yes|No)\]:\s*\Z"),
            *_r("sign-in", r"Waiting up to \d+ minutes for you to finish in the browser"),
        ),
        running=_c(r"^\W*Waiting for \S+\s*\Z"),  # spinner "█░  Waiting for openai/gpt-4o"
        error=_OPENAI_ERRORS,
        tail_lines=40,
        layout="aider",
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
    return AgentPatterns(
        waiting=_compile(tuple(p for _, p in src.waiting)),
        running=_compile(src.running),
        tail_lines=src.tail_lines,
        waiting_reasons=tuple(r for r, _ in src.waiting),
        error=_compile(tuple(p for _, p in src.error)),
        error_reasons=tuple(r for r, _ in src.error),
        layout=src.layout,
    )


@functools.cache
def generic_waiting() -> tuple[re.Pattern[str], ...]:
    """The prompts every agent (and a plain shell) can show that need a human."""
    return _compile(tuple(p for _, p in _GENERIC_WAITING))


GENERIC_REASONS: tuple[str, ...] = tuple(r for r, _ in _GENERIC_WAITING)

