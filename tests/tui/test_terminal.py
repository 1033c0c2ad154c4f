"""The fleet view in a real terminal: ``python -m atoll.tui`` inside an outer tmux server,
driven with send-keys and read back with capture-pane. It attaches to a real session for
real (nested tmux: the inner attach runs with TMUX unset on the test socket, so the outer
server's prefix is moved to C-a and C-b d reaches the inner client), detaches, and finds
the fleet view again with the same filter and selection."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from atoll.exec.runner import Local
from atoll.service.context import Context
from atoll.tmux.client import TmuxClient
from tests.support.terminal import Terminal

from .conftest import WAIT, Starter, kill_server


@pytest.fixture
def terminal(tui_socket: str, workdir: Path) -> Iterator[Callable[..., Terminal]]:
    made: list[Terminal] = []

    def make(*extra: str) -> Terminal:
        term = Terminal([sys.executable, "-m", "atoll.tui", *extra],
                        {"ATOLL_TMUX_SOCKET": tui_socket}, workdir)
        made.append(term)
        return term

    yield make
    for term in made:
        term.close()
        kill_server(term.socket)  # and its socket file


@pytest.mark.slow
def test_attach_detach_in_a_real_terminal(
    start: Starter, ctx: Context, terminal: Callable[..., Terminal]
) -> None:
    start("alpha")
    start("beta", "echo inner-beta-marker; exec bash --norc")
    inner = TmuxClient(Local(), ctx.socket)
    inner.runner.run(inner.argv(["set-option", "-g", "prefix", "C-b"])).check()
    term = terminal()
    term.wait(lambda s: "alpha" in s and "beta" in s and "Attach" in s, "the fleet view")
    term.keys("/")
    time.sleep(0.5)  # let the filter input take focus before typing (seen to drop keys)
    term.keys("beta", literal=True)
    term.keys("Enter")
    term.wait(lambda s: "filter 'beta' (1 shown)" in s, "the filter")
    term.keys("Enter")
    seen = term.wait(lambda s: "inner-beta-marker" in s and "[beta]" in s, "the attached session")
    assert "Attach" not in seen  # the fleet view is suspended, tmux owns the terminal
    assert inner.runner.run(inner.argv(["list-clients", "-F", "#{session_name}"])).text() == \
        "beta\n"
    term.keys("C-b", "d")  # the inner client's prefix: detach
    back = term.wait(lambda s: "back from beta" in s, "the fleet view again")
    assert "filter 'beta' (1 shown)" in back and "alpha" not in back
    assert inner.runner.run(inner.argv(["list-clients"])).text() == ""
    term.keys("q")
    deadline = time.monotonic() + WAIT
    while term.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not term.alive()


@pytest.mark.slow
def test_read_only_flag_in_a_real_terminal(
    start: Starter, terminal: Callable[..., Terminal]
) -> None:
    start("alpha")
    term = terminal("--read-only")
    shown = term.wait(lambda s: "alpha" in s and "READ-ONLY" in s, "the read-only view")
    assert "Kill" not in shown and "New" not in shown and "Watch" in shown
    term.keys("C-d")
    term.wait(lambda s: "read-only view: kill is disabled" in s, "the refusal")
