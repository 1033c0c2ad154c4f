#!/usr/bin/env python3
"""Capture the status-defining screens of issue 14 from the real agent CLIs.

Extends ``scripts/capture_screens.py`` (its tmux driving and stand-in model API are reused):
error banners (auth 401, rate limit 429, model unavailable 404), dialogs (plan approval,
edit/write permission, questions), busy screens whose footer has no "esc to interrupt", and
screens that only *look* busy ("esc to interrupt" in the model's prose or typed into the
prompt box). Each state is captured three times: at 200x50, after a resize to 80x40, and
after a resize back to 200x50 (the CLIs redraw on SIGWINCH; an inline TUI leaves its older
drawing in the scrollback). Files are named ``AGENT/KIND_VARIANT_{w200,w80,w200r}.txt``;
entries are merged into ``manifest.toml`` (existing entries with other file names are kept).

The stand-in API's new answers, by a marker in the last prompt: ``fail auth`` (HTTP 401),
``fail rate`` (429), ``fail model`` (404 model not found), ``plan it`` (Claude's
ExitPlanMode), ``write it PATH`` (Claude's Write), ``edit it PATH`` (Read, then Edit),
``say esc`` (a reply whose prose contains "esc to interrupt"), ``ask me`` (Codex's
request_user_input / OpenCode's question tool). The CLI draws every screen.

Usage: ``python3 scripts/capture_states.py AGENT...`` with AGENT among claude, claude-old,
claude-1, codex, gemini, opencode, aider; binaries are found under ``--prefix``
(``npm install --prefix PREFIX/NAME``; aider in a venv at ``PREFIX/aider``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import capture_screens as cs

PREFIX = Path("/var/tmp/atoll-agents")

ERRORS: dict[str, tuple[int, dict[str, Any], dict[str, Any], dict[str, Any]]] = {
    # kind: (HTTP status, Anthropic body, OpenAI body, Gemini body); the bodies are the
    # vendors' documented error shapes.
    "auth": (
        401,
        {"type": "error", "error": {"type": "authentication_error",
                                    "message": "invalid x-api-key"}},
        {"error": {"message": "Incorrect API key provided: sk-atoll***. You can find your API "
                   "key at https://platform.openai.com/account/api-keys.",
                   "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}},
        {"error": {"code": 401, "message": "API key not valid. Please pass a valid API key.",
                   "status": "UNAUTHENTICATED"}},
    ),
    "rate": (
        429,
        {"type": "error", "error": {"type": "rate_limit_error",
                                    "message": "Number of request tokens has exceeded your "
                                    "per-minute rate limit"}},
        {"error": {"message": "Rate limit reached for gpt-5.1-codex in organization org-mock "
                   "on tokens per min (TPM): Limit 30000, Used 30000, Requested 100. Please "
                   "try again in 20s.", "type": "tokens", "param": None,
                   "code": "rate_limit_exceeded"}},
        # a per-day quota (google.rpc.QuotaFailure): Gemini CLI does not retry it
        {"error": {"code": 429, "message": "You exceeded your current quota, please check "
                   "your plan and billing details.", "status": "RESOURCE_EXHAUSTED",
                   "details": [{"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                                "violations": [{
                                    "quotaMetric": "generativelanguage.googleapis.com/"
                                    "generate_content_free_tier_requests",
                                    "quotaId": "GenerateRequestsPerDayPerProject"
                                    "PerModel-FreeTier"}]}]}},
    ),
    "model": (
        404,
        {"type": "error", "error": {"type": "not_found_error", "message": "model: mock-gone"}},
        {"error": {"message": "The model `mock-gone` does not exist or you do not have access "
                   "to it.", "type": "invalid_request_error", "param": None,
                   "code": "model_not_found"}},
        {"error": {"code": 404, "message": "models/mock-gone is not found for API version "
                   "v1beta, or is not supported for generateContent.", "status": "NOT_FOUND"}},
    ),
}
PROSE = ("The build is running in the background. Press esc to interrupt it if it takes "
         "too long; ctrl+c to interrupt works too.")


def _last_user_text(body: dict[str, Any]) -> str:
    """The newest user-typed text of a request in any of the three API shapes."""
    for key in ("messages", "input", "contents"):
        items = body.get(key)
        if not isinstance(items, list):
            continue
        for m in reversed(items):
            if isinstance(m, dict) and m.get("role") == "user":
                texts = [t for t in cs._texts(m) if not t.lstrip().startswith("<")]
                if not texts and isinstance(m.get("parts"), list):
                    texts = [str(p.get("text", "")) for p in m["parts"] if isinstance(p, dict)]
                if texts:
                    return " ".join(texts)
    return ""


def _has_tool_result(body: dict[str, Any]) -> bool:
    """Whether the newest item of the conversation is a tool's result (not a prompt)."""
    items = body.get("messages") or body.get("input") or body.get("contents") or []
    raw = json.dumps(items[-1] if items else {})
    return any(k in raw for k in ('"tool_result"', '"function_call_output"', '"role": "tool"',
                                  '"functionResponse"', "custom_tool_call_output"))


class StateApi(cs.MockApi):
    """The stand-in API of capture_screens plus the answers of this script."""

    def fail(self, h: Any, body: dict[str, Any], shape: int) -> bool:
        text = _last_user_text(body)
        for kind, spec in ERRORS.items():
            if f"fail {kind}" in text and not _has_tool_result(body):
                h.send_json(spec[0], spec[shape])
                return True
        return False

    def anthropic(self, h: Any, body: dict[str, Any]) -> None:
        if self.fail(h, body, 1):
            return
        text = _last_user_text(body)
        names = {t.get("name") for t in body.get("tools") or []}
        msgs = body.get("messages") or []
        calls = [b for m in msgs if isinstance(m, dict) and m.get("role") == "assistant"
                 and isinstance(m.get("content"), list)
                 for b in m["content"] if isinstance(b, dict) and b.get("type") == "tool_use"]
        m = re.search(r"(write|edit) it (\S+)", text)
        tool: tuple[str, dict[str, Any]] | None = None
        # the newest message: a prompt (no tool result yet) or the result of a Read
        last = msgs[-1] if msgs and isinstance(msgs[-1], dict) else {}
        blocks = last.get("content") if isinstance(last.get("content"), list) else []
        results = [b for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"]
        # Claude Code sends a new prompt in the same message as earlier tool results
        typed = (last.get("content") if isinstance(last.get("content"), str) else
                 " ".join(str(b.get("text") or "") for b in blocks
                          if isinstance(b, dict) and b.get("type") == "text"))
        fresh = not results or any(k in typed for k in ("plan it", "write it", "edit it",
                                                        "say esc"))
        after = calls[-1].get("name") if results and calls else None
        after_read = after == "Read"
        plan = {"plan": "1. Create hello.txt\n2. Write a greeting in it"}
        plan_file = re.search(r"[\w./-]*/\.claude/plans/[\w.-]+\.md", json.dumps(body))
        prompts = [str(b.get("text") or "") for mm in msgs if isinstance(mm, dict)
                   and mm.get("role") == "user" and isinstance(mm.get("content"), list)
                   for b in mm["content"] if isinstance(b, dict) and b.get("type") == "text"
                   and not str(b.get("text") or "").lstrip().startswith("<")
                   and b.get("text") != "Tool loaded."]
        prompt = prompts[-1] if prompts else text
        if body.get("stream") and "plan it" in prompt and (fresh or after in ("Write",
                                                                           "ToolSearch")):
            # plan mode: write the plan file the reminder names, then ExitPlanMode (a
            # deferred tool in newer releases: loaded through ToolSearch first)
            if fresh and plan_file:
                tool = ("Write", {"file_path": plan_file.group(0),
                                  "content": "# Plan\n\n" + plan["plan"] + "\n"})
            elif "ExitPlanMode" in names or after == "ToolSearch" or not plan_file:
                tool = ("ExitPlanMode", plan)
            else:
                tool = ("ToolSearch", {"query": "select:ExitPlanMode", "max_results": 1})
        elif body.get("stream") and m and m.group(1) == "write" and fresh:
            tool = ("Write", {"file_path": m.group(2), "content": "hello\n"})
        elif body.get("stream") and m and m.group(1) == "edit" and (fresh or after_read):
            tool = (("Read", {"file_path": m.group(2)}) if fresh else
                    ("Edit", {"file_path": m.group(2), "old_string": "hello",
                              "new_string": "hello world"}))
        if tool is None and body.get("stream") and "say esc" in text and fresh:
            self.anthropic_text(h, body, PROSE)
            return
        if tool is None:
            super().anthropic(h, body)
            return
        h.start_sse()
        h.sse({"type": "message_start", "message": {
            "id": "msg_mock", "type": "message", "role": "assistant", "model": body.get("model"),
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 1}}}, "message_start")
        h.sse({"type": "content_block_start", "index": 0, "content_block": {
            "type": "tool_use", "id": f"toolu_mock{next(self.ids)}", "name": tool[0],
            "input": {}}}, "content_block_start")
        h.sse({"type": "content_block_delta", "index": 0, "delta": {
            "type": "input_json_delta", "partial_json": json.dumps(tool[1])}},
            "content_block_delta")
        h.sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
        h.sse({"type": "message_delta", "delta": {"stop_reason": "tool_use",
               "stop_sequence": None}, "usage": {"output_tokens": 12}}, "message_delta")
        h.sse({"type": "message_stop"}, "message_stop")

    def anthropic_text(self, h: Any, body: dict[str, Any], reply: str) -> None:
        h.start_sse()
        h.sse({"type": "message_start", "message": {
            "id": "msg_mock", "type": "message", "role": "assistant", "model": body.get("model"),
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 1}}}, "message_start")
        h.sse({"type": "content_block_start", "index": 0,
               "content_block": {"type": "text", "text": ""}}, "content_block_start")
        h.sse({"type": "content_block_delta", "index": 0,
               "delta": {"type": "text_delta", "text": reply}}, "content_block_delta")
        h.sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
        h.sse({"type": "message_delta", "delta": {"stop_reason": "end_turn",
               "stop_sequence": None}, "usage": {"output_tokens": 12}}, "message_delta")
        h.sse({"type": "message_stop"}, "message_stop")

    def responses(self, h: Any, body: dict[str, Any]) -> None:
        if self.fail(h, body, 2):
            return
        text = _last_user_text(body)
        names = {t.get("name") for t in body.get("tools") or []}
        if not _has_tool_result(body) and ("ask me" in text or "say esc" in text):
            n = next(self.ids)
            if "ask me" in text and "request_user_input" in names:
                item: dict[str, Any] = {
                    "type": "function_call", "id": f"fc_mock{n}", "call_id": f"call_mock{n}",
                    "name": "request_user_input", "arguments": json.dumps({"questions": [
                        {"id": "file", "header": "File", "question": "Which file should I create?",
                         "options": [{"label": "hello.txt", "description": "An empty file"},
                                     {"label": "README.md", "description": "A title only"}]},
                        {"id": "tone", "header": "Tone", "question": "Which tone?",
                         "options": [{"label": "Plain", "description": "No decoration"},
                                     {"label": "Friendly", "description": "A greeting"}]},
                        {"id": "commit", "header": "Commit", "question": "Commit it?",
                         "options": [{"label": "Yes", "description": "git commit"},
                                     {"label": "No", "description": "leave it"}]}]})}
            else:
                item = {"type": "message", "id": f"msg_mock{n}", "role": "assistant",
                        "status": "completed",
                        "content": [{"type": "output_text", "text": PROSE, "annotations": []}]}
            h.start_sse()
            h.sse({"type": "response.created", "response": {"id": "resp_mock"}},
                  "response.created")
            h.sse({"type": "response.output_item.done", "output_index": 0, "item": item},
                  "response.output_item.done")
            h.sse({"type": "response.completed", "response": {"id": "resp_mock", "usage": {
                "input_tokens": 10, "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": 15}}}, "response.completed")
            return
        super().responses(h, body)

    def chat(self, h: Any, body: dict[str, Any]) -> None:
        if self.fail(h, body, 2):
            return
        text = _last_user_text(body)
        names = {(t.get("function") or {}).get("name") for t in body.get("tools") or []}
        if "ask me" in text and "question" in names and not _has_tool_result(body):
            args = {"questions": [{"question": "Which file should I create?", "header": "File",
                                   "options": [{"label": "hello.txt", "description": "Empty"},
                                               {"label": "README.md", "description": "Title"}]}]}
            delta = {"role": "assistant", "content": None, "tool_calls": [{
                "index": 0, "id": f"call_mock{next(self.ids)}", "type": "function",
                "function": {"name": "question", "arguments": json.dumps(args)}}]}
            self.chat_once(h, body, delta, "tool_calls")
            return
        if "say esc" in text and not _has_tool_result(body):
            self.chat_once(h, body, {"role": "assistant", "content": PROSE}, "stop")
            return
        super().chat(h, body)

    def chat_once(self, h: Any, body: dict[str, Any], delta: dict[str, Any],
                  finish: str) -> None:
        base = {"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 0,
                "model": body.get("model", "mock")}
        if not body.get("stream"):
            msg = dict(delta)
            h.send_json(200, {**base, "object": "chat.completion", "choices": [
                {"index": 0, "message": msg, "finish_reason": finish}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})
            return
        h.start_sse()
        h.sse({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        h.sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        h.sse("[DONE]")

    def gemini(self, h: Any, body: dict[str, Any], stream: bool) -> None:
        if stream and self.fail(h, body, 3):
            return
        if stream and "say esc" in _last_user_text(body) and not _has_tool_result(body):
            h.start_sse()
            h.sse({"candidates": [{"content": {"role": "model", "parts": [{"text": PROSE}]},
                                   "finishReason": "STOP", "index": 0}],
                   "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5,
                                     "totalTokenCount": 15}})
            return
        super().gemini(h, body, stream)


# --------------------------------------------------------------------------------------------


class Shots:
    """Three captures of one state (200 cols, resized to 80, resized back to 200)."""

    def __init__(self, cap: cs.Capturer, version: str) -> None:
        self.cap = cap
        self.version = version

    def three(self, p: cs.Pane, name: str, expected: str, reason: str = "") -> None:
        for tag, (w, hgt) in (("w200", (200, 50)), ("w80", (80, 40)), ("w200r", (200, 50))):
            if tag != "w200":
                p.tmux("resize-window", "-t", f"={p.agent}:", "-x", str(w), "-y", str(hgt))
                p.steps.append(f"resize the window to {w}x{hgt}")
                time.sleep(2.5)
            text = p.settle(1.5, 6)
            self.one(p, f"{name}_{tag}", expected, reason, text)
            p.steps.pop() if tag != "w200" else None
        p.tmux("resize-window", "-t", f"={p.agent}:", "-x", "200", "-y", "50")

    def one(self, p: cs.Pane, name: str, expected: str, reason: str, text: str) -> None:
        agent = p.agent
        rel = f"{agent}/{name}.txt"
        path = self.cap.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(cs.tidy(text))
        how = "; ".join(p.steps)
        shot = cs.Shot(rel, agent, expected, self.version, how)
        shot.reason = reason  # type: ignore[attr-defined]
        self.cap.shots.append(shot)
        print(f"  {rel:50} {expected} {reason}", flush=True)


def claude_ready(p: cs.Pane, timeout: float = 120) -> None:
    """Answer first-run dialogs (theme, security notes, API key, trust, bypass warning)
    until the prompt's footer shows."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # the bottom only: an inline TUI leaves answered dialogs in the scrollback
        rows = cs.tidy(p.settle(1.0, 4)).split("\n")
        s, low = "\n".join(rows[-30:]), "\n".join(rows[-16:])
        if re.search(r"\? for shortcuts|mode on|bypass permissions on", low) and \
                not re.search(r"Yes, I accept|trust|Enter to confirm", low):
            p.steps.append("wait for the prompt")
            return
        if re.search(r"Choose the text style|Security notes|Press Enter to continue", s):
            p.keys("Enter")
        elif re.search(r"Yes, I accept", low):
            p.keys("Down")
            time.sleep(0.5)
            p.keys("Enter")
        elif re.search(r"Do you want to use this API key|Detected a custom API key", low):
            p.keys("Up")
            time.sleep(0.5)
            p.keys("Enter")
        elif re.search(r"trust (?:the files in )?this folder", low, re.I):
            cs.claude_accept_trust(p) if "Yes, I trust" in low else p.keys("Enter")
        time.sleep(1)
    raise cs.CaptureError(f"claude: no prompt after {timeout}s:\n{p.screen()}")


def claude_env(api: StateApi) -> dict[str, str]:
    # IS_SANDBOX=1: --dangerously-skip-permissions refuses to run as root otherwise
    return {"ANTHROPIC_AUTH_TOKEN": "atoll-capture-dummy", "IS_SANDBOX": "1",
            "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{api.port}",
            "DISABLE_AUTOUPDATER": "1", "CLAUDE_CODE_MAX_RETRIES": "0"}


def claude_family(cap: cs.Capturer, api: StateApi, name: str, binary: str,
                  version: str) -> None:
    sh = Shots(cap, version)
    env = claude_env(api)
    old = name != "claude"

    def mk(*extra: str) -> cs.Pane:
        pane = cs.Pane("claude", [binary, *extra], env, setup=cs.MOCK_SETUP)
        pane.cwd = cs.SCRATCH / f"{name}-repo"
        pane.home = cs.SCRATCH / f"home-{name}"
        return pane

    def errors(p: cs.Pane) -> None:
        claude_ready(p)
        for kind, label, reason in (("auth", "error_auth", "login"),
                                    ("rate", "error_rate_limit", "rate-limit"),
                                    ("model", "error_model", "model-unavailable")):
            p.type(f"fail {kind}: please run {cs.SHELL_PROMPT}")
            p.wait(r"API Error|Please run /login|[Rr]ate limit|selected model|not_found", 90,
                   settle=3)
            sh.three(p, f"{label}{'_' + name if old else ''}", "error", reason)
            p.type("/clear")
            time.sleep(2)

    def dialogs(p: cs.Pane) -> None:
        claude_ready(p)
        target = p.cwd / "hello.txt"
        p.type(f"write it {target}")
        p.wait(r"Do you want to (?:create|make this edit)", 90, settle=2)
        sh.three(p, f"permission_write{'_' + name if old else ''}", "waiting", "permission")
        p.keys("Enter")
        p.wait(r"Hello from the mock|Done\.|Wrote|hello", 60, settle=2)
        p.type(f"edit it {target}")
        p.wait(r"Do you want to make this edit", 90, settle=2)
        sh.three(p, f"permission_edit{'_' + name if old else ''}", "waiting", "permission")
        p.keys("Escape")
        time.sleep(2)

    def prose(p: cs.Pane) -> None:
        claude_ready(p)
        p.type("say esc")
        p.wait(r"esc to interrupt it", 60, settle=3)
        sh.three(p, f"idle_prose_esc{'_' + name if old else ''}", "idle")
        p.type("please press esc to interrupt the build", enter=False)
        time.sleep(2)
        sh.three(p, f"idle_typed_esc{'_' + name if old else ''}", "idle")
        p.keys("C-u")
        time.sleep(1)

    def plan(p: cs.Pane) -> None:
        claude_ready(p)
        p.type("plan it: create hello.txt")
        p.wait(r"Would you like to proceed|keep planning", 90, settle=2)
        sh.three(p, f"plan_proceed{'_' + name if old else ''}", "waiting", "plan")

    def busy(p: cs.Pane) -> None:
        claude_ready(p)
        p.type("slow: take your time")
        p.wait(r"…|\.\.\.", 60, settle=0)
        time.sleep(5)
        p.wait_step("5 s (the API stream stays open)")
        sh.three(p, f"running_bypass{'_' + name if old else ''}", "running")

    def trust(p: cs.Pane) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            s = p.settle(1.0, 4)
            if re.search(r"trust (?:the files in )?this folder", s, re.I):
                break
            if re.search(r"Choose the text style|Security notes|Press Enter to continue", s):
                p.keys("Enter")
            elif re.search(r"Do you want to use this API key|Detected a custom API key", s):
                p.keys("Up")
                time.sleep(0.5)
                p.keys("Enter")
            time.sleep(1)
        p.wait(r"trust", 10, settle=2)
        sh.three(p, f"trust_folder_{name}", "waiting", "trust")

    steps = [(errors, "default" if old else "manual"), (dialogs, "default" if old else "manual"),
             (prose, "default" if old else "manual"),
             (plan, "plan"), (busy, "")] + ([(trust, None)] if old else [])
    only = set(filter(None, os.environ.get("CAPTURE_ONLY", "").split(",")))
    for fn, mode in steps:
        if only and fn.__name__ not in only:
            continue
        extra = [] if mode is None else (["--dangerously-skip-permissions"] if mode == "" else
                                          ["--permission-mode", mode])
        try:
            cs.run(mk(*extra), fn)
        except cs.CaptureError as e:
            print(f"  {name} {fn.__name__} failed: {str(e)[:1500]}", flush=True)


def codex(cap: cs.Capturer, api: StateApi, version: str) -> None:
    sh = Shots(cap, version)

    def prepare(home: Path, cwd: Path) -> None:
        (home / ".codex").mkdir()
        (home / ".codex" / "config.toml").write_text(
            'model = "gpt-5.1-codex"\nmodel_provider = "mock"\n\n[model_providers.mock]\n'
            f'name = "atoll capture mock"\nbase_url = "http://127.0.0.1:{api.port}/v1"\n'
            'wire_api = "responses"\nenv_key = "OPENAI_API_KEY"\n'
            "request_max_retries = 0\nstream_max_retries = 0\n")

    def body(p: cs.Pane) -> None:
        p.wait(r"Trust this folder\?", 60)
        p.keys("Enter")
        p.wait(r"Ask Codex to do anything", settle=3)
        for kind, label, reason in (("auth", "error_auth", "login"),
                                    ("rate", "error_rate_limit", "rate-limit"),
                                    ("model", "error_model", "model-unavailable")):
            p.type(f"fail {kind}: please run {cs.SHELL_PROMPT}")
            p.wait(r"■|rror|401|429|404", 90, settle=3)
            sh.three(p, label, "error", reason)
        p.type("say esc")
        p.wait(r"esc to interrupt it", 60, settle=3)
        sh.three(p, "idle_prose_esc", "idle")
        p.type("please press esc to interrupt the build", enter=False)
        time.sleep(2)
        sh.three(p, "idle_typed_esc", "idle")
        p.keys("C-u")

    def question(p: cs.Pane) -> None:
        # request_user_input is "unavailable in Default mode": shift+tab to Plan mode first
        p.wait(r"Trust this folder\?", 60)
        p.keys("Enter")
        p.wait(r"Ask Codex to do anything", settle=3)
        p.keys("BTab")
        p.wait(r"(?i)plan", 10, settle=1)
        p.type("ask me which file to create")
        p.wait(r"Question 1|Which file should I create", 60, settle=2)
        sh.three(p, "question", "waiting", "question")
        p.keys("Enter")
        p.wait(r"Question 2|Which tone", 30, settle=2)
        sh.three(p, "question_second", "waiting", "question")

    pane = cs.Pane("codex", ["codex", "--no-daemon"], {"OPENAI_API_KEY": "sk-atoll-capture"},
                   setup=cs.MOCK_SETUP + "~/.codex/config.toml sets model_provider to it "
                   "(request_max_retries = 0, stream_max_retries = 0); ")
    if os.environ.get("CAPTURE_ONLY", "") != "question":
        cs.run(pane, body, prepare)
    cs.run(pane, question, prepare)


def gemini(cap: cs.Capturer, api: StateApi, version: str, binary: str) -> None:
    sh = Shots(cap, version)

    def body(p: cs.Pane) -> None:
        p.wait(r"Do you trust the files in this folder\?", 60)
        p.keys("Enter")
        p.wait(r"Existing API key detected", 60)
        p.keys("Enter")
        p.wait(r"Enter Gemini API Key")
        p.keys("Enter")
        p.wait(r"Type your message", 60, settle=3)
        kinds = os.environ.get("CAPTURE_KINDS", "auth,rate,model").split(",")
        for kind, label, reason in (("auth", "error_auth", "login"),
                                    ("rate", "error_rate_limit", "rate-limit"),
                                    ("model", "error_model", "model-unavailable")):
            if kind not in kinds:
                continue
            p.type(f"fail {kind}: please run {cs.SHELL_PROMPT}")
            p.wait(r"API Error|rror|401|429|404|[Qq]uota|Usage limit reached", 240, settle=3)
            if "Usage limit reached" in p.screen():  # a dialog: Keep trying / Stop
                sh.three(p, f"{label}_dialog", "error", reason)
                p.keys("Down")
                time.sleep(0.5)
                p.keys("Enter", note="press Down Enter (Stop)")
                time.sleep(3)
            p.wait_absent(r"esc to cancel, \d", 240, settle=3)
            sh.three(p, label, "error", reason)
            if re.search(r"●|○|\d\. ", p.screen().split("Type your message")[0][-800:]):
                p.keys("Escape")
                time.sleep(1)
        p.type("say esc")
        p.wait(r"esc to interrupt it", 60, settle=3)
        sh.three(p, "idle_prose_esc", "idle")

    env = {"GEMINI_API_KEY": "atoll-capture-dummy",
           "GOOGLE_GEMINI_BASE_URL": f"http://127.0.0.1:{api.port}"}
    cs.run(cs.Pane("gemini", [binary], env, setup=cs.MOCK_SETUP), body)


def opencode(cap: cs.Capturer, api: StateApi, version: str, binary: str) -> None:
    sh = Shots(cap, version)

    def prepare(home: Path, cwd: Path) -> None:
        cfg = home / ".config" / "opencode"
        cfg.mkdir(parents=True)
        (cfg / "opencode.json").write_text(json.dumps({
            "$schema": "https://opencode.ai/config.json", "model": "mock/mock-model",
            "permission": {"bash": "ask"},
            "provider": {"mock": {"npm": "@ai-sdk/openai-compatible", "name": "atoll mock",
                                  "options": {"baseURL": f"http://127.0.0.1:{api.port}/v1",
                                              "apiKey": "dummy"},
                                  "models": {"mock-model": {"name": "Mock Model",
                                                            "tool_call": True}}}}}))

    def body(p: cs.Pane) -> None:
        p.wait(r"Ask anything", 60, settle=3)
        if os.environ.get("CAPTURE_ONLY") == "errors":
            pass
        else:
            question(p)
        errors(p)

    def question(p: cs.Pane) -> None:
        p.type("ask me which file to create")
        try:
            p.wait(r"Which file should I create|enter submit", 90, settle=2)
            sh.three(p, "question", "waiting", "question")
            p.keys("Escape")
            time.sleep(2)
        except cs.CaptureError as e:
            print(f"  opencode question not reached: {str(e)[:300]}", flush=True)

    def errors(p: cs.Pane) -> None:
        for kind, label, reason in (("auth", "error_auth", "login"),
                                    ("rate", "error_rate_limit", "rate-limit"),
                                    ("model", "error_model", "model-unavailable")):
            p.type(f"fail {kind}: please run {cs.SHELL_PROMPT}")
            p.wait(r"rror|401|429|404|[Rr]ate limit|exist|API key provided", 120, settle=3)
            sh.three(p, label, "error", reason)
            p.keys("Escape")
            time.sleep(1)
        p.type("say esc")
        p.wait(r"esc to interrupt it", 60, settle=3)
        sh.three(p, "idle_prose_esc", "idle")

    cs.run(cs.Pane("opencode", [binary], {}, setup=cs.MOCK_SETUP +
                   "~/.config/opencode/opencode.json adds it as provider `mock`; "), body, prepare)


def aider(cap: cs.Capturer, api: StateApi, version: str, binary: str) -> None:
    sh = Shots(cap, version)

    def body(p: cs.Pane) -> None:
        p.wait(r"Add \.aider\* to \.gitignore", 90)
        p.keys("Enter")
        p.wait(r"^> ?$", 90, settle=3)
        for kind, label, reason in (("auth", "error_auth", "login"),
                                    ("rate", "error_rate_limit", "rate-limit"),
                                    ("model", "error_model", "model-unavailable")):
            p.type(f"fail {kind}: please run {cs.SHELL_PROMPT}")
            p.wait(r"Error|error", 180, settle=0)
            # the "Open URL for more info?" question after the error; aider's spinner
            # thread may overdraw its start ("█░  Waiting for openai/gpt-4oD)on't ask ...")
            text = p.wait(r"^> ?$|\[Yes\]:\s*$", 300, settle=3)
            sh.three(p, label, "error", reason)
            if re.search(r"\[Yes\]:\s*$", text.strip().split("\n")[-1]):
                p.keys("n", "Enter", note="press n Enter")
                p.wait(r"^> ?$", 60, settle=3)
                sh.three(p, f"{label}_after", "error", reason)
        p.type("say esc")
        p.wait(r"esc to interrupt it", 60, settle=0)
        p.wait(r"^> ?$", 60, settle=3)
        sh.three(p, "idle_prose_esc", "idle")

    args = ["--no-check-update", "--no-show-release-notes", "--model", "openai/gpt-4o",
            "--openai-api-key", "sk-atoll-capture-dummy",
            "--openai-api-base", f"http://127.0.0.1:{api.port}/v1"]
    cs.run(cs.Pane("aider", [binary, *args], {}, setup=cs.MOCK_SETUP), body)


HEADER = [
    "# Screens captured from the real agent CLIs by scripts/capture_screens.py and",
    "# scripts/capture_states.py. expected: the status a screen means (running | waiting |",
    "# error | idle); idle = nothing on screen says busy, needs-a-human or failed, so the",
    "# classifier falls back to activity timestamps. reason: why a waiting/error screen is.",
    "",
]


def merge_manifest(out: Path, shots: list[cs.Shot]) -> None:
    """Rewrite manifest.toml: its entries, with those of ``shots`` added or replaced."""
    path = out / "manifest.toml"
    old = tomllib.loads(path.read_text()).get("screen", []) if path.exists() else []
    by_file = {r["file"]: r for r in old}
    for s in shots:
        by_file[s.file] = {**vars(s), "reason": getattr(s, "reason", "")}
    rows = sorted((r for r in by_file.values() if (out / r["file"]).exists()),
                  key=lambda r: (cs.AGENTS.index(r["agent"]), r["file"]))
    lines = list(HEADER)
    for r in rows:
        lines.append("[[screen]]")
        for k in ("file", "agent", "expected", "reason", "cli_version", "how"):
            if r.get(k):
                lines.append(f"{k} = {cs.toml_str(r[k])}")
        lines.append("")
    path.write_text("\n".join(lines))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("agents", nargs="*")
    ap.add_argument("--merge", action="store_true",
                    help="merge the captured shots (SCRATCH/shots-*.json) into manifest.toml")
    ap.add_argument("--prefix", type=Path, default=PREFIX)
    ap.add_argument("--out", type=Path, default=cs.OUT)
    args = ap.parse_args()
    cs.SCRATCH.mkdir(parents=True, exist_ok=True)
    if args.merge:
        shots = [cs.Shot(**{k: v for k, v in r.items() if k != "reason"})
                 for f in sorted(cs.SCRATCH.glob("shots-*.json"))
                 for r in json.loads(f.read_text())]
        reasons = {r["file"]: r["reason"] for f in sorted(cs.SCRATCH.glob("shots-*.json"))
                   for r in json.loads(f.read_text())}
        for s in shots:
            s.reason = reasons[s.file]  # type: ignore[attr-defined]
        merge_manifest(args.out, shots)
        return 0
    api = StateApi(cs.SCRATCH / f"mock-api-{'-'.join(args.agents)}.log").start()
    cap = cs.Capturer(args.out, api, {})
    pre = args.prefix
    npm = {"claude": ("claude", "@anthropic-ai/claude-code/bin/claude.exe"),
           "claude-old": ("claude-old", "@anthropic-ai/claude-code/cli.js"),
           "claude-1": ("claude-1", "@anthropic-ai/claude-code/cli.js")}
    jobs: dict[str, Callable[[], None]] = {}
    for a, (d, rel) in npm.items():
        b = str(pre / d / "node_modules" / rel)
        jobs[a] = (lambda a=a, b=b: claude_family(cap, api, a, b, cs.version_of([b, "--version"])))
    codex_bin = "codex"
    jobs["codex"] = lambda: codex(cap, api, cs.version_of([codex_bin, "--version"]))
    gb = str(pre / "gemini/node_modules/.bin/gemini")
    jobs["gemini"] = lambda: gemini(cap, api, cs.version_of([gb, "--version"]), gb)
    ob = str(pre / "opencode/node_modules/.bin/opencode")
    jobs["opencode"] = lambda: opencode(cap, api, cs.version_of([ob, "--version"]), ob)
    ab = str(pre / "aider/bin/aider")
    jobs["aider"] = lambda: aider(cap, api, cs.version_of([ab, "--version"]), ab)
    failed = []
    try:
        for a in args.agents:
            print(a, flush=True)
            try:
                jobs[a]()
            except cs.CaptureError as e:
                failed.append(a)
                print(f"capture_states: {e}", file=sys.stderr, flush=True)
            pending = cs.SCRATCH / f"shots-{a}.json"
            pending.write_text(json.dumps([{**vars(s), "reason": getattr(s, "reason", "")}
                                           for s in cap.shots]))
    finally:
        api.close()
    print(f"{len(cap.shots)} screens written")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
