"""Loading atoll's configuration files from disk (schema and rules: :mod:`atoll.core.config`).

- :func:`config_path`: ``platformdirs.user_config_path("atoll") / "config.toml"``
  (``$XDG_CONFIG_HOME/atoll/config.toml``, by default ``~/.config/atoll/config.toml``);
- :func:`load_config`: that file (or ``path``) parsed into :class:`Config`; a missing file
  gives the defaults; ``~`` in ``ledger_path`` is expanded here;
- :func:`load_project_config`: ``PROJECT_DIR/.atoll.toml`` parsed into
  :class:`ProjectConfig` (a missing file gives the defaults). The project file is opened
  without following symlinks and must be a regular file, since a cloned repository could
  point it anywhere.

Errors: :class:`ConfigError` (exit 2) for invalid content, unreadable files or oversized ones.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
import platformdirs

from atoll.core.config import (
    MAX_CONFIG_BYTES,
    Config,
    ConfigError,
    HostConfig,
    ProjectConfig,
    parse_config,
    parse_project_config,
)
from atoll.exec.files import UnsafeFileError, read_optional

__all__ = [
    "PROJECT_FILE",
    "Config",
    "ConfigError",
    "HostConfig",
    "ProjectConfig",
    "config_path",
    "load_config",
    "load_project_config",
]

PROJECT_FILE = ".atoll.toml"


def config_path() -> Path:
    """The operator's config file path (XDG config dir)."""
    return platformdirs.user_config_path("atoll") / "config.toml"


def _read_capped(path: Path, *, follow_symlinks: bool) -> bytes | None:
    """Bytes of ``path`` (None if it does not exist); refuse non-regular or huge files.
    The operator's own config may be a symlink to a regular file (dotfiles repositories);
    a project file may not (a cloned repository could point it anywhere)."""
    try:
        return read_optional(path, MAX_CONFIG_BYTES, follow=follow_symlinks)
    except UnsafeFileError as exc:
        raise ConfigError(str(exc)) from exc


def load_config(path: Path | None = None) -> Config:
    """Load the operator's config from ``path`` (default :func:`config_path`)."""
    target = path if path is not None else config_path()
    data = _read_capped(target, follow_symlinks=True)
    if data is None:
        if path is not None:
            raise ConfigError(f"{target}: no such file")
        return Config()
    cfg = parse_config(data, source=str(target))
    if cfg.ledger_path is not None:
        expanded = os.path.expanduser(cfg.ledger_path)
        if not os.path.isabs(expanded):
            raise ConfigError(f"{target}: ledger_path must be an absolute path or start with ~")
        cfg = msgspec.structs.replace(cfg, ledger_path=expanded)
    return cfg


def load_project_config(project_dir: Path) -> ProjectConfig:
    """Load ``project_dir/.atoll.toml`` (defaults when absent); only harmless keys allowed."""
    target = Path(project_dir) / PROJECT_FILE
    data = _read_capped(target, follow_symlinks=False)
    if data is None:
        return ProjectConfig()
    return parse_project_config(data, source=str(target))


