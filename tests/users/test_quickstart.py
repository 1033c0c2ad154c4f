"""The README's two commands, `scripts/quickstart.sh` and `sudo scripts/test.sh`, on fresh
copies of this checkout, as a normal user with sudo, as a user without it, and as root: they
must not break each other, and a no-change re-run installs nothing (so needs no network).

These run the real scripts: pip really installs atoll into a new virtualenv (from the
configured package index), so the module takes a minute or two.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.users import UserFactory

REPO = Path(__file__).resolve().parents[2]
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
INSTALLING = "atoll setup: installing atoll"
TINY_TESTS = "tests/unit/test_names_text.py"

pytestmark = [pytest.mark.root, pytest.mark.slow]


def copy_tree(dest: Path) -> Path:
    """A clean copy of this checkout's tracked (and new, unignored) files: what a fresh
    `git clone` of the branch being tested holds, without .venv or caches."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, check=True, capture_output=True,
    ).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = REPO / rel
        if not src.is_file():
            continue  # deleted in the working tree
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / rel)
    return dest


def as_user(user: str | None, argv: list[str], cwd: Path,
            net: bool = True) -> subprocess.CompletedProcess[str]:
    """Run argv as ``user`` (root when None) with a login-like clean environment and no
    terminal; ``net=False`` runs it in a new network namespace with no network at all."""
    home = pwd.getpwnam(user or "root").pw_dir
    env = ["env", "-i", f"HOME={home}", f"PATH={PATH}", "LANG=C.UTF-8", "ATOLL_NO_HELPER=1"]
    prefix = ["runuser", "-u", user, "--"] if user else []
    prefix = ["sh", "-c", 'umask 077 && exec "$@"', "umask", *prefix]  # a private umask
    if not net:
        prefix = ["unshare", "-n", *prefix]
    return subprocess.run([*prefix, *env, *argv], cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=900)


def root_owned(tree: Path) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(tree):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if os.lstat(path).st_uid == 0:
                out.append(os.path.relpath(path, tree))
    return out


@pytest.fixture(scope="module")
def people() -> Iterator[tuple[UserFactory, str, str]]:
    """``(factory, dev, guest)``: dev may sudo anything (a normal admin user), guest may
    not sudo at all."""
    users = UserFactory()
    dev = users.user(users.name("qs"))
    guest = users.user(users.name("qg"))
    users.write_sudoers(f"atoll-test-{dev}", f"{dev} ALL=(ALL:ALL) NOPASSWD: ALL\n")
    yield users, dev, guest
    users.cleanup()


@pytest.fixture
def place() -> Iterator[Path]:
    """A 0755 directory in /tmp, outside pytest's base temp (pytest resets that to 0700 when
    another root pytest run starts, which would lock the test users out midway)."""
    where = Path(tempfile.mkdtemp(prefix="atoll-qs-", dir="/tmp"))
    os.chmod(where, 0o755)
    yield where
    shutil.rmtree(where, ignore_errors=True)


def test_user_clone_survives_sudo_test_sh_and_reruns_offline(
    people: tuple[UserFactory, str, str], place: Path,
) -> None:
    _, dev, _ = people
    tree = copy_tree(place / "atoll")
    subprocess.run(["chown", "-R", f"{dev}:{dev}", str(tree)], check=True)

    first = as_user(dev, ["scripts/quickstart.sh", "ls"], tree)
    assert first.returncode == 0, first.stderr

    # the README's second command, as root in the user's clone
    tests = as_user(None, ["scripts/test.sh", TINY_TESTS, "-q"], tree)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert root_owned(tree) == []
    assert f"{INSTALLING} (dev) into {tree}/.venv as {dev}" in tests.stderr

    again = as_user(dev, ["scripts/quickstart.sh", "ls"], tree)
    assert again.returncode == 0, again.stderr
    assert INSTALLING not in again.stderr
    assert "Traceback" not in again.stderr

    # nothing changed: the test command needs no network (offline, pip would fail)
    offline = as_user(None, ["scripts/test.sh", TINY_TESTS, "-q"], tree, net=False)
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert INSTALLING not in offline.stderr
    assert root_owned(tree) == []


def test_root_owned_clone_installs_through_sudo_or_says_how(
    people: tuple[UserFactory, str, str], place: Path,
) -> None:
    _, dev, guest = people
    tree = copy_tree(place / "atoll")  # owned by root, like a clone into /opt

    refused = as_user(guest, ["scripts/quickstart.sh", "ls"], tree)
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines() == [
        f"atoll setup: error: {tree} belongs to root and atoll is not installed there; run "
        f"'sudo -u root {tree}/scripts/setup.sh' once, or clone atoll where you can write"
    ]

    first = as_user(dev, ["scripts/quickstart.sh", "ls"], tree)
    assert first.returncode == 0, first.stderr
    assert f"{INSTALLING} (runtime) into {tree}/.venv as root" in first.stderr

    # installed now: every user runs it as it is, without sudo or pip
    for user in (guest, dev):
        again = as_user(user, ["scripts/quickstart.sh", "ls"], tree)
        assert again.returncode == 0, again.stderr
        assert INSTALLING not in again.stderr
        assert "Traceback" not in again.stderr
