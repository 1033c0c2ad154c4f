"""Every action is in the ledger before it takes effect; a failed ledger write fails it."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.proc import atoll


@pytest.fixture
def state(tmp_path: Path) -> dict[str, str]:
    return {"XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
            "XDG_CACHE_HOME": str(tmp_path / "cache")}


def events(env: dict[str, str]) -> list[dict[str, Any]]:
    res = atoll("audit", "show", "--json", env=env)
    assert res.returncode == 0, res.stderr
    out: list[dict[str, Any]] = json.loads(res.stdout)
    return out


def test_actions_are_recorded_intent_then_outcome(tmux_socket: str,
                                                  state: dict[str, str]) -> None:
    run = lambda *a: atoll(*a, socket=tmux_socket, env=state)  # noqa: E731
    assert run("new", "led", "--", "cat").returncode == 0
    assert run("type", "led", "echo hi\x03", "--enter").returncode == 0
    assert run("peek", "led").returncode == 0
    assert run("kill", "led").returncode == 0
    assert run("kill", "led").returncode == 3  # not found: resolution fails before any record
    evs = events(state)
    pairs = [(e["action"], e["outcome"]) for e in evs]
    assert pairs == [
        ("session.new", "intent"), ("session.new", "ok"),
        ("session.type", "intent"), ("session.type", "ok"),
        ("session.peek", "intent"), ("session.peek", "ok"),
        ("session.kill", "intent"), ("session.kill", "ok"),
    ]
    typed = evs[2]["details"]
    assert typed["text"] == "echo hi" and typed["enter"] is True
    assert typed["sha256"] == hashlib.sha256(b"echo hi").hexdigest()
    assert evs[0]["target"]["session"] == "led" and evs[0]["actor"]["user"] == "root"
    assert [e["seq"] for e in evs] == list(range(1, 9))
    assert atoll("audit", "verify", env=state).returncode == 0


@pytest.fixture
def readonly_state(tmp_path: Path) -> Iterator[dict[str, str]]:
    ro = tmp_path / "ro"
    ro.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)], check=True)
    try:
        yield {"XDG_STATE_HOME": str(ro), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    finally:
        subprocess.run(["umount", str(ro)], check=False)


def test_unwritable_ledger_fails_closed(tmux_socket: str, readonly_state: dict[str, str],
                                        tmp_path: Path) -> None:
    res = atoll("new", "never", "--", "sleep", "300", socket=tmux_socket, env=readonly_state)
    assert res.returncode == 1
    assert res.stderr.startswith("atoll: error: ") and len(res.stderr.splitlines()) == 1
    assert "ledger" in res.stderr
    listed = json.loads(atoll("ls", "--json", socket=tmux_socket, env=readonly_state).stdout)
    assert listed["sessions"] == []
    # an existing session cannot be typed into or killed without a record either
    ok_env = {"XDG_STATE_HOME": str(tmp_path / "okstate")}
    assert atoll("new", "victim", "--", "cat", socket=tmux_socket, env=ok_env).returncode == 0
    marker = "untyped-text"
    assert atoll("type", "victim", marker, socket=tmux_socket, env=readonly_state).returncode == 1
    assert atoll("kill", "victim", socket=tmux_socket, env=readonly_state).returncode == 1
    time.sleep(0.3)
    screen = atoll("peek", "victim", socket=tmux_socket, env=ok_env).stdout
    assert marker not in screen


def test_configured_ledger_path_is_used_by_new_kill_and_audit(tmux_socket: str,
                                                              state: dict[str, str],
                                                              tmp_path: Path) -> None:
    """``ledger_path`` from the config file is the ledger every command writes and reads;
    the default one stays untouched (audit once verified the empty default: "intact: 0")."""
    configured = tmp_path / "elsewhere" / "ledger.jsonl"
    cfg = Path(state["XDG_CONFIG_HOME"]) / "atoll"
    cfg.mkdir(parents=True)
    (cfg / "config.toml").write_text(f"ledger_path = {str(configured)!r}\n")
    run = lambda *a: atoll(*a, socket=tmux_socket, env=state)  # noqa: E731
    assert run("new", "cfgled", "--", "cat").returncode == 0
    assert run("kill", "cfgled").returncode == 0
    stored = [json.loads(line) for line in configured.read_text().splitlines()]
    assert [(e["action"], e["outcome"]) for e in stored] == [
        ("session.new", "intent"), ("session.new", "ok"),
        ("session.kill", "intent"), ("session.kill", "ok"),
    ]
    assert not (Path(state["XDG_STATE_HOME"]) / "atoll" / "ledger.jsonl").exists()
    assert [e["seq"] for e in events(state)] == [1, 2, 3, 4]
    verified = atoll("audit", "verify", env=state)
    assert verified.returncode == 0 and "intact: 4 lines" in verified.stdout, verified.stdout
    assert str(configured) in verified.stdout
    assert atoll("audit", "checkpoint", env=state).returncode == 0
    assert len(configured.read_text().splitlines()) == 6
