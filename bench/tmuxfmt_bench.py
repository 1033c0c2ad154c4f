"""Parsing a server's ``list-panes`` answer: clean rows, and rows an agent made hostile.

Prints the median time per answer of 200 panes (``atoll ls``'s budget case, DESIGN
"Performance budgets") for: clean rows (the split fast path), the same with one row
holding a ``|`` (the whole answer goes through the exact, length-driven parser), and one
row with an 80 KB option (over its cap: that row becomes ``unknown``). Ratios are against
the clean case. Run: ``.venv/bin/python bench/tmuxfmt_bench.py``.
"""

from __future__ import annotations

import statistics
import timeit

from atoll.core.tmuxfmt import FIELDS, parse_panes

VALUES = {
    "session_name": "s", "session_id": "$1", "session_created": "1700000000",
    "session_attached": "0", "window_activity": "1700000100", "pane_id": "%1",
    "pane_pid": "4242", "pane_dead": "0", "pane_dead_status": "",
    "pane_current_command": "claude", "pane_title": "host.example", "agent": "claude",
    "project": "/home/op/src/project", "worktree": "", "launched_by": "op", "island": "user",
    "created": "2026-12-02T10:00:00Z", "command": "claude", "state": "", "state_time": "",
    "exit": "",
}  # fmt: skip


def answer(n: int, hostile: dict[str, str] | None = None) -> bytes:
    out = b""
    for i in range(n):
        values = {**VALUES, "session_name": f"s{i}", **(hostile if i == n // 2 and hostile
                                                         else {})}
        for key, _var, is_text in FIELDS:
            raw = values[key].encode()
            out += (str(len(raw)).encode() + b":" + raw + b"|") if is_text else raw + b"|"
        out += b"\n"
    return out


def median_ms(data: bytes) -> float:
    runs = timeit.repeat(lambda: parse_panes(data), number=20, repeat=15)
    return statistics.median(runs) / 20 * 1e3


def main() -> None:
    cases = {"clean": answer(200), "one row with '|'": answer(200, {"agent": "a|b"}),
             "one row over its cap": answer(200, {"project": "x" * 80_000})}
    times = {name: median_ms(data) for name, data in cases.items()}
    for name, ms in times.items():
        print(f"{name:22} {ms:6.2f} ms per 200 panes  x{ms / times['clean']:.2f}")


if __name__ == "__main__":
    main()
