"""``atoll hooks install|status`` on a real home directory: idempotent, keeps the user's
own hooks, refuses a symlinked or oversized settings file without writing anything."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.support.proc import atoll

from atoll.core import hookcfg


def run(home: Path, *args: str) -> tuple[int, str, str]:
    res = atoll("hooks", *args, env={"HOME": str(home)})
    return res.returncode, res.stdout, res.stderr


def status(home: Path) -> dict[str, str]:
    code, out, err = run(home, "status", "--json")
    assert code == 0, err
    return {w["agent"]: w["state"] for w in json.loads(out)}


def test_install_wires_every_agent_once(tmp_path: Path) -> None:
    assert set(status(tmp_path).values()) == {"missing"}
    code, _, err = run(tmp_path, "install")
    assert code == 0, err
    assert set(status(tmp_path).values()) == {"wired"}
    files = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    code, out, _ = run(tmp_path, "install", "--json")
    assert code == 0 and all(not w["changed"] for w in json.loads(out))
    assert files == {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    settings = json.loads((tmp_path / ".claude" / "settings.json").read_text())
    assert settings["hooks"]["Stop"] == [
        {"hooks": [{"type": "command", "command": "atoll hook idle"}]}]
    assert (tmp_path / ".claude" / "settings.json").stat().st_mode & 0o077 == 0


def test_install_keeps_the_users_hooks_and_settings(tmp_path: Path) -> None:
    cfg = tmp_path / ".claude" / "settings.json"
    cfg.parent.mkdir()
    mine = {"model": "opus", "hooks": {"Stop": [{"hooks": [
        {"type": "command", "command": "notify-send done"}]}]}}
    cfg.write_text(json.dumps(mine))
    (tmp_path / ".aider.conf.yml").write_text("model: gpt-4o\nnotifications: false\n")
    code, _, err = run(tmp_path, "install", "--agent", "claude", "--agent", "aider")
    assert code == 0, err
    got = json.loads(cfg.read_text())
    assert got["model"] == "opus"
    stop = [h["command"] for g in got["hooks"]["Stop"] for h in g["hooks"]]
    assert stop == ["notify-send done", "atoll hook idle"]
    conf = (tmp_path / ".aider.conf.yml").read_text()
    # the user's own "notifications: false" stays; the command is added; status says so
    assert "notifications: false" in conf and "notifications-command: atoll hook idle" in conf
    assert status(tmp_path)["aider"] == "conflict"


def test_a_symlinked_settings_file_is_refused_and_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_text("{}")
    (tmp_path / ".codex").mkdir()
    (tmp_path / ".codex" / "hooks.json").symlink_to(target)
    code, out, err = run(tmp_path, "install", "--agent", "codex")
    assert code == 1 and out == ""
    assert err.startswith("atoll: error: ") and "hooks.json" in err and err[-1] == "\n"
    assert err.count("\n") == 1
    assert target.read_text() == "{}"


def test_a_broken_or_huge_settings_file_is_left_alone(tmp_path: Path) -> None:
    cfg = tmp_path / ".gemini" / "settings.json"
    cfg.parent.mkdir()
    cfg.write_text("{not json")
    code, _, err = run(tmp_path, "install", "--agent", "gemini")
    assert code == 1 and "not valid JSON" in err
    assert cfg.read_text() == "{not json"
    cfg.write_bytes(b" " * (2 << 20))
    code, _, err = run(tmp_path, "install", "--agent", "gemini")
    assert code == 1 and "larger than" in err
    assert os.path.getsize(cfg) == 2 << 20


def test_unknown_agent_is_bad_usage(tmp_path: Path) -> None:
    code, _, err = run(tmp_path, "install", "--agent", "shell")
    assert code == 2 and "shell" in err


def test_merge_is_pure_and_idempotent() -> None:
    doc: dict[str, object] = {"hooks": {"Notification": [
        {"matcher": "idle_prompt", "hooks": [{"type": "command", "command": "atoll hook idle"}]}]}}
    once, added = hookcfg.merge_json_hooks("claude", doc)
    assert "Notification[idle_prompt]" not in added and "Stop" in added
    assert doc["hooks"] != once["hooks"]  # the input is not modified
    assert hookcfg.merge_json_hooks("claude", once) == (once, [])
