"""Remembering what each pane's screen said, so unchanged screens are not captured again.

A pane whose ``window_activity`` has not moved since its screen was last matched shows the
same screen (tmux bumps the timestamp on any output), so the earlier match is reused.
Activity within ``SETTLE`` seconds of the capture is not trusted (the timestamp has one-second
resolution). The CLI keeps the cache in ``$XDG_CACHE_HOME/atoll/screens.json`` (0600); the
TUI keeps it in memory.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import msgspec
import platformdirs

from atoll.exec.files import UnsafeFileError, read_regular
from atoll.rundir import replace_private

SETTLE = 2.0
MAX_ENTRIES = 5000


def _path() -> Path:
    return platformdirs.user_cache_path("atoll") / "screens.json"


class ScreenCache(msgspec.Struct):
    """key -> (window_activity, match or "" for no match, time matched)."""

    persist: bool = True
    entries: dict[str, tuple[int, str, float]] = msgspec.field(default_factory=dict)
    loaded: bool = False

    @staticmethod
    def key(user: str, pane_id: str, created: int | None) -> str:
        return f"{user}/{pane_id}/{created}"

    def load(self) -> None:
        if self.loaded or not self.persist:
            self.loaded = True
            return
        self.loaded = True
        try:
            raw = msgspec.json.decode(
                read_regular(_path(), 16 << 20), type=dict[str, tuple[int, str, float]]
            )
        except (OSError, UnsafeFileError, msgspec.MsgspecError):  # cap: 16 MiB
            return
        self.entries.update(raw)

    def lookup(self, key: str, activity: int | None) -> str | None:
        """The cached match ("" = none) if still valid for ``activity``, else None."""
        self.load()
        hit = self.entries.get(key)
        if hit is None or activity is None or hit[0] != activity or hit[2] - activity < SETTLE:
            return None
        return hit[1]

    def store(self, key: str, activity: int | None, match: str, now: float) -> None:
        if activity is not None:
            self.entries[key] = (activity, match, now)

    def save(self, live: set[str]) -> None:
        """Keep only ``live`` keys; write the file when persisting (best effort)."""
        self.entries = {k: v for k, v in self.entries.items() if k in live}
        if not self.persist or len(self.entries) > MAX_ENTRIES:
            return
        path = _path()
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            replace_private(str(path), msgspec.json.encode(self.entries))
