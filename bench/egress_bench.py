"""Egress proxy bench: what the proxy costs (issue 20 point 6). Prints medians and ratios.

Run as root, under the heavy lock (it makes a network namespace and, for the start times,
an agent user and islands):
    flock /tmp/atoll-heavy.lock .venv/bin/python bench/egress_bench.py [--runs 21]
        [--island bwrap|docker|podman]

- ``latency``: one small HTTP request on a new connection, direct to the web host (in its
  netns, tests/support/webhost.py) vs through the island's proxy daemon (the real
  ``atoll.cli.egress_serve``: Unix socket, parse, allow-list, address check, two ledger
  appends with fsync, relay). The floor is the direct request;
- ``throughput``: a 64 MiB upload, direct vs through a CONNECT tunnel (MiB/s);
- ``start``: ``atoll new`` of an island with ``--allow`` vs without (the proxy's start-up
  and the forwarder are the difference), then purge.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.webhost import PORT, WebHost  # noqa: E402

from atoll.core.egress import parse_allow_list  # noqa: E402
from atoll.islands.egress import SOCKET_NAME, start_proxy, stop_proxy  # noqa: E402

BIG = 64 << 20


def _read_all(s: socket.socket) -> bytes:
    out = b""
    while chunk := s.recv(1 << 16):
        out += chunk
    return out


def direct_get(web: WebHost) -> None:
    s = socket.create_connection((web.address, PORT), 10)
    s.sendall(f"GET /b HTTP/1.1\r\nHost: {web.address}\r\n\r\n".encode())
    assert b"hello from web" in _read_all(s)
    s.close()


def proxied_get(path: str, web: WebHost) -> None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    a = f"{web.address}:{PORT}"
    s.sendall(f"GET http://{a}/b HTTP/1.1\r\nHost: {a}\r\n\r\n".encode())
    assert b"hello from web" in _read_all(s)
    s.close()


def upload(s: socket.socket, web: WebHost) -> None:
    s.sendall(f"POST /up HTTP/1.1\r\nHost: {web.address}\r\nContent-Length: {BIG}\r\n\r\n"
              .encode())
    block = b"x" * (1 << 20)
    for _ in range(BIG >> 20):
        s.sendall(block)
    assert f'"got": {BIG}'.encode() in _read_all(s)
    s.close()


def tunnel(path: str, web: WebHost) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(f"CONNECT {web.address}:{PORT} HTTP/1.1\r\n\r\n".encode())
    assert s.recv(4096).startswith(b"HTTP/1.1 200")
    return s


def median_ms(fn: object, runs: int) -> float:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def start_times(kind: str, web: WebHost, runs: int, state: str) -> tuple[float, float]:
    from tests.support.proc import atoll
    from tests.support.users import UserFactory

    users = UserFactory()
    env = {"XDG_STATE_HOME": state, "XDG_CACHE_HOME": state + "/c"}
    project = Path(tempfile.mkdtemp(prefix="egress-bench-"))
    project.chmod(0o755)
    sock = f"egress-bench-{os.getpid()}"
    try:
        extra = []
        if kind == "bwrap":
            extra = ["--as", users.user(users.name("eb", "-agent"))]
        times: dict[bool, list[float]] = {False: [], True: []}
        for i in range(runs):
            for allow in (False, True):
                name = f"eb{i}{'a' if allow else 'n'}"
                argv = ["new", name, "--island", kind, *extra, "--dir", str(project)]
                argv += ["--allow", f"{web.address}:{PORT}"] if allow else []
                t0 = time.perf_counter()
                res = atoll(*argv, "--", "sleep", "300", socket=sock, env=env)
                times[allow].append((time.perf_counter() - t0) * 1000)
                assert res.returncode == 0, res.stderr
                atoll("purge", name, "--yes", "--force", socket=sock, env=env)
        return statistics.median(times[False]), statistics.median(times[True])
    finally:
        users.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--island", default="bwrap", choices=["bwrap", "docker", "podman"])
    ap.add_argument("--start-runs", type=int, default=3)
    args = ap.parse_args()
    web = WebHost("egb").start()
    state = tempfile.mkdtemp(prefix="egress-bench-state-")
    island_id = f"bench-{os.getpid()}"
    try:
        path = start_proxy(island_id, "bwrap", "root", parse_allow_list(
            [f"{web.address}:{PORT}"]), os.getuid(), state + "/ledger.jsonl")
        sockpath = f"{path}/{SOCKET_NAME}"
        direct_get(web)
        proxied_get(sockpath, web)
        d = median_ms(lambda: direct_get(web), args.runs)
        p = median_ms(lambda: proxied_get(sockpath, web), args.runs)
        print(f"latency   direct {d:7.2f} ms   proxy {p:7.2f} ms   ratio {p / d:5.2f}")
        runs = max(3, args.runs // 4)
        du = median_ms(lambda: upload(socket.create_connection((web.address, PORT), 10), web),
                       runs)
        pu = median_ms(lambda: upload(tunnel(sockpath, web), web), runs)
        mib = BIG / (1 << 20)
        print(f"throughput direct {mib / du * 1000:7.1f} MiB/s proxy {mib / pu * 1000:7.1f} "
              f"MiB/s ratio {du / pu:5.2f}")
        stop_proxy(island_id)
        n, a = start_times(args.island, web, args.start_runs, state)
        print(f"start ({args.island}) without --allow {n:7.0f} ms   with {a:7.0f} ms   "
              f"ratio {a / n:5.2f}")
    finally:
        stop_proxy(island_id)
        web.stop()


if __name__ == "__main__":
    main()
