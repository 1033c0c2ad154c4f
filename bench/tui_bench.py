"""Fleet TUI speed with 500 sessions: the time to handle a keypress and the UI-thread cost of
a refresh in which nothing changed. Prints medians (milliseconds) against the budgets of
shared/DESIGN.md ("TUI: a refresh of 500 rows updates only changed cells; a keypress is
handled in under 50 ms"; this bench also holds an unchanged refresh to 20 ms).

The rows are synthetic SessionRows fed through ``FleetApp.apply_listing`` (the app built by
``atoll.tui.create_app``), the same path a background refresh takes (no tmux: the
refresh's service call runs in a worker thread and is measured by bench/ls_bench.py; this
measures what the UI thread pays). The floor is a bare Textual DataTable of the same size.

    .venv/bin/python bench/tui_bench.py [--sessions 500] [--runs 60]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from typing import ClassVar

import msgspec
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.pilot import Pilot
from textual.widgets import DataTable

from atoll.core.models import HostRow, Listing, SessionRow
from atoll.core.timefmt import rfc3339
from atoll.tui import create_app
from atoll.tui.options import FleetOptions

NOW = 1_795_000_000.0
STATUSES = ("running", "waiting", "idle", "exited", "unknown")


def listing(n: int, cpu_shift: float = 0.0) -> Listing:
    """``n`` sessions over 2 hosts and 4 agent users, every status."""
    rows = [
        SessionRow(
            host="local" if i % 2 else "gpu-1", name=f"agent-{i:04d}",
            agent=("claude", "codex", "gemini")[i % 3], project=f"/srv/proj{i % 7}",
            worktree=f"wt-{i % 5}" if i % 3 == 0 else "", agent_user=f"user{i % 4}-agent",
            launched_by="alice", island="user", status=STATUSES[i % 5],  # type: ignore[arg-type]
            idle_seconds=i % 300, created=rfc3339(NOW - 60 * i),
            last_activity=rfc3339(NOW - i % 300), attached=0,
            cpu_percent=(i % 50) + cpu_shift, rss_bytes=(i % 64) << 20, pid=1000 + i,
            command="claude", exit_status=1 if i % 5 == 3 else None,
        )
        for i in range(n)
    ]
    return Listing(hosts=[HostRow(host="local", reachable=True),
                          HostRow(host="gpu-1", reachable=True)], sessions=rows)


def ms(samples: list[float]) -> str:
    p90 = sorted(samples)[int(len(samples) * 0.9)]
    return f"{statistics.median(samples) * 1000:7.2f} ms (p90 {p90 * 1000:6.2f})"


async def keypress(
    app: App[None], pilot: Pilot[None], key: str, done: Callable[[], bool]
) -> tuple[float, float]:
    """Wall and CPU seconds from a key event entering the app's queue until its effect is
    visible (``done()``), every message it caused has been handled, and the frame painted.

    Pilot.press is not used for timing: it sleeps at least 2 x 20 ms waiting for the CPU
    to go idle. The paint is forced at once instead of waiting for the next frame tick.
    Both need Textual internals (``Pilot._wait_for_screen``, ``Screen._on_timer_update``)
    that have no public equivalent; only this benchmark uses them, atoll itself uses none,
    so a Textual upgrade that changes them breaks the bench, never the fleet view."""
    char = {"slash": "/"}.get(key, key if len(key) == 1 else None)
    event = events.Key(key, char)
    event.set_sender(app)
    wall, cpu = time.perf_counter(), time.process_time()
    app.post_message(event)
    while not done():
        await pilot._wait_for_screen()
    await pilot._wait_for_screen()  # follow-up messages (e.g. RowHighlighted)
    app.screen._on_timer_update()
    return time.perf_counter() - wall, time.process_time() - cpu


async def presses(
    app: App[None], pilot: Pilot[None], keys: list[str],
    effect: Callable[[], object],
) -> tuple[list[float], list[float]]:
    """Press each key; ``effect()`` must change with every press (checked, then timed)."""
    walls, cpus = [], []
    for key in keys:
        before = effect()
        def changed(before: object = before) -> bool:
            return effect() != before

        wall, cpu = await keypress(app, pilot, key, changed)
        walls.append(wall)
        cpus.append(cpu)
        await pilot.pause()  # let the app settle between samples (not timed)
    return walls, cpus


class PlainTable(App[None]):
    """The floor: a bare Textual DataTable of the same size, no atoll code; ``s`` re-sorts
    it (on alternate columns), which repaints every visible row like a fleet re-sort."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("s", "resort", "Sort")]
    sorts = 0

    def compose(self) -> ComposeResult:
        yield DataTable(cursor_type="row")

    def action_resort(self) -> None:
        self.sorts += 1
        self.query_one(DataTable).sort("C1" if self.sorts % 2 else "C2",
                                       reverse=bool(self.sorts % 3))

    def fill(self, n: int) -> None:
        table: DataTable[str] = self.query_one(DataTable)
        for i in range(11):
            table.add_column(f"C{i}", key=f"C{i}")
        for i in range(n):
            table.add_row(*(f"cell-{(i * 7 + j) % n}-{j}" for j in range(11)))


async def floor(sessions: int, runs: int) -> tuple[list[float], list[float]]:
    app = PlainTable()
    async with app.run_test(size=(200, 60)) as pilot:
        app.fill(sessions)
        await pilot.pause()
        table = app.query_one(DataTable)
        walls, _ = await presses(app, pilot, ["down", "up"] * (runs // 2),
                                 lambda: table.cursor_row)
        sorts, _ = await presses(app, pilot, ["s"] * 21, lambda: app.sorts)
    return walls, sorts


async def bench(sessions: int, runs: int) -> None:
    app = create_app(FleetOptions(None, clock=lambda: NOW, operator="alice", cwd="/tmp",
                                  agent_users=[]))
    base = listing(sessions)
    async with app.run_test(size=(200, 60)) as pilot:
        await pilot.pause()
        t0 = time.perf_counter()
        app.apply_listing(base)
        first = time.perf_counter() - t0
        await pilot.pause()
        table = app.fleet.table
        assert table.row_count == sessions

        fleet = app.fleet
        nav, nav_cpu = await presses(app, pilot, ["down", "up"] * (runs // 2),
                                     lambda: table.cursor_row)
        sort, sort_cpu = await presses(app, pilot, ["s"] * 21, lambda: fleet.sort_mode)
        group, _ = await presses(app, pilot, ["g"] * 9, lambda: fleet.group_mode)
        await pilot.press("slash")
        typing, _ = await presses(app, pilot, ["a", "backspace"] * 10,
                                  lambda: fleet.filter_text)
        await pilot.press("escape")
        await pilot.pause()

        # An unchanged refresh: a fresh Listing with equal content (what a refresh returns
        # when nothing moved), applied on the UI thread.
        copies = [msgspec.json.decode(msgspec.json.encode(base), type=Listing)
                  for _ in range(runs)]
        before = table.cell_updates
        unchanged, unchanged_paint = [], []
        for copy in copies:
            t = time.perf_counter()
            app.apply_listing(copy)
            unchanged.append(time.perf_counter() - t)
            await pilot._wait_for_screen()
            app.screen._on_timer_update()
            unchanged_paint.append(time.perf_counter() - t)
            await pilot.pause()
        assert table.cell_updates == before, "an unchanged refresh rewrote cells"

        # For scale: a refresh in which every CPU cell changed (every visible row is drawn
        # again).
        changed, changed_paint = [], []
        for i in range(max(5, runs // 4)):
            nxt = listing(sessions, cpu_shift=float(i + 1))
            t = time.perf_counter()
            app.apply_listing(nxt)
            changed.append(time.perf_counter() - t)
            await pilot._wait_for_screen()
            app.screen._on_timer_update()
            changed_paint.append(time.perf_counter() - t)
            await pilot.pause()

    plain, plain_sort = await floor(sessions, runs)
    ratio = statistics.median(nav) / statistics.median(plain)
    sort_ratio = statistics.median(sort) / statistics.median(plain_sort)
    def line(label: str, samples: list[float], extra: str = "") -> None:
        print(f"  {label:<40}{ms(samples)}{extra}")

    def cpu(samples: list[float]) -> str:
        return f"  cpu {statistics.median(samples) * 1000:.2f} ms"

    print(f"tui bench: {sessions} sessions, {runs} runs, 200x60 terminal; median (p90); "
          "keypress = key event in -> handlers done -> frame painted")
    print(f"  {'first fill (add rows)':<40}{first * 1000:7.2f} ms")
    line("keypress up/down", nav, cpu(nav_cpu) + "  budget 50 ms")
    line("  floor: bare DataTable up/down", plain, f"  ratio {ratio:.2f}")
    line("keypress s (re-sort, full repaint)", sort, cpu(sort_cpu) + "  budget 50 ms")
    line("  floor: bare DataTable sort()", plain_sort, f"  ratio {sort_ratio:.2f}")
    line("keypress g (regroup, full repaint)", group, "  budget 50 ms")
    line("keypress in / filter (re-filter)", typing, "  budget 50 ms")
    line("refresh, nothing changed (UI thread)", unchanged, "  budget 20 ms")
    line("  same, with the paint", unchanged_paint)
    line(f"refresh, {sessions} CPU cells changed", changed)
    line("  same, with the paint", changed_paint)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--runs", type=int, default=60)
    args = parser.parse_args()
    asyncio.run(bench(args.sessions, args.runs))


if __name__ == "__main__":
    main()
