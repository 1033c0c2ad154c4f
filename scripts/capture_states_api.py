"""The stand-in model API of scripts/capture_states.py: scripts/capture_screens.py's MockApi
plus the answers that make the real CLIs show error banners, plan/edit/write dialogs,
questions and prose containing "esc to interrupt" (see capture_states.py for the markers).
Only the model's reply is scripted; the CLI draws every screen.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import capture_screens as cs

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


def _mcp_tool(tools: list[Any], suffix: str) -> dict[str, str] | None:
    """The name (and namespace, when Codex groups MCP tools in one) under which the
    request offers the MCP tool whose name ends with ``suffix``."""
    for t in tools:
        if not isinstance(t, dict):
            continue
        if str(t.get("name", "")).endswith(suffix):
            return {"name": str(t["name"])}
        inner = t.get("tools")
        if isinstance(inner, list):
            for u in inner:
                if isinstance(u, dict) and str(u.get("name", "")).endswith(suffix):
                    return {"name": str(u["name"]), "namespace": str(t.get("name", ""))}
    return None


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
        if tool is None and body.get("stream") and "trickle" in prompt and fresh:
            self.anthropic_trickle(h, body)
            return
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

    def anthropic_trickle(self, h: Any, body: dict[str, Any]) -> None:
        """A reply that streams a few words every 2 s for up to 15 min: a busy turn whose
        spinner line counts the tokens coming in ("✻ Verb… (12s · ↓ 200 tokens)")."""
        h.start_sse()
        h.sse({"type": "message_start", "message": {
            "id": "msg_mock", "type": "message", "role": "assistant", "model": body.get("model"),
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 1}}}, "message_start")
        h.sse({"type": "content_block_start", "index": 0,
               "content_block": {"type": "text", "text": ""}},
              "content_block_start")
        for _ in range(450):
            if self.stop_event.wait(2):
                return
            h.sse({"type": "content_block_delta", "index": 0, "delta": {
                "type": "text_delta", "text": "Still weighing the options here. " * 4}},
                "content_block_delta")
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
        long = re.search(r"wait long (\d+)", text)
        if long and "update_plan" in names and not _has_tool_result(body):
            # older Codex draws its "─ Worked for ─" divider only after a turn's tool
            # output: an update_plan call first (no sandbox, no approval)
            n = next(self.ids)
            self.responses_item(h, {"type": "function_call", "id": f"fc_mock{n}",
                                    "call_id": f"call_mock{n}", "name": "update_plan",
                                    "arguments": json.dumps({"plan": [
                                        {"step": "Wait for the build", "status": "in_progress"}]})})
            return
        if long and (_has_tool_result(body) or "update_plan" not in names):
            # a turn that takes a while: the answer comes after the delay, so the real
            # Codex ends the turn with its "Worked for ..." divider
            h.start_sse()
            h.sse({"type": "response.created", "response": {"id": "resp_mock"}},
                  "response.created")
            if self.stop_event.wait(int(long.group(1))):
                return
            self.responses_item(h, {"type": "message", "id": f"msg_mock{next(self.ids)}",
                                    "role": "assistant", "status": "completed",
                                    "content": [{"type": "output_text", "annotations": [],
                                                 "text": "Done after a long wait."}]},
                                started=True)
            return
        mcp_tool = _mcp_tool(body.get("tools") or [], "touch_file")
        if "use mcp" in text and mcp_tool and not _has_tool_result(body):
            n = next(self.ids)
            self.responses_item(h, {"type": "function_call", "id": f"fc_mock{n}",
                                    "call_id": f"call_mock{n}", **mcp_tool,
                                    "arguments": json.dumps({"path": "hello.txt"})})
            return
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

    def responses_item(self, h: Any, item: dict[str, Any], started: bool = False) -> None:
        """One output item, then the response's end (``started``: the stream and its
        response.created were already sent)."""
        if not started:
            h.start_sse()
            h.sse({"type": "response.created", "response": {"id": "resp_mock"}},
                  "response.created")
        h.sse({"type": "response.output_item.done", "output_index": 0, "item": item},
              "response.output_item.done")
        h.sse({"type": "response.completed", "response": {"id": "resp_mock", "usage": {
            "input_tokens": 10, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 15}}}, "response.completed")

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
