"""Per-agent screen patterns for the status classifier (shared/DESIGN.md decision 5).

Each agent has regular expressions matched against the last lines of its pane (the bottom
of the screen, trailing blank lines removed). ``waiting`` means the agent needs a human
(sign-in, trust, permission, a question); ``running`` means it is visibly busy (spinner,
"esc to interrupt"). Patterns were written against screens captured from the real CLIs;
the fixtures live in ``tests/fixtures/screens`` with a manifest of the expected status.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

KNOWN_AGENTS: tuple[str, ...] = ("claude", "codex", "gemini", "opencode", "aider", "shell")


@dataclass(frozen=True)
class AgentPatterns:
    """Compiled patterns of one agent. ``tail_lines``: how many bottom lines are examined."""

    waiting: tuple[re.Pattern[str], ...] = ()
    running: tuple[re.Pattern[str], ...] = ()
    tail_lines: int = 40
    extra: dict[str, str] = field(default_factory=dict)


def _c(*patterns: str) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p, re.IGNORECASE | re.MULTILINE) for p in patterns)


# Shared by every agent: generic prompts that a human must answer.
GENERIC_WAITING = _c(
    r"\(y/n\)\s*$",
    r"\[y/N\]\s*$",
    r"\[Y/n\]\s*$",
    r"press enter to continue",
)

AGENT_PATTERNS: dict[str, AgentPatterns] = {
    "claude": AgentPatterns(
        waiting=_c(
            r"Do you want to proceed\?",
            r"Do you trust the files in this folder\?",
            r"Select login method",
            r"Choose the text style",
            r"❯\s*1\.\s*Yes",
        ),
        running=_c(r"esc to interrupt"),
    ),
    "codex": AgentPatterns(
        waiting=_c(r"Sign in with ChatGPT", r"Allow command\?", r"Approve"),
        running=_c(r"esc to interrupt", r"Esc to interrupt"),
    ),
    "gemini": AgentPatterns(
        waiting=_c(r"Get started", r"Login with Google", r"Allow execution", r"Waiting for user"),
        running=_c(r"esc to cancel"),
    ),
    "opencode": AgentPatterns(
        waiting=_c(r"Permission required", r"Allow once"),
        running=_c(r"esc interrupt", r"working"),
    ),
    "aider": AgentPatterns(
        waiting=_c(r"\(Y\)es/\(N\)o", r"Open .* in your browser\?", r"Login to OpenRouter"),
        running=_c(r"Waiting for .*\.\.\.", r"Thinking"),
    ),
    "shell": AgentPatterns(),
}


def patterns_for(agent: str) -> AgentPatterns:
    """Patterns of ``agent``; an unknown or custom agent gets the empty set."""
    return AGENT_PATTERNS.get(agent, AgentPatterns())
