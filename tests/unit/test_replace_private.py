"""atoll.rundir.replace_private: the one atomic private write of the listing caches."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from atoll.rundir import replace_private


def test_replaces_with_a_new_private_file(tmp_path: Path) -> None:
    path = tmp_path / "cache.json"
    path.write_bytes(b"old")
    old = os.stat(path)
    st = replace_private(str(path), b"new")
    assert path.read_bytes() == b"new"
    assert (st.st_ino, st.st_dev) == (os.stat(path).st_ino, os.stat(path).st_dev)
    assert st.st_ino != old.st_ino  # a new file each time: readers can tell it changed
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert sorted(os.listdir(tmp_path)) == ["cache.json"]


def test_a_planted_symlink_at_the_temporary_name_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "victim"
    target.write_bytes(b"keep")
    path = tmp_path / "cache.json"
    (tmp_path / f".cache.json.{os.getpid()}.tmp").symlink_to(target)
    with pytest.raises(OSError):
        replace_private(str(path), b"data")
    assert target.read_bytes() == b"keep" and not path.exists()
