"""Throughput of the attach escape filter (src/atoll/core/termfilter.py), median of 7 runs
over 1 MiB inputs, fed in 4 KiB chunks as the relay reads them, in MB/s; for scale, a full
200x50 tmux redraw with colours is about 20-40 KB.

    .venv/bin/python bench/termfilter_bench.py
"""

from __future__ import annotations

import statistics
import time

from atoll.core.termfilter import EscapeFilter

MIB = 1 << 20


def _inputs() -> dict[str, bytes]:
    plain = (b"lorem ipsum dolor sit amet, consectetur adipiscing elit\r\n" * 20000)[:MIB]
    cell = b"\x1b[38;5;196m\x1b[48;5;17mx\x1b[0m"
    redraw = (b"\x1b[?25l\x1b[1;1H" + b"".join(
        b"\x1b[%d;1H" % row + cell * 20 + b"text \xc4\x8d \xe2\x94\x80\x1b[K" for row in range(50))
        + b"\x1b[?25h")
    hostile = b"\x1b]52;c;" + b"A" * 200 + b"\x07\x1bPtmux;\x1b\x1b]2;t\x07\x1b\\\x9b31m"
    return {"plain text": plain, "tmux redraw (SGR, cursor, UTF-8)": (redraw * 400)[:MIB],
            "hostile (OSC 52, DCS, C1)": (hostile * 5000)[:MIB]}


def main() -> None:
    for label, data in _inputs().items():
        runs = []
        for _ in range(7):
            f = EscapeFilter()
            start = time.perf_counter()
            for i in range(0, len(data), 4096):
                f.feed(data[i:i + 4096])
            runs.append(time.perf_counter() - start)
        med = statistics.median(runs)
        print(f"{label:36s} {len(data) / med / 1e6:8.1f} MB/s  (median {med * 1000:.1f} ms/MiB)")


if __name__ == "__main__":
    main()
