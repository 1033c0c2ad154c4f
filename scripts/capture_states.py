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

sys.path.insert(0, str(Path(__file__).resolve().parent))
import capture_screens as cs

PREFIX = Path("/var/tmp/atoll-agents")
# the stdio MCP server Codex is given for its MCP tool approval (a Python with the mcp SDK)
MCP_PROBE = Path(__file__).resolve().parent / "capture_mcp_probe.py"
MCP_PYTHON = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "python"

from capture_states_api import StateApi  # noqa: E402

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
        if not os.environ.get("CAPTURE_EDIT_ONLY"):  # the write dialog is in the fixtures
            sh.three(p, f"permission_write{'_' + name if old else ''}", "waiting",
                     "permission")
        p.keys("Enter")
        p.wait_absent(r"Do you want to create", 60, settle=3)
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

    def question(p: cs.Pane) -> None:
        claude_ready(p)
        p.type(f"{cs.QUESTION_PROMPT} which file to create")
        p.wait(r"Enter to select|Which file should I create", 90, settle=2)
        sh.three(p, f"question{'_' + name if old else ''}", "waiting", "question")

    def trickle(p: cs.Pane) -> None:
        # a turn whose answer streams in slowly: the spinner line counts the tokens
        claude_ready(p)
        p.type("trickle: think it over")
        p.wait(r"tokens", 90, settle=0)
        time.sleep(8)
        p.wait_step("8 s (the API streams a few words every 2 s)")
        sh.three(p, f"running_tokens{'_' + name if old else ''}", "running")

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
             (plan, "plan"), (busy, ""), (trickle, ""),
             (question, "default")] + ([(trust, None)] if old else [])
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

    def prepare_mcp(home: Path, cwd: Path) -> None:
        prepare(home, cwd)
        with (home / ".codex" / "config.toml").open("a") as f:
            f.write(f'\n[mcp_servers.atoll_probe]\ncommand = "{MCP_PYTHON}"\n'
                    f'args = ["{MCP_PROBE}"]\n')

    def ready(p: cs.Pane) -> None:
        p.wait(r"Trust this folder\?", 60)
        p.keys("Enter")
        p.wait(r"Ask Codex to do anything", settle=3)

    def mcp(p: cs.Pane) -> None:
        ready(p)
        p.type("use mcp: create hello.txt with the atoll_probe tool")
        p.wait(r"MCP server to run tool|enter to submit \| esc to cancel", 90, settle=2)
        sh.three(p, "approval_mcp_tool", "waiting", "permission")

    def stale(p: cs.Pane) -> None:
        # a turn of about 85 s; the window is resized while Codex still draws
        # "• Working (… esc to interrupt)", so the inline TUI's older drawing stays above
        # the later "─ Worked for 1m 25s ─" divider
        ready(p)
        p.type("wait long 85")
        p.wait(r"esc to interrupt", 30, settle=0)
        time.sleep(20)
        p.wait_step("20 s")
        for w, hgt in ((80, 40), (200, 50)):
            p.tmux("resize-window", "-t", f"={p.agent}:", "-x", str(w), "-y", str(hgt))
            p.steps.append(f"resize the window to {w}x{hgt} while the turn runs")
            time.sleep(3)
        p.wait(r"Worked for", 150, settle=3)
        sh.three(p, "idle_worked_divider", "idle")

    pane = cs.Pane("codex", ["codex", "--no-daemon"], {"OPENAI_API_KEY": "sk-atoll-capture"},
                   setup=cs.MOCK_SETUP + "~/.codex/config.toml sets model_provider to it "
                   "(request_max_retries = 0, stream_max_retries = 0); ")
    only = os.environ.get("CAPTURE_ONLY", "")
    if only in ("", "body"):
        cs.run(pane, body, prepare)
    if only in ("", "question"):
        cs.run(pane, question, prepare)
    if only in ("", "trust"):
        def trust(p: cs.Pane) -> None:
            p.wait(r"Trust this folder\?", 60, settle=2)
            sh.three(p, "trust_folder", "waiting", "trust")
        cs.run(pane, trust, prepare)
    if only in ("", "mcp"):
        mcp_pane = cs.Pane("codex", ["codex", "--no-daemon"],
                           {"OPENAI_API_KEY": "sk-atoll-capture"},
                           setup=cs.MOCK_SETUP + "~/.codex/config.toml sets model_provider to "
                           "it and adds `[mcp_servers.atoll_probe]` (scripts/"
                           "capture_mcp_probe.py, one tool `touch_file`); the stand-in "
                           "answers 'use mcp' with a call to that tool; ")
        cs.run(mcp_pane, mcp, prepare_mcp)
    if only in ("", "stale"):
        stale_pane = cs.Pane("codex", ["codex", "--no-daemon"],
                             {"OPENAI_API_KEY": "sk-atoll-capture"},
                             setup=cs.MOCK_SETUP + "~/.codex/config.toml sets model_provider "
                             "to it; the stand-in answers 'wait long 85' after 85 s; ")
        cs.run(stale_pane, stale, prepare)


def codex_old(cap: cs.Capturer, api: StateApi, version: str, binary: str) -> None:
    """An older Codex (0.63.0): its turn ends with a "─ Worked for 1m 25s ─" divider, and a
    resize while it still draws "• Working (… esc to interrupt)" leaves that line in the
    inline TUI's scrollback, above the later divider."""
    sh = Shots(cap, version)

    def prepare(home: Path, cwd: Path) -> None:
        (home / ".codex").mkdir()
        (home / ".codex" / "config.toml").write_text(
            'model = "gpt-5.1-codex"\nmodel_provider = "mock"\n\n[model_providers.mock]\n'
            f'name = "atoll capture mock"\nbase_url = "http://127.0.0.1:{api.port}/v1"\n'
            'wire_api = "responses"\nenv_key = "OPENAI_API_KEY"\n'
            "request_max_retries = 0\nstream_max_retries = 0\n")

    shot_trust: list[bool] = []

    def stale(p: cs.Pane) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # trust / onboarding screens of this release
            s = p.settle(1.0, 4)
            if re.search(r"Ask Codex to do anything|context left|for shortcuts", s):
                break
            if re.search(r"(?i)trust", s) and not shot_trust:
                shot_trust.append(True)
                sh.three(p, "trust_folder_codex-old", "waiting", "trust")
            if re.search(r"(?i)trust|Welcome|Press enter|continue", s):
                p.keys("Enter")
            time.sleep(1)
        p.wait(r"Ask Codex to do anything|context left|for shortcuts", 30, settle=3)
        for _ in range(int(os.environ.get("CAPTURE_FILL", "0"))):  # fill the screen first
            p.type("say esc")
            time.sleep(4)
        p.type("wait long 85")
        p.wait(r"esc to interrupt", 30, settle=0)
        time.sleep(10)
        p.wait_step("10 s")
        sizes = [tuple(int(v) for v in s.split("x")) for s in
                 os.environ.get("CAPTURE_SIZES", "80x40,200x50").split(",")]
        for w, hgt in sizes:
            p.tmux("resize-window", "-t", f"={p.agent}:", "-x", str(w), "-y", str(hgt))
            p.steps.append(f"resize the window to {w}x{hgt} while the turn runs")
            time.sleep(4)
        p.wait(r"Worked for", 150, settle=3)
        sh.three(p, f"idle_worked_divider{os.environ.get('CAPTURE_TAG', '')}_codex-old", "idle")

    pane = cs.Pane("codex", [binary], {"OPENAI_API_KEY": "sk-atoll-capture"},
                   setup=cs.MOCK_SETUP + "~/.codex/config.toml sets model_provider to it; "
                   "the stand-in answers 'wait long 85' after 85 s; ")
    pane.home, pane.cwd = cs.SCRATCH / "home-codex-old", cs.SCRATCH / "codex-old-repo"
    cs.run(pane, stale, prepare)


def gemini(cap: cs.Capturer, api: StateApi, version: str, binary: str) -> None:
    sh = Shots(cap, version)

    def body(p: cs.Pane) -> None:
        p.wait(r"Do you trust the files in this folder\?", 60)
        if os.environ.get("CAPTURE_ONLY") == "trust":
            p.settle(2, 8)
            sh.three(p, "trust_folder", "waiting", "trust")
            return
        p.keys("Enter")
        p.wait(r"Existing API key detected", 60)
        p.keys("Enter")
        p.wait(r"Enter Gemini API Key")
        p.keys("Enter")
        p.wait(r"Type your message", 60, settle=3)
        if os.environ.get("CAPTURE_ONLY") == "permission":
            p.type(f"please run {cs.SHELL_PROMPT}")
            p.wait(r"Allow execution", 60, settle=2)
            sh.three(p, "permission_shell", "waiting", "permission")
            return
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
        if os.environ.get("CAPTURE_ONLY") == "permission":
            p.type(f"please run {cs.SHELL_PROMPT}")
            p.wait(r"Permission required|Allow once", 90, settle=2)
            sh.three(p, "permission_bash", "waiting", "permission")
            return
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
        kinds = os.environ.get("CAPTURE_KINDS", "auth,rate,model").split(",")
        for kind, label, reason in (("auth", "error_auth", "login"),
                                    ("rate", "error_rate_limit", "rate-limit"),
                                    ("model", "error_model", "model-unavailable")):
            if kind not in kinds:
                continue
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
    cob = str(pre / "codex-old/node_modules/.bin/codex")
    jobs["codex-old"] = lambda: codex_old(cap, api, cs.version_of([cob, "--version"]), cob)
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
