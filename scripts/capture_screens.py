#!/usr/bin/env python3
"""Capture real screens of the agent CLIs for ``tests/fixtures/screens``.

Every agent runs in its own throwaway tmux server (``tmux -L atoll-capture-AGENT``), with a
fresh empty HOME and a fresh ``git init`` working directory, in a 200x50 window. The script
drives it with ``send-keys``, waits for each state to appear on the screen, and saves the
plain text of ``capture-pane -p`` (no escape codes; only trailing blank lines are dropped).
``manifest.toml`` gets one ``[[screen]]`` table per file: file, agent, expected status,
CLI version and the exact command and keys that reached the state.

The machine has no route to the vendors' APIs, so the first-run sign-in, onboarding and trust
screens are real. States that need a model's answer (a permission prompt) are reached by
pointing the CLI at a small local stand-in API served by this script on 127.0.0.1 (the
``MockApi`` class): it answers "run ... touch hello.txt" with the agent's own shell tool call,
and a prompt containing "slow" with a stream that stays open (a genuine busy screen). The
screens are still drawn by the real CLIs; only the model's reply is scripted.

Usage (from the repo root; the CLIs must be installed, see tests/fixtures/screens/README.md):

    python3 scripts/capture_screens.py                 # every agent
    python3 scripts/capture_screens.py claude aider    # some agents; others keep their entries

Needs: tmux, git, and the CLIs ``claude``, ``codex``, ``gemini``, ``opencode`` on PATH and
aider in /opt/aider (override with ``--aider``). Scratch files go under /var/tmp/atoll-capture
(not /tmp: codex refuses to create its helper binaries under the temporary directory).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "fixtures" / "screens"
SCRATCH = Path("/var/tmp/atoll-capture")
WIDTH, HEIGHT = 200, 50
AGENTS = ("claude", "codex", "gemini", "opencode", "aider", "shell")
SHELL_PROMPT = "touch hello.txt"  # the mock API answers this with a shell tool call
QUESTION_PROMPT = "ask me"  # ... and this with a question tool call (Claude: AskUserQuestion)
MOCK_SETUP = (
    "with the local stand-in model API of scripts/capture_screens.py (MockApi, on "
    "127.0.0.1, random port; it answers 'touch hello.txt' with a shell tool call, "
    "'ask me' with a question tool call, 'slow' with a stream that stays open); "
)
BASE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "TERM": "tmux-256color",
    "LANG": "C.UTF-8",
}


# --------------------------------------------------------------------------------------------
# A stand-in model API on 127.0.0.1 (Anthropic Messages, OpenAI Responses and Chat
# Completions, Gemini generateContent). Only the model's reply is scripted.
# --------------------------------------------------------------------------------------------


def _texts(obj: Any) -> list[str]:
    """Every string value under the keys "text"/"content" of a nested request body."""
    out: list[str] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("text", "content") and isinstance(v, str):
                out.append(v)
            else:
                out.extend(_texts(v))
    elif isinstance(obj, list):
        for v in obj:
            out.extend(_texts(v))
    return out


def _last(items: list[Any]) -> Any:
    return items[-1] if items else {}


class MockApi:
    """Threaded HTTP server; ``log`` keeps (path, body) of each request for debugging."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.stop_event = threading.Event()
        self.ids = itertools.count(1)
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                api.record("GET", self.path, None)
                if self.path.rstrip("/").endswith("/models"):
                    self.send_json(
                        200, {"object": "list", "data": [{"id": "mock", "object": "model"}]}
                    )
                else:
                    self.send_json(404, {"error": {"message": "not found", "type": "not_found"}})

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b"{}"
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                api.record("POST", self.path, body)
                path = self.path.split("?")[0]
                try:
                    if path.endswith("/messages"):
                        api.anthropic(self, body)
                    elif path.endswith("/responses"):
                        api.responses(self, body)
                    elif path.endswith("/chat/completions"):
                        api.chat(self, body)
                    elif ":streamGenerateContent" in path:
                        api.gemini(self, body, stream=True)
                    elif ":generateContent" in path:
                        api.gemini(self, body, stream=False)
                    elif ":countTokens" in path or path.endswith("/count_tokens"):
                        self.send_json(200, {"totalTokens": 10, "input_tokens": 10})
                    else:
                        self.send_json(
                            404, {"error": {"message": "mock: unknown path", "type": "x"}}
                        )
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def send_json(self, code: int, obj: Any) -> None:
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def start_sse(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True

            def sse(self, data: Any, event: str | None = None) -> None:
                chunk = (f"event: {event}\n" if event else "") + "data: "
                chunk += (data if isinstance(data, str) else json.dumps(data)) + "\n\n"
                self.wfile.write(chunk.encode())
                self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # -- lifecycle
    def start(self) -> MockApi:
        self.thread.start()
        return self

    def close(self) -> None:
        self.stop_event.set()
        self.server.shutdown()
        self.server.server_close()

    def record(self, method: str, path: str, body: Any) -> None:
        with self.log_path.open("a") as f:
            f.write(json.dumps({"t": time.time(), "method": method, "path": path, "body": body}))
            f.write("\n")

    def hold(self, h: Any, ping: Callable[[], None] | None = None) -> None:
        """Keep a streaming answer open (a busy agent) until the server stops (max 15 min)."""
        deadline = time.monotonic() + 900
        while not self.stop_event.wait(5) and time.monotonic() < deadline:
            if ping:
                ping()

    # -- decisions
    @staticmethod
    def intent(last_user_text: str, has_tool_result: bool) -> str:
        if has_tool_result:
            return "done"
        if SHELL_PROMPT in last_user_text:
            return "shell"
        if QUESTION_PROMPT in last_user_text:
            return "question"
        if "slow" in last_user_text:
            return "slow"
        return "text"

    # -- Anthropic Messages API (Claude Code)
    def anthropic(self, h: Any, body: dict[str, Any]) -> None:
        # Claude Code merges a new prompt into the user message that carries the previous
        # tool results, in no fixed order; so count: a trigger prompt not yet answered by a
        # tool call gets one.
        msgs = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        user_texts: list[str] = []
        calls = 0
        for m in msgs:
            content = m.get("content")
            blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
            for b in blocks:
                if not isinstance(b, dict):
                    continue
                if m.get("role") == "assistant" and b.get("type") == "tool_use":
                    calls += 1
                elif m.get("role") == "user" and b.get("type") == "text":
                    t = str(b.get("text") or "")
                    if not t.lstrip().startswith(("<system-reminder>", "<session>")):
                        user_texts.append(t)
        triggers = [t for t in user_texts if self.intent(t, False) in ("shell", "question")]
        last = _last([m for m in msgs if m.get("role") == "user"])
        last_blocks = last.get("content") if isinstance(last.get("content"), list) else []
        has_result = any(
            isinstance(b, dict) and b.get("type") == "tool_result" for b in last_blocks
        )
        if len(triggers) > calls:
            intent = self.intent(triggers[-1], False)
        elif user_texts and self.intent(user_texts[-1], False) == "slow":
            intent = "slow"
        else:
            intent = "done" if has_result else "text"
        tools = {t.get("name") for t in body.get("tools") or []}
        if (intent == "shell" and "Bash" not in tools) or (
            intent == "question" and "AskUserQuestion" not in tools
        ):
            intent = "text"
        if not body.get("stream"):
            h.send_json(
                200,
                {
                    "id": "msg_mock",
                    "type": "message",
                    "role": "assistant",
                    "model": body.get("model"),
                    "content": [{"type": "text", "text": "Mock title"}],
                    "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": {"input_tokens": 10, "output_tokens": 2},
                },
            )
            return
        h.start_sse()
        h.sse(
            {
                "type": "message_start",
                "message": {
                    "id": "msg_mock",
                    "type": "message",
                    "role": "assistant",
                    "model": body.get("model"),
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 10, "output_tokens": 1},
                },
            },
            "message_start",
        )
        if intent == "slow":
            self.hold(h, lambda: h.sse({"type": "ping"}, "ping"))
            return
        if intent in ("shell", "question"):
            args: dict[str, Any] = {"command": SHELL_PROMPT, "description": "Create hello.txt"}
            name = "Bash"
            if intent == "question":
                name, args = (
                    "AskUserQuestion",
                    {
                        "questions": [
                            {
                                "question": "Which file should I create?",
                                "header": "File",
                                "multiSelect": False,
                                "options": [
                                    {"label": "hello.txt", "description": "An empty hello.txt"},
                                    {"label": "README.md", "description": "A README with a title"},
                                ],
                            }
                        ]
                    },
                )
            h.sse(
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {
                        "type": "tool_use",
                        "id": f"toolu_mock{next(self.ids)}",
                        "name": name,
                        "input": {},
                    },
                },
                "content_block_start",
            )
            h.sse(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "input_json_delta", "partial_json": json.dumps(args)},
                },
                "content_block_delta",
            )
            stop = "tool_use"
        else:
            reply = "Done." if intent == "done" else "Hello from the mock API."
            h.sse(
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
                "content_block_start",
            )
            h.sse(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": reply},
                },
                "content_block_delta",
            )
            stop = "end_turn"
        h.sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
        h.sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": 12},
            },
            "message_delta",
        )
        h.sse({"type": "message_stop"}, "message_stop")

    # -- OpenAI Responses API (Codex)
    def responses(self, h: Any, body: dict[str, Any]) -> None:
        items = body.get("input") or []
        has_result = (
            bool(items)
            and isinstance(items[-1], dict)
            and str(items[-1].get("type", "")).endswith("_output")
        )
        users = [i for i in items if isinstance(i, dict) and i.get("role") == "user"]
        text = " ".join(_texts(_last(users)))
        tools = {t.get("name") for t in body.get("tools") or []}
        intent = self.intent(text, has_result)
        if intent == "shell" and "exec_command" not in tools:
            intent = "text"
        h.start_sse()
        h.sse({"type": "response.created", "response": {"id": "resp_mock"}}, "response.created")
        if intent == "slow":
            self.hold(h)
            return
        n = next(self.ids)
        if intent == "shell":
            item: dict[str, Any] = {
                "type": "function_call",
                "id": f"fc_mock{n}",
                "call_id": f"call_mock{n}",
                "name": "exec_command",
                "arguments": json.dumps(
                    {
                        "cmd": SHELL_PROMPT,
                        "sandbox_permissions": "require_escalated",
                        "justification": "Do you want me to create hello.txt in this folder?",
                    }
                ),
            }
        else:
            reply = "Done." if intent == "done" else "Mock title"
            item = {
                "type": "message",
                "id": f"msg_mock{n}",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": reply, "annotations": []}],
            }
        h.sse(
            {"type": "response.output_item.done", "output_index": 0, "item": item},
            "response.output_item.done",
        )
        h.sse(
            {
                "type": "response.completed",
                "response": {
                    "id": "resp_mock",
                    "usage": {
                        "input_tokens": 10,
                        "input_tokens_details": {"cached_tokens": 0},
                        "output_tokens": 5,
                        "output_tokens_details": {"reasoning_tokens": 0},
                        "total_tokens": 15,
                    },
                },
            },
            "response.completed",
        )

    # -- OpenAI Chat Completions (OpenCode, Aider)
    def chat(self, h: Any, body: dict[str, Any]) -> None:
        msgs = body.get("messages") or []
        has_result = bool(msgs) and isinstance(msgs[-1], dict) and msgs[-1].get("role") == "tool"
        users = [m for m in msgs if isinstance(m, dict) and m.get("role") == "user"]
        last_user = _last(users)
        text = " ".join(_texts(last_user)) if isinstance(last_user, dict) else ""
        if isinstance(last_user, dict) and isinstance(last_user.get("content"), str):
            text = last_user["content"]
        tools = {(t.get("function") or {}).get("name") for t in body.get("tools") or []}
        intent = self.intent(text, has_result)
        model = body.get("model", "mock")

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                "id": "chatcmpl-mock",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        if intent == "shell" and "bash" in tools:
            delta: dict[str, Any] = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "index": 0,
                        "id": f"call_mock{next(self.ids)}",
                        "type": "function",
                        "function": {
                            "name": "bash",
                            "arguments": json.dumps(
                                {"command": SHELL_PROMPT, "description": "Create hello.txt"}
                            ),
                        },
                    }
                ],
            }
            finish = "tool_calls"
        elif intent == "shell":  # no tools (aider): answer with a shell block, as models do
            delta = {
                "role": "assistant",
                "content": "Run this in the repository:\n\n```bash\ntouch hello.txt\n```\n",
            }
            finish = "stop"
        else:
            delta = {
                "role": "assistant",
                "content": "Done." if intent == "done" else "Hello from the mock API.",
            }
            finish = "stop"
        if not body.get("stream"):
            message = {k: v for k, v in delta.items() if k != "index"}
            h.send_json(
                200,
                {
                    "id": "chatcmpl-mock",
                    "object": "chat.completion",
                    "created": 0,
                    "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                },
            )
            return
        h.start_sse()
        if intent == "slow":
            h.sse(chunk({"role": "assistant", "content": ""}))
            self.hold(h)
            return
        h.sse(chunk(delta))
        h.sse(chunk({}, finish))
        usage = chunk({}, None)
        usage["choices"] = []
        usage["usage"] = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        h.sse(usage)
        h.sse("[DONE]")

    # -- Gemini API (Gemini CLI)
    def gemini(self, h: Any, body: dict[str, Any], stream: bool) -> None:
        contents = body.get("contents") or []
        last = _last(contents)
        parts = last.get("parts", []) if isinstance(last, dict) else []
        has_result = any(isinstance(p, dict) and "functionResponse" in p for p in parts)
        text = " ".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))
        decls = {
            d.get("name")
            for t in body.get("tools") or []
            for d in t.get("functionDeclarations") or []
        }
        intent = self.intent(text, has_result)
        usage = {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15}
        if not stream:  # utility calls (routing, next-speaker checks) ask for JSON text
            reply = json.dumps(
                {"reasoning": "mock", "model_choice": "flash", "next_speaker": "user"}
            )
            h.send_json(
                200,
                {
                    "candidates": [
                        {
                            "content": {"role": "model", "parts": [{"text": reply}]},
                            "finishReason": "STOP",
                            "index": 0,
                        }
                    ],
                    "usageMetadata": usage,
                },
            )
            return
        h.start_sse()
        if intent == "slow":
            self.hold(h)
            return
        if intent == "shell" and "run_shell_command" in decls:
            part: dict[str, Any] = {
                "functionCall": {
                    "name": "run_shell_command",
                    "args": {"command": SHELL_PROMPT, "description": "Create hello.txt"},
                }
            }
        else:
            part = {"text": "Done." if intent == "done" else "Hello from the mock API."}
        h.sse(
            {
                "candidates": [
                    {
                        "content": {"role": "model", "parts": [part]},
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": usage,
            }
        )


# --------------------------------------------------------------------------------------------
# tmux driving
# --------------------------------------------------------------------------------------------


class CaptureError(RuntimeError):
    pass


def descendants(root: int) -> list[int]:
    """``root`` and every process below it (parents before children)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop(0)
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def tidy(text: str) -> str:
    """The captured screen with trailing whitespace-only lines removed (nothing else)."""
    lines = text.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines) + "\n"


@dataclass
class Shot:
    file: str
    agent: str
    expected: str
    cli_version: str
    how: str


@dataclass
class Pane:
    """One agent in its own tmux server; records every action for the manifest's ``how``."""

    agent: str
    argv: list[str]
    env: dict[str, str]
    setup: str = ""
    home: Path = field(init=False)
    cwd: Path = field(init=False)
    socket: str = field(init=False)
    steps: list[str] = field(default_factory=list)
    serial: ClassVar[int] = 0

    def __post_init__(self) -> None:
        Pane.serial += 1
        self.socket = f"atoll-capture-{self.agent}-{os.getpid()}-{Pane.serial}"
        self.home = SCRATCH / f"home-{self.agent}"
        self.cwd = SCRATCH / f"{self.agent}-repo"

    def tmux(self, *args: str, check: bool = True) -> str:
        p = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True)
        if check and p.returncode != 0:
            raise CaptureError(f"tmux {' '.join(args)}: {p.stderr.strip()}")
        return p.stdout

    def fresh_dirs(self, prepare: Callable[[Path, Path], None] | None = None) -> None:
        for d in (self.home, self.cwd):
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)
        subprocess.run(["git", "init", "-q", str(self.cwd)], check=True)
        if prepare:
            prepare(self.home, self.cwd)

    def start(self) -> Pane:
        env = {**BASE_ENV, "HOME": str(self.home), **self.env}
        argv = ["env", "-i", *(f"{k}={v}" for k, v in env.items()), *self.argv]
        # A holder process first, so remain-on-exit is set before the agent can exit.
        self.tmux(
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            str(WIDTH),
            "-y",
            str(HEIGHT),
            "-s",
            self.agent,
            "-c",
            str(self.cwd),
            "sleep",
            "100000",
        )
        self.tmux("set-option", "-g", "remain-on-exit", "on")
        self.tmux("respawn-pane", "-k", "-t", f"={self.agent}:", "-c", str(self.cwd), *argv)
        shown_env = " ".join(f"{k}={v}" for k, v in self.env.items())
        self.steps = [
            f"{self.setup}in a fresh `git init` dir with a fresh empty HOME, "
            f"run `{(shown_env + ' ') if shown_env else ''}{shlex.join(self.argv)}`"
            f" in tmux {WIDTH}x{HEIGHT}"
        ]
        return self

    def kill(self) -> None:
        """End the agent's whole process tree (some CLIs leave children behind), then tmux."""
        pid = self.tmux("list-panes", "-t", f"={self.agent}:", "-F", "#{pane_pid}", check=False)
        tree = descendants(int(pid)) if pid.strip().isdigit() else []
        for p in reversed(tree):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGTERM)
        self.tmux("kill-server", check=False)
        time.sleep(1)
        with contextlib.suppress(OSError):  # the socket file outlives the server
            (Path(f"/tmp/tmux-{os.getuid()}") / self.socket).unlink()
        for p in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", f"={self.agent}:")

    def dead(self) -> bool:
        out = self.tmux("list-panes", "-t", f"={self.agent}:", "-F", "#{pane_dead}", check=False)
        return out.strip() == "1"

    def wait(self, pattern: str, timeout: float = 60, settle: float = 1.5) -> str:
        """Wait until ``pattern`` is on screen, then until the screen stops changing."""
        rx = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if rx.search(text):
                break
            if time.monotonic() > deadline:
                raise CaptureError(
                    f"{self.agent}: {pattern!r} not on screen after {timeout}s:\n{text}"
                )
            time.sleep(0.3)
        self.steps.append(f"wait for /{pattern}/")
        return self.settle(settle) if settle else text

    def wait_absent(self, pattern: str, timeout: float = 60, settle: float = 1.5) -> str:
        """Wait until ``pattern`` is no longer on screen (a spinner went away)."""
        rx = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while rx.search(text := self.screen()):
            if time.monotonic() > deadline:
                raise CaptureError(
                    f"{self.agent}: {pattern!r} still on screen after {timeout}s:\n{text}"
                )
            time.sleep(0.5)
        self.steps.append(f"wait until /{pattern}/ is gone")
        return self.settle(settle) if settle else text

    def settle(self, quiet: float = 1.5, timeout: float = 8) -> str:
        """Return the screen once it is unchanged for ``quiet`` s (spinners: after ``timeout``)."""
        deadline = time.monotonic() + timeout
        last, since = self.screen(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.3)
            now = self.screen()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
        return last

    def keys(self, *keys: str, note: str | None = None) -> None:
        self.tmux("send-keys", "-t", f"={self.agent}:", *keys)
        self.steps.append(note or "press " + " ".join(keys))

    def type(self, text: str, enter: bool = True) -> None:
        self.tmux("send-keys", "-t", f"={self.agent}:", "-l", "--", text)
        time.sleep(0.8)  # some TUIs treat a fast burst as a paste and swallow the Enter
        if enter:
            self.tmux("send-keys", "-t", f"={self.agent}:", "Enter")
        self.steps.append(f"type {text!r}" + (" + Enter" if enter else ""))

    def wait_step(self, what: str) -> None:
        self.steps.append(f"wait for {what}")


class Capturer:
    def __init__(self, out: Path, mock: MockApi, versions: dict[str, str]) -> None:
        self.out = out
        self.mock = mock
        self.versions = versions
        self.shots: list[Shot] = []

    def shot(self, pane: Pane, state: str, expected: str, text: str | None = None) -> None:
        text = pane.screen() if text is None else text
        rel = f"{pane.agent}/{state}.txt"
        path = self.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(tidy(text))
        how = "; ".join(pane.steps)
        self.shots.append(Shot(rel, pane.agent, expected, self.versions[pane.agent], how))
        print(f"  {rel:40} {expected}", flush=True)


# --------------------------------------------------------------------------------------------
# Scenarios, one per agent. Each starts fresh (HOME, repo, tmux server) as often as needed.
# --------------------------------------------------------------------------------------------


def run(
    pane: Pane, body: Callable[[Pane], None], prepare: Callable[[Path, Path], None] | None = None
) -> None:
    pane.fresh_dirs(prepare)
    pane.start()
    try:
        body(pane)
    finally:
        pane.kill()
        time.sleep(0.5)


def claude_accept_trust(p: Pane) -> None:
    """The trust dialog came in two variants across fresh HOMEs: "1. Yes, I trust this
    folder" first and selected, or "No, exit" first and selected."""
    if re.search(r"❯\s*No, exit", p.screen()):
        p.keys("Down")
        p.wait(r"❯\s*Yes, I trust this folder", 10, settle=0.5)
    p.keys("Enter")


def claude(c: Capturer) -> None:
    # DISABLE_AUTOUPDATER: otherwise the first run upgrades the global npm install in place.
    quiet = {"DISABLE_AUTOUPDATER": "1"}

    def offline(p: Pane) -> None:
        p.wait(r"Unable to connect to Anthropic services", 60)
        p.wait_step("the connectivity check to fail (the CLI exits)")
        c.shot(p, "error_offline", "idle")

    run(Pane("claude", ["claude"], quiet), offline)

    def onboard(p: Pane, shots: bool) -> None:
        text = p.wait(r"Choose the text style", 60)
        if shots:
            c.shot(p, "onboarding_theme", "waiting", text)
        p.keys("Enter")
        text = p.wait(r"Security notes:")
        if shots:
            c.shot(p, "onboarding_security_notes", "waiting", text)
        p.keys("Enter")
        text = p.wait(r"Yes, I trust this folder")
        if shots:
            c.shot(p, "trust_folder", "waiting", text)
        claude_accept_trust(p)

    def with_mock(p: Pane) -> None:
        onboard(p, shots=True)
        c.shot(p, "idle_prompt", "idle", p.wait(r"\? for shortcuts", settle=3))
        p.type(f"please run {SHELL_PROMPT}")
        p.wait(r"Do you want to proceed\?", 60, settle=2)
        p.wait_step("the permission prompt for the Bash tool call")
        c.shot(p, "permission_bash", "waiting")
        p.keys("Enter")
        p.wait(r"Done\.", 60, settle=2)
        p.wait_step("the answer")
        c.shot(p, "idle_after_answer", "idle")
        p.type(f"{QUESTION_PROMPT} which file to create")
        p.wait(r"Which file should I create\?", 60, settle=2)
        p.wait_step("the AskUserQuestion tool call")
        c.shot(p, "question", "waiting")
        p.keys("Escape")
        p.wait(r"\? for shortcuts", settle=2)
        p.type("slow: take your time")
        time.sleep(6)
        p.wait_step("6 s (the API stream stays open)")
        c.shot(p, "running_thinking", "running")

    mock = {
        "ANTHROPIC_AUTH_TOKEN": "atoll-capture-dummy",
        "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{c.mock.port}",
        **quiet,
    }
    run(
        Pane("claude", ["claude", "--permission-mode", "manual"], mock, setup=MOCK_SETUP), with_mock
    )

    def retrying(p: Pane) -> None:
        onboard(p, shots=False)
        text = p.wait(r"auto mode on", settle=3)
        c.shot(p, "idle_prompt_auto_mode", "idle", text)
        p.type(f"please run {SHELL_PROMPT}")
        p.wait(r"(?i)retrying in", 60, settle=0)
        time.sleep(2)
        p.wait_step("the retry line")
        c.shot(p, "running_retrying", "running")
        p.wait(r"API Error", 400, settle=2)
        p.wait_step("all retries to fail (about 3 minutes)")
        c.shot(p, "error_api", "idle")

    unreachable = {
        "ANTHROPIC_AUTH_TOKEN": "atoll-capture-dummy",
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
        **quiet,
    }
    run(
        Pane("claude", ["claude"], unreachable, setup="with an API URL where nothing listens; "),
        retrying,
    )


def codex(c: Capturer) -> None:
    argv = ["codex", "--no-daemon"]

    def signin(p: Pane) -> None:
        p.wait(r"Sign in with ChatGPT", 60)
        c.shot(p, "signin_choose", "waiting")
        p.keys("3")
        p.wait(r"Use an OpenAI API key")
        c.shot(p, "signin_other", "waiting")
        p.keys("1")
        p.wait(r"Paste or type your API key")
        c.shot(p, "signin_api_key", "waiting")
        p.keys("Escape")
        time.sleep(1)
        p.keys("Escape")
        p.wait(r"Sign in with Device Code")
        p.keys("1")
        p.wait(r"Finish signing in via your browser")
        c.shot(p, "signin_browser", "waiting")
        p.keys("Escape")
        p.wait(r"Sign in with Device Code")
        p.keys("2")
        p.wait(r"failed to request device code", 60)
        c.shot(p, "signin_device_code_error", "waiting")
        p.keys("Escape")
        p.keys("3")
        p.wait(r"Use an OpenAI API key")
        p.keys("1")
        p.wait(r"Paste or type your API key")
        p.type("sk-atoll-capture-dummy")
        p.wait(r"Trust this folder\?")
        c.shot(p, "trust_folder", "waiting")
        p.keys("Enter")
        p.wait(r"Ask Codex to do anything", settle=3)
        c.shot(p, "idle_prompt", "idle")
        p.type(f"please run {SHELL_PROMPT}")
        p.wait(r"Working|Reconnecting", 60, settle=0)
        time.sleep(3)
        p.wait_step("the turn to start (no network: it reconnects)")
        c.shot(p, "running_reconnecting", "running")
        # After its retries codex keeps "Reconnecting... waiting for network" (still busy).
        p.wait(r"waiting for network", 120, settle=0)
        time.sleep(2)
        p.wait_step("the retries to end in a wait for the network")
        c.shot(p, "running_waiting_for_network", "running")

    run(Pane("codex", argv, {}), signin)

    def with_mock(home: Path, cwd: Path) -> None:
        (home / ".codex").mkdir()
        (home / ".codex" / "config.toml").write_text(
            'model = "gpt-5.1-codex"\nmodel_provider = "mock"\n\n[model_providers.mock]\n'
            f'name = "atoll capture mock"\nbase_url = "http://127.0.0.1:{c.mock.port}/v1"\n'
            'wire_api = "responses"\nenv_key = "OPENAI_API_KEY"\n'
        )

    def approval(p: Pane) -> None:
        p.wait(r"Trust this folder\?", 60)
        p.keys("Enter")
        p.wait(r"Ask Codex to do anything", settle=3)
        p.type(f"please run {SHELL_PROMPT}")
        p.wait(r"Would you like to run|Yes, proceed|approve", 60, settle=2)
        p.wait_step("the approval prompt for the escalated exec_command call")
        c.shot(p, "approval_command", "waiting")
        p.keys("Enter")
        p.wait(r"Done\.", 60, settle=2)
        p.wait_step("the answer")
        c.shot(p, "idle_after_answer", "idle")
        p.type("slow: take your time")
        time.sleep(6)
        p.wait_step("6 s (the API stream stays open)")
        c.shot(p, "running_working", "running")

    run(
        Pane(
            "codex",
            argv,
            {"OPENAI_API_KEY": "sk-atoll-capture-dummy"},
            setup=MOCK_SETUP + "~/.codex/config.toml sets model_provider to it; ",
        ),
        approval,
        with_mock,
    )

    def with_hooks(home: Path, cwd: Path) -> None:
        with_mock(home, cwd)
        hooks = {
            "UserPromptSubmit": "running",
            "PermissionRequest": "waiting",
            "PostToolUse": "running",
            "Stop": "idle",
        }
        (home / ".codex" / "hooks.json").write_text(
            json.dumps(
                {
                    "hooks": {
                        event: [{"hooks": [{"type": "command", "command": f"atoll hook {state}"}]}]
                        for event, state in hooks.items()
                    }
                },
                indent=2,
            )
        )

    def hooks_review(p: Pane) -> None:
        p.wait(r"Trust this folder\?", 60)
        p.keys("Enter")
        p.wait(r"Hooks need review", 60)
        c.shot(p, "hooks_review", "waiting")

    run(
        Pane(
            "codex",
            argv,
            {"OPENAI_API_KEY": "sk-atoll-capture-dummy"},
            setup=MOCK_SETUP + "~/.codex/config.toml sets model_provider to it and "
            "~/.codex/hooks.json holds the atoll hooks of docs/hooks.md; ",
        ),
        hooks_review,
        with_hooks,
    )


def gemini(c: Capturer) -> None:
    def signin(p: Pane) -> None:
        p.wait(r"Do you trust the files in this folder\?", 60)
        c.shot(p, "trust_folder", "waiting")
        p.keys("Enter")
        p.wait(r"How would you like to authenticate", 60)
        c.shot(p, "auth_choose", "waiting")
        p.keys("Down")
        time.sleep(0.5)
        p.keys("Enter")
        p.wait(r"Enter Gemini API Key")
        c.shot(p, "auth_api_key", "waiting")
        p.keys("Escape")
        p.wait(r"How would you like to authenticate")
        time.sleep(1)
        p.keys("Up")
        time.sleep(0.5)
        p.keys("Enter")
        p.wait(r"Enter the authorization code", 60)
        c.shot(p, "auth_google_code", "waiting")

    run(Pane("gemini", ["gemini"], {}), signin)

    def running(p: Pane) -> None:
        p.wait(r"Do you trust the files in this folder\?", 60)
        p.keys("Enter")
        p.wait(r"Existing API key detected", 60)
        c.shot(p, "auth_key_detected", "waiting")
        p.keys("Enter")
        p.wait(r"Enter Gemini API Key")
        p.keys("Enter")
        p.wait(r"Type your message", 60, settle=3)
        c.shot(p, "idle_prompt", "idle")
        p.type(f"please run {SHELL_PROMPT}")
        p.wait(r"esc to cancel", 60, settle=0)
        time.sleep(3)
        p.wait_step("the spinner (no network: the request hangs and retries)")
        c.shot(p, "running_thinking", "running")
        try:  # optional: how long the retries last is up to the CLI
            p.wait_absent(r"esc to cancel", 300, settle=2)
        except CaptureError:
            return
        p.wait_step("the retries to give up")
        c.shot(p, "error_network", "idle")

    run(Pane("gemini", ["gemini"], {"GEMINI_API_KEY": "atoll-capture-dummy"}), running)

    def permission(p: Pane) -> None:
        p.wait(r"Do you trust the files in this folder\?", 60)
        p.keys("Enter")
        p.wait(r"Existing API key detected", 60)
        p.keys("Enter")
        p.wait(r"Enter Gemini API Key")
        p.keys("Enter")
        p.wait(r"Type your message", 60, settle=3)
        p.type(f"please run {SHELL_PROMPT}")
        p.wait(r"Allow execution", 60, settle=2)
        p.wait_step("the confirmation for the run_shell_command call")
        c.shot(p, "permission_shell", "waiting")
        p.keys("Enter")
        p.wait(r"Done\.", 60, settle=2)
        p.wait_step("the answer")
        c.shot(p, "idle_after_answer", "idle")

    mock_env = {
        "GEMINI_API_KEY": "atoll-capture-dummy",
        "GOOGLE_GEMINI_BASE_URL": f"http://127.0.0.1:{c.mock.port}",
    }
    run(Pane("gemini", ["gemini"], mock_env, setup=MOCK_SETUP), permission)


def opencode(c: Capturer) -> None:
    def default(p: Pane) -> None:
        p.wait(r"Ask anything", 60, settle=3)
        c.shot(p, "idle_start", "idle")
        p.type(f"please run {SHELL_PROMPT}")
        p.wait(r"esc interrupt", 60, settle=0)
        time.sleep(4)
        p.wait_step("the spinner (no network: it retries)")
        c.shot(p, "running_retrying", "running")
        p.keys("Escape")
        time.sleep(1)
        p.keys("Escape", note="press Escape twice (interrupt)")
        p.wait(r"ctrl\+p commands", settle=2)
        c.shot(p, "idle_interrupted", "idle")
        p.type("/connect")
        p.wait(r"Connect a provider")
        c.shot(p, "connect_provider", "waiting")
        p.type("Anthropic")
        p.wait(r"API key")
        c.shot(p, "connect_api_key", "waiting")

    run(Pane("opencode", ["opencode"], {}), default)

    def with_mock(home: Path, cwd: Path) -> None:
        cfg = home / ".config" / "opencode"
        cfg.mkdir(parents=True)
        (cfg / "opencode.json").write_text(
            json.dumps(
                {
                    "$schema": "https://opencode.ai/config.json",
                    "model": "mock/mock-model",
                    "permission": {"bash": "ask"},
                    "provider": {
                        "mock": {
                            "npm": "@ai-sdk/openai-compatible",
                            "name": "atoll capture mock",
                            "options": {
                                "baseURL": f"http://127.0.0.1:{c.mock.port}/v1",
                                "apiKey": "dummy",
                            },
                            "models": {"mock-model": {"name": "Mock Model", "tool_call": True}},
                        }
                    },
                },
                indent=2,
            )
        )

    def permission(p: Pane) -> None:
        p.wait(r"Ask anything", 60, settle=3)
        p.type(f"please run {SHELL_PROMPT}")
        p.wait(r"Permission required|Allow once|allow once", 90, settle=2)
        p.wait_step("the permission request for the bash tool call")
        c.shot(p, "permission_bash", "waiting")
        p.keys("Enter")
        p.wait(r"Done\.", 60, settle=2)
        p.wait_step("the answer")
        c.shot(p, "idle_after_answer", "idle")
        p.type("slow: take your time")
        time.sleep(6)
        p.wait_step("6 s (the API stream stays open)")
        c.shot(p, "running_working", "running")

    run(
        Pane(
            "opencode",
            ["opencode"],
            {},
            setup=MOCK_SETUP + "~/.config/opencode/opencode.json adds it as provider `mock` "
            "and sets permission.bash=ask; ",
        ),
        permission,
        with_mock,
    )


def aider(c: Capturer, aider_bin: str) -> None:
    def first_run(p: Pane) -> None:
        p.wait(r"Add \.aider\* to \.gitignore", 90)
        c.shot(p, "gitignore_question", "waiting")
        p.keys("Enter")
        p.wait(r"Login to OpenRouter or create a free account\?", 60)
        c.shot(p, "openrouter_login_question", "waiting")
        p.keys("Enter")
        p.wait(r"Waiting up to 5 minutes", 60)
        c.shot(p, "openrouter_browser", "waiting")

    run(Pane("aider", [aider_bin], {}), first_run)

    def offline(p: Pane) -> None:
        p.wait(r"Add \.aider\* to \.gitignore", 90)
        p.keys("Enter")
        p.wait(r"^> ?$", 90, settle=3)
        c.shot(p, "idle_prompt", "idle")
        p.type(f"please run {SHELL_PROMPT}")
        p.wait(r"Retrying in", 60, settle=0)
        time.sleep(4)
        p.wait_step("the retries (nothing listens on the API port)")
        c.shot(p, "running_retrying", "running")

    args = [
        "--no-check-update",
        "--no-show-release-notes",
        "--model",
        "openai/gpt-4o",
        "--openai-api-key",
        "sk-atoll-capture-dummy",
    ]
    run(
        Pane("aider", [aider_bin, *args, "--openai-api-base", "http://127.0.0.1:9/v1"], {}), offline
    )

    def shell(p: Pane) -> None:
        p.wait(r"Add \.aider\* to \.gitignore", 90)
        p.keys("Enter")
        p.wait(r"^> ?$", 90, settle=3)
        p.type(f"please run {SHELL_PROMPT}")
        p.wait(r"Run shell command\?", 60, settle=2)
        p.wait_step("the question about the shell block in the answer")
        c.shot(p, "run_shell_command_question", "waiting")
        p.keys("n", "Enter", note="press n Enter")
        p.wait(r"^> ?$", 30, settle=2)
        p.type("slow: take your time")
        time.sleep(6)
        p.wait_step("6 s (the API stream stays open)")
        c.shot(p, "running_waiting_for_model", "running")

    mock = f"http://127.0.0.1:{c.mock.port}/v1"
    run(Pane("aider", [aider_bin, *args, "--openai-api-base", mock], {}, setup=MOCK_SETUP), shell)


def shell(c: Capturer) -> None:
    def body(p: Pane) -> None:
        p.wait(r"[#$]\s*$", 20)
        c.shot(p, "prompt", "idle")
        p.type("git status")
        p.wait(r"No commits yet", 20)
        c.shot(p, "after_command", "idle")
        p.type("python3 -m venv .venv && .venv/bin/pip uninstall pip")
        p.wait(r"Proceed \(Y/n\)\?", 120)
        c.shot(p, "pip_uninstall_question", "waiting")
        p.keys("n", "Enter", note="press n Enter")
        p.wait(r"[#$]\s*$", 20)
        p.type("sleep 300")
        time.sleep(3)
        p.wait_step("3 s")
        c.shot(p, "running_sleep", "idle")

    run(Pane("shell", ["bash", "--norc", "-i"], {}), body)


# --------------------------------------------------------------------------------------------


def version_of(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    m = re.search(r"\d+\.\d+(?:\.\d+)?", out)
    return m.group(0) if m else out.strip() or "unknown"


def toml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def write_manifest(out: Path, shots: list[Shot], agents: set[str]) -> None:
    path = out / "manifest.toml"
    kept: list[dict[str, str]] = []
    if path.exists():
        old = tomllib.loads(path.read_text()).get("screen", [])
        kept = [s for s in old if s["agent"] not in agents and (out / s["file"]).exists()]
    rows = kept + [vars(s) for s in shots]
    rows.sort(key=lambda r: (AGENTS.index(r["agent"]) if r["agent"] in AGENTS else 99, r["file"]))
    lines = [
        "# Screens captured from the real agent CLIs by scripts/capture_screens.py.",
        "# expected: the status a screen means (running | waiting | idle); idle = nothing on",
        "# screen says busy or needs-a-human, the classifier falls back to activity timestamps.",
        "",
    ]
    for r in rows:
        lines.append("[[screen]]")
        for k in ("file", "agent", "expected", "cli_version", "how"):
            lines.append(f"{k} = {toml_str(r[k])}")
        lines.append("")
    path.write_text("\n".join(lines))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("agents", nargs="*", metavar="AGENT", help=f"any of {', '.join(AGENTS)}")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--aider", default="/opt/aider/bin/aider")
    args = ap.parse_args()
    agents = args.agents or list(AGENTS)
    unknown = [a for a in agents if a not in AGENTS]
    if unknown:
        ap.error(f"unknown agent(s): {', '.join(unknown)}")
    for tool in ("tmux", "git"):
        if not shutil.which(tool):
            print(f"capture_screens: {tool} not found", file=sys.stderr)
            return 1
    versions = {
        "claude": version_of(["claude", "--version"]),
        "codex": version_of(["codex", "--version"]),
        "gemini": version_of(["gemini", "--version"]),
        "opencode": version_of(["opencode", "--version"]),
        "aider": version_of([args.aider, "--version"]),
        "shell": version_of(["bash", "--version"]),
    }
    SCRATCH.mkdir(parents=True, exist_ok=True)
    mock = MockApi(SCRATCH / "mock-api.log").start()
    cap = Capturer(args.out, mock, versions)
    scenarios: dict[str, Callable[[], None]] = {
        "claude": lambda: claude(cap),
        "codex": lambda: codex(cap),
        "gemini": lambda: gemini(cap),
        "opencode": lambda: opencode(cap),
        "aider": lambda: aider(cap, args.aider),
        "shell": lambda: shell(cap),
    }
    failed: list[str] = []
    try:
        for agent in agents:
            print(f"{agent} {versions[agent]}", flush=True)
            for old in (args.out / agent).glob("*.txt") if (args.out / agent).exists() else []:
                old.unlink()
            try:
                scenarios[agent]()
            except CaptureError as e:
                failed.append(agent)
                print(f"capture_screens: {e}", file=sys.stderr)
    finally:
        mock.close()
    write_manifest(args.out, cap.shots, set(agents))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"{len(cap.shots)} screens written to {args.out} at {stamp}")
    if failed:
        print(f"capture_screens: incomplete: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
