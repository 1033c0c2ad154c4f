"""Wiring each agent's own hooks to ``atoll hook`` (docs/hooks.md): pure merges of the
agents' configuration files. No I/O: the service layer reads and writes the files.

Every merge is idempotent and keeps what the user has: an event that already runs some
``atoll hook`` command is left alone; other hooks of the same event stay and atoll's entry
is appended beside them. The configurations are the ones verified against the installed
CLIs in docs/hooks.md (Claude Code 2.1.329, Codex 0.169.0, Gemini CLI 0.61.0, OpenCode
1.18.33, Aider 0.86.2).
"""

from __future__ import annotations

import copy
import re
from typing import Any

import msgspec

HOOKABLE: tuple[str, ...] = ("claude", "codex", "gemini", "opencode", "aider")
MARK = "atoll hook "

# event -> (matcher or None, atoll hook state); docs/hooks.md has why each one
CLAUDE: tuple[tuple[str, str | None, str], ...] = (
    ("SessionStart", None, "idle"),
    ("UserPromptSubmit", None, "running"),
    ("PermissionRequest", "*", "waiting"),
    ("PostToolUse", "*", "running"),
    ("Notification", "permission_prompt|elicitation_dialog", "waiting"),
    ("Notification", "idle_prompt", "idle"),
    ("Stop", None, "idle"),
    ("StopFailure", None, "idle"),
)
CODEX: tuple[tuple[str, str | None, str], ...] = (
    ("UserPromptSubmit", None, "running"),
    ("PermissionRequest", None, "waiting"),
    ("PostToolUse", None, "running"),
    ("Stop", None, "idle"),
)
GEMINI: tuple[tuple[str, str | None, str], ...] = (
    ("SessionStart", None, "idle"),
    ("BeforeAgent", None, "running"),
    ("Notification", "ToolPermission", "waiting"),
    ("AfterTool", ".*", "running"),
    ("AfterAgent", None, "idle"),
)
TABLES = {"claude": CLAUDE, "codex": CODEX, "gemini": GEMINI}

OPENCODE_PLUGIN = """\
// atoll: tell atoll what this OpenCode session is doing (docs/hooks.md). Managed by
// `atoll hooks install`; edit freely, atoll leaves a changed file alone.
export const AtollPlugin = async ({ $ }) => {
  const mark = (state) => $`atoll hook ${state}`.quiet().nothrow()
  return {
    event: async ({ event }) => {
      switch (event.type) {
        case "session.status": // properties.status.type: "busy" | "retry" | "idle"
          await mark(event.properties.status.type === "idle" ? "idle" : "running")
          break
        case "permission.asked":
        case "question.asked":
          await mark("waiting")
          break
        case "permission.replied":
        case "question.replied":
        case "question.rejected":
          await mark("running")
          break
      }
    },
  }
}
"""
AIDER_KEYS = (("notifications", "true"), ("notifications-command", "atoll hook idle"))


class HookConfigError(ValueError):
    """A configuration file atoll cannot merge into (not a JSON object, wrong shapes)."""


def _commands(group: Any) -> list[str]:
    hooks = group.get("hooks") if isinstance(group, dict) else None
    if not isinstance(hooks, list):
        return []
    return [str(h.get("command", "")) for h in hooks if isinstance(h, dict)]


def _wired(groups: list[Any], matcher: str | None) -> bool:
    for g in groups:
        if not isinstance(g, dict) or (g.get("matcher") or None) != matcher:
            continue
        if any(c.startswith(MARK) for c in _commands(g)):
            return True
    return False


def merge_json_hooks(agent: str, doc: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``doc`` (a settings/hooks JSON object of ``agent``) with atoll's hooks added; also
    the events added (empty: already wired). Raises HookConfigError on a wrong shape."""
    if not isinstance(doc, dict):
        raise HookConfigError("not a JSON object")
    out = copy.deepcopy(doc)
    hooks = out.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise HookConfigError('"hooks" is not an object')
    added: list[str] = []
    for event, matcher, state in TABLES[agent]:
        groups = hooks.setdefault(event, [])
        if not isinstance(groups, list):
            raise HookConfigError(f'"hooks.{event}" is not a list')
        if _wired(groups, matcher):
            continue
        group: dict[str, Any] = {"hooks": [{"type": "command", "command": MARK + state}]}
        if matcher is not None:
            group = {"matcher": matcher, **group}
        groups.append(group)
        added.append(event if matcher is None else f"{event}[{matcher}]")
    return out, added


def json_hooks_missing(agent: str, doc: Any) -> list[str]:
    """The events of ``agent`` not yet wired in ``doc`` (all of them for a wrong shape)."""
    try:
        return merge_json_hooks(agent, doc)[1]
    except HookConfigError:
        return [e if m is None else f"{e}[{m}]" for e, m, _ in TABLES[agent]]


def parse_json(data: bytes) -> dict[str, Any]:
    """A JSON object from ``data`` (empty = {}); raises HookConfigError otherwise."""
    if not data.strip():
        return {}
    try:
        doc = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise HookConfigError(f"not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise HookConfigError("not a JSON object")
    return doc


def dump_json(doc: dict[str, Any]) -> bytes:
    """``doc`` as indented JSON with a final newline (what the CLIs write themselves)."""
    return msgspec.json.format(msgspec.json.encode(doc), indent=2) + b"\n"


def merge_aider_conf(text: str) -> tuple[str, list[str], list[str]]:
    """``.aider.conf.yml`` text with atoll's keys appended when absent; also the keys
    added and the keys set to something else (left as they are: the user's choice)."""
    added: list[str] = []
    conflicts: list[str] = []
    lines = text.splitlines()
    for key, value in AIDER_KEYS:
        rx = re.compile(rf"^{re.escape(key)}\s*:\s*(.*?)\s*$")
        found = [m.group(1).strip("'\"") for ln in lines if (m := rx.match(ln))]
        if not found:
            lines.append(f"{key}: {value}")
            added.append(key)
        elif found[-1] != value:
            conflicts.append(key)
    out = "\n".join(lines) + "\n" if lines else ""
    return out, added, conflicts
