#!/usr/bin/env python3
"""Benchmark: what status costs per listing of 200 sessions.

A throwaway tmux server (its own ``-L`` socket) gets 200 sessions, each printing one of
the captured screens of tests/fixtures/screens and then sleeping; every fourth pane also
carries a hook report (``@atoll_state``). Measured:

- captures: how many panes ``fleet.local.query_servers`` captures per listing, cold (empty
  screen cache) and warm (the next listing, nothing printed since), and how many batched
  ``capture-pane`` calls it makes (one per server);
- the classifier: median time to read all 200 screens (``core.status.read_screen``) and to
  classify 200 panes from an earlier reading (what a warm listing does), over ``--runs``.

Prints medians; no thresholds (tests do not time things). Usage:
    .venv/bin/python bench/status_bench.py [--sessions 200] [--runs 20]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from atoll.core.status import Evidence, classify, read_screen
from atoll.exec.runner import Local, current_user
from atoll.fleet import local
from atoll.fleet.screens import ScreenCache
from atoll.fleet.servers import Server
from atoll.tmux.client import TmuxClient

SCREENS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "screens"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=200)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    manifest = tomllib.loads((SCREENS / "manifest.toml").read_text())["screen"]
    picks = [manifest[i % len(manifest)] for i in range(args.sessions)]
    socket = f"atoll-status-bench-{time.monotonic_ns()}"
    tmux = ["tmux", "-L", socket, "-f", "/dev/null"]
    try:
        subprocess.run([*tmux, "new-session", "-d", "-s", "s0", "-x", "200", "-y", "50",
                        "sleep 3600"], check=True)
        for i, e in enumerate(picks):
            cmd = f"cat {SCREENS / e['file']}; exec sleep 3600"
            subprocess.run([*tmux, "new-session", "-d", "-s", f"b{i}", "-x", "200", "-y", "50",
                            "-e", f"ATOLL_BENCH={i}", cmd], check=True)
            opts = ["set-option", "-t", f"=b{i}:", "@atoll_agent", e["agent"]]
            subprocess.run([*tmux, *opts], check=True)
            if i % 4 == 0:
                subprocess.run([*tmux, "set-option", "-p", "-t", f"=b{i}:", "@atoll_state",
                                "idle"], check=True)
        time.sleep(3)  # screens drawn; window_activity settles (fleet/screens.py SETTLE)
        client = TmuxClient(Local(), socket)
        calls: list[int] = []
        orig = TmuxClient.capture_many_argv

        def counting(self: TmuxClient, pane_ids: list[str]) -> list[str]:
            calls.append(len(pane_ids))
            return orig(self, pane_ids)

        TmuxClient.capture_many_argv = counting  # type: ignore[method-assign]
        cache = ScreenCache(persist=False)
        server = Server(current_user(), client)
        listed = []
        for label in ("cold", "warm"):
            calls.clear()
            t0 = time.perf_counter()
            res = local.query_servers([server], True, cache)
            took = time.perf_counter() - t0
            listed = res[0].panes
            hooked = sum(1 for p in listed if p.state)
            print(f"{label}: {len(listed)} panes listed ({hooked} with a hook report), "
                  f"{sum(calls)} captured in {len(calls)} capture call(s), "
                  f"query {took * 1000:.1f} ms")
            cache.save({cache.key(server.user, p.pane_id, p.session_created) for p in listed})
        TmuxClient.capture_many_argv = orig  # type: ignore[method-assign]
        texts = [(e["agent"], (SCREENS / e["file"]).read_text()) for e in picks]
        reads = [read_screen(a, t) for a, t in texts]
        read_t, cls_t = [], []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            for a, t in texts:
                read_screen(a, t)
            read_t.append(time.perf_counter() - t0)
            now = time.time()
            t0 = time.perf_counter()
            for (a, _), r in zip(texts, reads, strict=True):
                classify(Evidence(agent=a, window_activity=int(now) - 30, screen_match=r.status,
                                  screen_reason=r.reason, cpu_percent=0.5), now)
            cls_t.append(time.perf_counter() - t0)
        n = len(texts)
        print(f"read_screen x{n}: median {statistics.median(read_t) * 1000:.2f} ms "
              f"({statistics.median(read_t) / n * 1e6:.0f} us per screen)")
        print(f"classify x{n} (from cached reads): median {statistics.median(cls_t) * 1000:.2f} ms")
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
        with contextlib.suppress(OSError):  # the socket file outlives the server
            (Path(f"/tmp/tmux-{os.getuid()}") / socket).unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
