"""How long a no-change re-run of the quick start takes (issue 13: target under 3 s).

Runs ``scripts/setup.sh`` (what ``scripts/quickstart.sh`` runs before starting atoll) and
``scripts/quickstart.sh ls`` in this checkout REPEAT times and prints the medians. Run it
after one setup, as the checkout's owner: ``.venv/bin/python bench/quickstart_bench.py``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPEAT = int(sys.argv[1]) if len(sys.argv) > 1 else 7


def median_seconds(argv: list[str]) -> float:
    times = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, check=True, capture_output=True,
                       env={"PATH": "/usr/local/bin:/usr/bin:/bin", "ATOLL_NO_HELPER": "1",
                            "HOME": str(Path.home()), "LANG": "C.UTF-8"})
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    setup = median_seconds(["scripts/setup.sh"])
    dev = median_seconds(["scripts/setup.sh", "--dev"])
    quick = median_seconds(["scripts/quickstart.sh", "ls"])
    print(f"no-change re-run, median of {REPEAT}: setup.sh {setup:.3f} s, "
          f"setup.sh --dev {dev:.3f} s, quickstart.sh ls {quick:.3f} s (target < 3 s)")


if __name__ == "__main__":
    main()
