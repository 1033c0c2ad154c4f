"""Configuration schema and parsing from TOML bytes (shared/DESIGN.md decision 9). Pure.

Two files exist:

- the operator's config (``config.toml`` at the XDG config path), parsed by
  :func:`parse_config` into :class:`Config`;
- a project-local ``.atoll.toml``, parsed by :func:`parse_project_config` into
  :class:`ProjectConfig`. A cloned repository is untrusted input, so that file may only set
  harmless keys (:data:`PROJECT_KEYS`); a key that would add hosts, commands, paths, agent
  users or mounts is refused by name.

Every problem raises :class:`ConfigError` (a :class:`UsageError`, exit 2) whose one-line
message names the file and the offending key. Times are seconds (float), paths are strings
as written (expansion of ``~`` happens in :mod:`atoll.config`, which does the I/O).
"""

from __future__ import annotations

import math
import re
from typing import Any

import msgspec

from atoll.core.errors import UsageError
from atoll.core.names import has_control_chars, validate_host_name, validate_user_name

MAX_CONFIG_BYTES = 1 << 20
"""Larger config files are refused (they are hand-written; a huge one is a mistake or hostile)."""

AGENTS: tuple[str, ...] = ("claude", "codex", "gemini", "opencode", "aider", "shell")
"""Agent names a project file may pick as its default (custom commands are not harmless)."""

COLUMNS: tuple[str, ...] = (
    "host", "name", "agent", "project", "worktree", "agent_user", "launched_by", "island",
    "status", "idle_seconds", "created", "last_activity", "attached", "cpu_percent",
    "rss_bytes", "pid", "command", "exit_status",
)  # fmt: skip
"""Column names of a listing (the JSON field names of ``SessionRow``)."""

PROJECT_KEYS: tuple[str, ...] = ("default_agent", "bell", "columns", "sort")
"""Keys a project-local ``.atoll.toml`` may set."""

REFUSED_PROJECT_KEYS: tuple[str, ...] = (
    "hosts", "notify_command", "ledger_path", "agent_users", "agent_user_patterns",
    "agent_group", "mounts", "grants", "record", "command", "commands", "env",
)  # fmt: skip
"""Keys a project file may never set; named in the refusal so the operator sees the attempt."""

POLICY_KEYS: tuple[str, ...] = ("policy", "islands", "forbid_flags", "max_idle", "max_age")
"""Host policy keys (``/etc/atoll/policy.toml``, root's): no operator or project config may
hold them, since a config that could would loosen the host's policy."""

_PATTERN_RE = re.compile(r"[a-z0-9_*?\[\]-]{1,64}")
MAX_TIMEOUT = 600.0


class ConfigError(UsageError):
    """A config file is invalid or tries to set a key it may not (exit 2)."""


class HostConfig(msgspec.Struct, kw_only=True, frozen=True):
    """One ``[[hosts]]`` entry: display ``name``, ``ssh`` alias, per-host ``timeout`` (s)."""

    name: str
    ssh: str
    timeout: float | None = None


class Config(msgspec.Struct, kw_only=True, frozen=True):
    """The operator's configuration; every field has a safe default."""

    hosts: tuple[HostConfig, ...] = ()
    agent_users: tuple[str, ...] = ()
    agent_user_patterns: tuple[str, ...] = ("*-agent",)
    agent_group: str = "atoll-agents"
    refresh_seconds: float = 2.0
    record: bool = False
    notify_command: tuple[str, ...] | None = None
    bell: bool = True
    ledger_path: str | None = None
    default_agent_user: str | None = None
    allow: tuple[str, ...] = ()
    """Egress allow-list entries (``HOST[:PORT]``) added to every bwrap/docker/podman
    island started without ``--net`` (atoll.core.egress); never from a project file."""


class ProjectConfig(msgspec.Struct, kw_only=True, frozen=True):
    """Harmless per-project display and agent defaults from ``.atoll.toml``."""

    default_agent: str | None = None
    bell: bool | None = None
    columns: tuple[str, ...] | None = None
    sort: str | None = None


_CONFIG_KEYS = frozenset(f.name for f in msgspec.structs.fields(Config))
_HOST_KEYS = frozenset(f.name for f in msgspec.structs.fields(HostConfig))


def _load_toml(data: bytes, source: str) -> dict[str, Any]:
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{source}: file larger than {MAX_CONFIG_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not UTF-8 (byte {exc.start})") from exc
    import tomllib  # only when a file exists: most runs have none (~3 ms of import)

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from exc
    except RecursionError as exc:
        # tomllib recurses per nested array or inline table; its depth is bounded by the
        # interpreter's recursion limit (1000 frames by default) and refused here.
        raise ConfigError(f"{source}: invalid TOML: nested too deeply") from exc
    except ValueError as exc:
        # int() refuses literals over sys.get_int_max_str_digits() (4300) digits.
        raise ConfigError(f"{source}: invalid TOML: {str(exc)[:120]}") from exc


def _text(value: str, key: str, source: str, limit: int = 4096) -> str:
    if not value or len(value) > limit or has_control_chars(value):
        raise ConfigError(
            f"{source}: {key} must be 1-{limit} characters without control characters"
        )
    return value


def _check_seconds(value: float, key: str, source: str) -> None:
    if not (math.isfinite(value) and 0 < value <= MAX_TIMEOUT):
        raise ConfigError(f"{source}: {key} must be a number of seconds in (0, {MAX_TIMEOUT:g}]")


def _convert(raw: Any, kind: type[Any], key: str, source: str) -> Any:
    try:
        return msgspec.convert(raw, kind)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {key}: {exc}") from exc


def _reject_unknown(table: dict[str, Any], known: frozenset[str], where: str, source: str) -> None:
    for key in table:
        if key not in known:
            raise ConfigError(f"{source}: unknown key {key[:64]!r}{where}")


def _reject_policy(raw: dict[str, Any], source: str) -> None:
    for key in raw:
        if key in POLICY_KEYS:
            raise ConfigError(
                f"{source}: {key!r} is host policy, set by root in /etc/atoll/policy.toml; "
                "a config file cannot change it"
            )


def parse_config(data: bytes, source: str = "config.toml") -> Config:
    """Parse the operator's config from TOML bytes; ``source`` names the file in errors."""
    raw = _load_toml(data, source)
    _reject_policy(raw, source)
    _reject_unknown(raw, _CONFIG_KEYS, "", source)
    hosts_raw = raw.get("hosts", [])
    if not isinstance(hosts_raw, list):
        raise ConfigError(f"{source}: hosts must be an array of tables ([[hosts]])")
    hosts: list[HostConfig] = []
    seen: set[str] = set()
    for i, entry in enumerate(hosts_raw, start=1):
        where = f" in [[hosts]] entry {i}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{source}: hosts entry {i} must be a table")
        _reject_unknown(entry, _HOST_KEYS, where, source)
        for required in ("name", "ssh"):
            if required not in entry:
                raise ConfigError(f"{source}: missing key {required!r}{where}")
        host = _convert(entry, HostConfig, f"hosts[{i}]", source)
        try:
            validate_host_name(host.name)
            validate_host_name(host.ssh)
        except UsageError as exc:
            raise ConfigError(f"{source}: {exc}{where}") from exc
        if host.name == "local":
            raise ConfigError(f"{source}: host name 'local' is reserved{where}")
        if host.name in seen:
            raise ConfigError(f"{source}: duplicate host name {host.name!r}{where}")
        seen.add(host.name)
        if host.timeout is not None:
            _check_seconds(host.timeout, f"timeout{where}", source)
        hosts.append(host)
    rest = {k: v for k, v in raw.items() if k != "hosts"}
    cfg: Config = _convert(rest, Config, "config", source)
    for user in cfg.agent_users:
        try:
            validate_user_name(user)
        except UsageError as exc:
            raise ConfigError(f"{source}: agent_users: {exc}") from exc
    for pattern in cfg.agent_user_patterns:
        if not _PATTERN_RE.fullmatch(pattern):
            raise ConfigError(
                f"{source}: agent_user_patterns: invalid pattern {pattern!r} "
                "(use a-z 0-9 _ - and the wildcards * ? [ ])"
            )
    try:
        validate_user_name(cfg.agent_group)
    except UsageError as exc:
        raise ConfigError(f"{source}: agent_group: invalid group name {cfg.agent_group!r}") from exc
    _check_seconds(cfg.refresh_seconds, "refresh_seconds", source)
    if cfg.notify_command is not None:
        if not cfg.notify_command:
            raise ConfigError(f"{source}: notify_command must be a non-empty list of strings")
        for arg in cfg.notify_command:
            _text(arg, "notify_command", source)
    if cfg.ledger_path is not None:
        _text(cfg.ledger_path, "ledger_path", source)
    if cfg.allow:
        from atoll.core.egress import parse_allow_list

        try:
            parse_allow_list(cfg.allow)
        except UsageError as exc:
            raise ConfigError(f"{source}: allow: {exc}") from exc
    if cfg.default_agent_user is not None:
        try:
            validate_user_name(cfg.default_agent_user)
        except UsageError as exc:
            raise ConfigError(f"{source}: default_agent_user: {exc}") from exc
    return msgspec.structs.replace(cfg, hosts=tuple(hosts))


def parse_project_config(data: bytes, source: str = ".atoll.toml") -> ProjectConfig:
    """Parse a project-local file; refuse every key outside :data:`PROJECT_KEYS` by name."""
    raw = _load_toml(data, source)
    _reject_policy(raw, source)
    for key in raw:
        if key in REFUSED_PROJECT_KEYS:
            raise ConfigError(
                f"{source}: a project file may not set {key!r} "
                f"(allowed: {', '.join(PROJECT_KEYS)}); set it in your own config"
            )
        if key not in PROJECT_KEYS:
            raise ConfigError(f"{source}: unknown key {key[:64]!r}")
    cfg: ProjectConfig = _convert(raw, ProjectConfig, "project config", source)
    if cfg.default_agent is not None and cfg.default_agent not in AGENTS:
        raise ConfigError(
            f"{source}: default_agent must be one of {', '.join(AGENTS)} "
            f"(custom commands belong in your own config)"
        )
    for column in cfg.columns or ():
        if column not in COLUMNS:
            raise ConfigError(f"{source}: columns: unknown column {column[:64]!r}")
    if cfg.sort is not None and cfg.sort not in COLUMNS:
        raise ConfigError(f"{source}: sort: unknown column {cfg.sort[:64]!r}")
    return cfg
