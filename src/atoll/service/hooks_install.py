"""``atoll hooks install`` / ``atoll hooks status``: wire each agent's own hooks to
``atoll hook`` in the calling user's home (docs/hooks.md has the files and why).

Runs with the rights of the user whose home it edits: ``--as USER`` re-runs this command
through ``sudo -n -u USER`` instead of writing into another user's home as the operator.
Files are read with O_NOFOLLOW and a size cap (they are the user's, possibly hostile) and
replaced atomically (write a temporary file beside it, fsync, rename), keeping the mode of
an existing file (0600 for a new one).
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from pathlib import Path

import msgspec

from atoll.core import hookcfg
from atoll.core.errors import AtollError, UsageError
from atoll.exec.runner import Runner, Sudo

MAX_BYTES = 1 << 20  # a settings file larger than 1 MiB is not one atoll merges into


class HookFileError(AtollError):
    """A hook configuration file that cannot be read or merged."""


class Wiring(msgspec.Struct, kw_only=True):
    """What is wired for one agent: ``state`` is ``wired``, ``partly``, ``missing`` or
    ``conflict`` (the user's own different value, left alone); ``changed`` lists what an
    install added."""

    agent: str
    path: str
    state: str
    missing: list[str] = msgspec.field(default_factory=list)
    changed: list[str] = msgspec.field(default_factory=list)
    note: str = ""


def config_path(agent: str, home: Path) -> Path:
    """The user-level file that carries ``agent``'s hooks (docs/hooks.md)."""
    return {
        "claude": home / ".claude" / "settings.json",
        "codex": home / ".codex" / "hooks.json",
        "gemini": home / ".gemini" / "settings.json",
        "opencode": home / ".config" / "opencode" / "plugins" / "atoll.js",
        "aider": home / ".aider.conf.yml",
    }[agent]


def _read(path: Path) -> bytes | None:
    """The file's bytes, None when absent; HookFileError for a symlink, a non-regular file
    or one over MAX_BYTES."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise HookFileError(f"{path}: cannot open ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise HookFileError(f"{path}: not a regular file")
        data = fh.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise HookFileError(f"{path}: larger than {MAX_BYTES} bytes")
    return data


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    mode = 0o600
    with contextlib.suppress(FileNotFoundError):
        mode = stat.S_IMODE(os.lstat(path).st_mode)
    tmp = path.with_name(f".{path.name}.atoll-{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _one(agent: str, home: Path, install: bool) -> Wiring:
    path = config_path(agent, home)
    raw = _read(path)
    w = Wiring(agent=agent, path=str(path), state="missing")
    if agent in hookcfg.TABLES:
        try:
            doc = hookcfg.parse_json(raw or b"")
            merged, added = hookcfg.merge_json_hooks(agent, doc)
        except hookcfg.HookConfigError as exc:
            raise HookFileError(f"{path}: {exc}; not changed") from None
        total = len(hookcfg.TABLES[agent])
        if install and added:
            _write(path, hookcfg.dump_json(merged))
            w.changed = added
            added = []
        w.missing = added
        w.state = "wired" if not added else ("missing" if len(added) == total else "partly")
        if agent == "codex":
            w.note = ("Codex asks to review new hooks at start (\"Hooks need review\"); "
                      "answer it once, or start codex with --dangerously-bypass-hook-trust")
        if agent == "gemini":
            w.note = "Gemini runs no hook in an untrusted folder"
        return w
    if agent == "opencode":
        want = hookcfg.OPENCODE_PLUGIN.encode()
        if raw is None:
            if install:
                _write(path, want)
                w.changed = ["plugin"]
                w.state = "wired"
            else:
                w.missing = ["plugin"]
        elif raw == want or b"atoll hook" in raw:
            w.state = "wired"
        else:
            w.state = "conflict"
            w.note = "a different plugins/atoll.js exists; left alone"
        return w
    text = (raw or b"").decode("utf-8", "replace")
    merged_text, added, conflicts = hookcfg.merge_aider_conf(text)
    if install and added:
        _write(path, merged_text.encode())
        w.changed, added = added, []
    w.missing = added
    if conflicts:
        w.state = "conflict"
        w.note = f"set to another value, left alone: {', '.join(conflicts)}"
    else:
        w.state = "wired" if not added else "missing"
    return w


def run(agents: list[str], install: bool, home: Path | None = None) -> list[Wiring]:
    """Wire (``install``) or inspect the hooks of ``agents`` in ``home`` (default: the
    caller's). Raises UsageError for an agent without hooks, HookFileError for a file
    that cannot be merged (nothing written for that agent)."""
    bad = [a for a in agents if a not in hookcfg.HOOKABLE]
    if bad:
        raise UsageError(f"no hooks for agent {bad[0]!r}: use one of "
                         f"{', '.join(hookcfg.HOOKABLE)}")
    base = home if home is not None else Path(os.path.expanduser("~"))
    return [_one(a, base, install) for a in agents or list(hookcfg.HOOKABLE)]


def run_as(user: str, argv: list[str]) -> tuple[int, str, str]:
    """Re-run ``atoll hooks ARGV`` as ``user`` (sudo -n); (exit status, stdout, stderr)."""
    cmd = [sys.executable, "-P", "-c", "from atoll.cli.entry import main; main()",
           "hooks", *argv]
    res = Sudo(user).run(cmd, timeout=60)
    return res.returncode, res.text(), res.stderr


def wire_island(runner: Runner, agent: str) -> list[str]:
    """Wire ``agent``'s hooks in an island's own home (a home atoll made for the island,
    fresh at creation: nobody's settings are edited) through ``runner``, which runs inside
    the island (so files are written with the island's rights, never the operator's).
    Returns the paths written, relative to that home; nothing for an agent without hooks.
    The island's ``atoll`` is the hook shim (atoll.islands.hookrelay). Raises AtollError
    when the island refuses the write."""
    import tempfile

    if agent not in hookcfg.HOOKABLE:
        return []
    with tempfile.TemporaryDirectory(prefix="atoll-hooks-") as tmp:
        run([agent], install=True, home=Path(tmp))
        rel = str(config_path(agent, Path(tmp)).relative_to(tmp))
        data = (Path(tmp) / rel).read_bytes()
    script = 'mkdir -p -- "$HOME/$(dirname -- "$1")" && umask 077 && cat > "$HOME/$1"'
    runner.run(["sh", "-c", script, "sh", rel], input=data, timeout=30).check()
    return [rel]
