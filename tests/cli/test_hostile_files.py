"""Issue 11 points 3 and 7 through the real CLI: planted or misconfigured files (a FIFO, a
symlink to a device, a huge or deeply nested file) and out-of-range input are one line on
stderr and a documented exit code, never a hang or a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.support.proc import atoll

pytestmark = pytest.mark.root


def _env(tmp_path: Path) -> dict[str, str]:
    return {"XDG_CONFIG_HOME": str(tmp_path / "cfg"), "XDG_STATE_HOME": str(tmp_path / "st"),
            "XDG_CACHE_HOME": str(tmp_path / "cache"), "ATOLL_NO_HELPER": "1"}


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "cfg" / "atoll" / "config.toml"
    path.parent.mkdir(parents=True)
    return path


def _one_line_error(stderr: str, fragment: str) -> None:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("atoll: error: "), stderr
    assert fragment in lines[0], lines[0]


def test_fifo_as_config_is_refused_not_waited_for(tmp_path: Path, tmux_socket: str) -> None:
    os.mkfifo(_config(tmp_path))  # before: open(2) blocks until a writer appears: a hang
    res = atoll("ls", socket=tmux_socket, env=_env(tmp_path))
    assert res.returncode == 2
    _one_line_error(res.stderr, "config.toml: not a regular file")


def test_config_symlinked_to_a_device_is_refused(tmp_path: Path, tmux_socket: str) -> None:
    _config(tmp_path).symlink_to("/dev/zero")
    res = atoll("ls", socket=tmux_socket, env=_env(tmp_path))
    assert res.returncode == 2
    _one_line_error(res.stderr, "not a regular file")


def test_huge_config_is_refused(tmp_path: Path, tmux_socket: str) -> None:
    _config(tmp_path).write_bytes(b"# padding\n" * 200_000)  # 2 MB, over the 1 MiB cap
    res = atoll("ls", socket=tmux_socket, env=_env(tmp_path))
    assert res.returncode == 2
    _one_line_error(res.stderr, "larger than 1048576 bytes")


@pytest.mark.parametrize("body", [
    "bell = " + "[" * 5000 + "]" * 5000,             # RecursionError in tomllib before
    "bell = {a = " * 3000 + "1" + "}" * 3000,
    "refresh_seconds = 1" + "0" * 5000,               # int() digit limit (ValueError) before
])
def test_deep_or_huge_toml_is_one_line(tmp_path: Path, tmux_socket: str, body: str) -> None:
    _config(tmp_path).write_text(body + "\n")
    res = atoll("ls", socket=tmux_socket, env=_env(tmp_path))
    assert res.returncode == 2
    _one_line_error(res.stderr, "invalid TOML")


def test_fifo_as_ledger_is_refused_not_waited_for(tmp_path: Path) -> None:
    ledger = tmp_path / "st" / "atoll" / "ledger.jsonl"
    ledger.parent.mkdir(parents=True)
    os.mkfifo(ledger)
    res = atoll("audit", "show", env=_env(tmp_path))
    assert res.returncode == 1
    _one_line_error(res.stderr, "not a regular file")
    res = atoll("audit", "verify", env=_env(tmp_path))
    assert res.returncode == 1
    _one_line_error(res.stderr, "not a regular file")


def test_invalid_utf8_argument_is_a_usage_error(tmux_socket: str) -> None:
    res = atoll("type", "nosuch", "\udcff", socket=tmux_socket)  # the bytes b"\xff"
    assert res.returncode == 2
    _one_line_error(res.stderr, "argument 3 is not valid UTF-8")


@pytest.mark.parametrize("since", ["10000000000000d", "9" * 5000 + "d"])
def test_absurd_since_is_a_usage_error(tmp_path: Path, since: str) -> None:
    res = atoll("audit", "show", "--since", since, env=_env(tmp_path))
    assert res.returncode == 2
    _one_line_error(res.stderr, "invalid time")


def test_absurd_memory_is_a_usage_error(tmp_path: Path) -> None:
    res = atoll("new", "fz", "--island", "docker", "--memory", "1" + "0" * 5000,
                "--dir", str(tmp_path), env=_env(tmp_path))
    assert res.returncode == 2
    _one_line_error(res.stderr, "invalid size")
