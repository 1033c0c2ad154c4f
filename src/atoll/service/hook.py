"""``atoll hook EVENT``: an agent's own hooks report its state onto its pane."""

from __future__ import annotations

import os
import time

from atoll.core.errors import UsageError
from atoll.core.status import HOOK_EVENTS
from atoll.tmux.client import set_hook_state

MAX_PAYLOAD = 64 << 10
"""Bytes of a hook's JSON event read at most (Claude Code's are a few hundred)."""
PAYLOAD_WAIT = 0.5
"""Seconds to wait for a hook's stdin to be readable (it is written before the hook runs;
a pipe that stays empty must not hold the agent up for longer)."""
_ID_KEYS = ("session_id", "thread-id", "thread_id", "conversation_id")


def conversation_in(payload: bytes) -> str | None:
    """The agent's conversation id in a hook's JSON event, or None: Claude Code's hook
    input (and Codex's hooks.json and Gemini's) carries ``session_id``; Codex's
    ``notify`` argument ``thread-id``. Only an id that
    :data:`atoll.core.specs.CONVERSATION_RE` accepts is returned (the payload is the
    agent's, so hostile: no option-like, path-like or long value gets through)."""
    import json

    from atoll.core.specs import CONVERSATION_RE

    if not payload or len(payload) > MAX_PAYLOAD:
        return None
    try:
        event = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    if not isinstance(event, dict):
        return None
    for key in _ID_KEYS:
        value = event.get(key)
        if isinstance(value, str) and CONVERSATION_RE.fullmatch(value):
            return value
    return None


def read_payload(fd: int, extra: tuple[str, ...] = ()) -> bytes:
    """A hook's JSON event: from ``fd`` (stdin) only when it is a pipe or a file, never a
    terminal (OpenCode's and Aider's hooks inherit the agent's terminal: reading it would
    steal keystrokes), waiting at most :data:`PAYLOAD_WAIT` s and reading at most
    :data:`MAX_PAYLOAD` bytes; else the last extra argument when it is a JSON object
    (Codex's ``notify``). ``b""`` when there is none."""
    import select
    import stat

    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        mode = 0
    if stat.S_ISFIFO(mode) or stat.S_ISREG(mode) or stat.S_ISSOCK(mode):
        chunks: list[bytes] = []
        size = 0
        deadline = time.monotonic() + PAYLOAD_WAIT
        while size <= MAX_PAYLOAD:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                break
            try:
                chunk = os.read(fd, 1 << 14)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)
        if data.strip():
            return data
    if extra and extra[-1].startswith("{"):
        return extra[-1].encode("utf-8", "replace")
    return b""


def report(event: str, tmux_env: str | None, pane: str | None,
           payload: bytes = b"") -> str | None:
    """Set ``@atoll_state`` (and ``@atoll_state_time``) on the calling pane, and
    ``@atoll_conversation`` when ``payload`` (the hook's JSON event) names the agent's
    conversation (:func:`conversation_in`; ``atoll resume`` continues it).

    ``tmux_env`` is ``$TMUX`` (``socket,pid,session``) and ``pane`` is ``$TMUX_PANE``; the
    command talks to that exact socket, which is the caller's own server. Returns the state
    set (None for ``clear``). Raises UsageError for an unknown event or outside tmux.
    """
    key = event.lower()
    if key not in HOOK_EVENTS:
        raise UsageError(f"unknown hook event {event!r}: use one of {', '.join(HOOK_EVENTS)}")
    if not tmux_env or not pane or not pane.startswith("%") or not pane[1:].isdigit():
        raise UsageError("atoll hook must run inside a tmux pane ($TMUX and $TMUX_PANE unset)")
    socket = tmux_env.split(",")[0]
    if not os.path.isabs(socket):
        raise UsageError("$TMUX does not name a socket path")
    state = HOOK_EVENTS[key]
    set_hook_state(socket, pane, state, conversation_in(payload))
    return state
