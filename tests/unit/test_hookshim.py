"""The island's ``atoll`` shim (islands/hookshim.sh) and the bwrap relay's word filter:
the shim maps exactly the hook events atoll.core.status.HOOK_EVENTS maps, to the same
states, and the relay takes nothing but whole state words. The shim is run for real
(/bin/sh) with a FIFO standing in for the channel."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest

from atoll.core.status import HOOK_EVENTS
from atoll.islands.hookrelay import SHIM, STATES, words


def _run_shim(*args: str, fifo: Path | None = None) -> tuple[int, str, bytes]:
    got: list[bytes] = []
    reader = None
    if fifo is not None:
        def read() -> None:
            with open(fifo, "rb") as f:
                got.append(f.read())
        reader = threading.Thread(target=read)
        reader.start()
    env = {"PATH": "/usr/bin:/bin", **({"ATOLL_HOOK_FIFO": str(fifo)} if fifo else {})}
    res = subprocess.run(["/bin/sh", SHIM, *args], capture_output=True, text=True, env=env,
                         timeout=10)
    if reader is not None:
        if res.returncode != 0:  # nothing was written: let the reader finish
            with open(fifo, "wb"):  # type: ignore[arg-type]
                pass
        reader.join(5)
    return res.returncode, res.stderr, b"".join(got)


@pytest.mark.parametrize("event", sorted(HOOK_EVENTS))
def test_the_shim_maps_every_event_as_atoll_hook_does(event: str, tmp_path: Path) -> None:
    fifo = tmp_path / "hook"
    os.mkfifo(fifo)
    code, err, written = _run_shim("hook", event, fifo=fifo)
    assert code == 0, err
    want = HOOK_EVENTS[event] or "clear"
    assert written == f"{want}\n".encode()
    assert words(written) == [HOOK_EVENTS[event]]


@pytest.mark.parametrize("args", [("hook", "rm -rf /"), ("hook", "Waiting"), ("ls",),
                                  ("hook",), ("hook", "waiting\nidle")])
def test_the_shim_refuses_everything_else(args: tuple[str, ...], tmp_path: Path) -> None:
    fifo = tmp_path / "hook"
    os.mkfifo(fifo)
    code, err, written = _run_shim(*args, fifo=fifo)
    assert code == 2 and err.startswith("atoll: ") and written == b""


def test_the_relay_takes_only_whole_state_words() -> None:
    assert words(b"waiting\n") == ["waiting"]
    assert words(b"running\nidle\nclear\n") == ["running", "idle", None]
    assert words(b"waitingx\nrunning running\n\xff\x00idle\nWAITING\n") == []
    assert set(STATES.values()) == {*(v for v in HOOK_EVENTS.values())}
