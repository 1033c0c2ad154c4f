"""Grant checks against a real file system: symlinks, non-directories, the operator's home."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from atoll.core.errors import UsageError
from atoll.core.islands import Grant
from atoll.islands.grants import check_grant, parse_and_check


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path.resolve()
    (root / "home" / "op" / ".ssh").mkdir(parents=True)
    (root / "home" / "op" / "src" / "app").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "file.txt").write_text("x")
    os.symlink(root / "home" / "op", root / "link-to-home")
    os.symlink(root / "data", root / "link-to-data")
    return root


def test_plain_directory_is_accepted(tree: Path) -> None:
    home = str(tree / "home" / "op")
    assert check_grant(Grant(str(tree / "data")), home) == Grant(str(tree / "data"))
    app = str(tree / "home" / "op" / "src" / "app")
    assert parse_and_check([f"{app}:rw"], home) == (Grant(app, True),)


@pytest.mark.parametrize("rel,why", [
    ("file.txt", "not a directory"),
    ("missing", "does not exist"),
    ("link-to-data", "symbolic link"),
    ("link-to-home/src", "symbolic link"),
    ("home/op", "home directory"),
    ("home", "home directory"),
    ("home/op/.ssh", ".ssh"),
])
def test_rejected(tree: Path, rel: str, why: str) -> None:
    with pytest.raises(UsageError, match=why):
        check_grant(Grant(str(tree / rel)), str(tree / "home" / "op"))


def test_device_and_socket_are_not_directories(tmp_path: Path) -> None:
    import socket

    sock_path = tmp_path.resolve() / "s.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(sock_path))
    try:
        with pytest.raises(UsageError, match="not a directory"):
            check_grant(Grant(str(sock_path)), "/nonexistent-home")
    finally:
        s.close()


def test_twice_is_refused(tree: Path) -> None:
    d = str(tree / "data")
    with pytest.raises(UsageError, match="twice"):
        parse_and_check([d, f"{d}:rw"], str(tree / "home" / "op"))
