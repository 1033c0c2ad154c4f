"""Islands bench: creation-to-ready-session time per island kind, and the listing cost of
50 container islands. Prints medians (milliseconds) and ratios against raw floors.

Run as root (it creates an agent user, containers and volumes, and removes them after):
    .venv/bin/python bench/islands_bench.py [--runs 5] [--islands 50] [--engine docker]

1. ready: ``make_island(spec).create()`` + ``start_session`` until the session is listed,
   for user, bwrap, docker and podman (empty project), median of ``--runs``. The floor of
   a container island is ``ENGINE run -d`` of the same image + ``ENGINE exec tmux
   new-session`` by hand (no copy, no checks); of bwrap/user, ``sudo -u AGENT tmux
   new-session`` by hand.
2. listing: with ``--islands`` running container islands (one session each): atoll's
   ``list_container_islands`` + one ``list-panes`` per container over ``ENGINE exec`` in
   parallel (16 threads, as fleet.local does), plus the pid-namespace mapping for load;
   the floor is the same engine calls from a shell script (``ps``, then ``exec`` in the
   background for every container, ``wait``).
The image must exist (``atoll image build --bootstrap``).
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from atoll.core.islands import IslandSpec  # noqa: E402
from atoll.exec.runner import Sudo, current_user  # noqa: E402
from atoll.islands.base import Island, start_session  # noqa: E402
from atoll.islands.container import list_container_islands  # noqa: E402
from atoll.islands.engine import Engine, engine_argv, ulimits  # noqa: E402
from atoll.islands.load import host_pid_maps, init_pids  # noqa: E402
from atoll.islands.registry import make_island  # noqa: E402
from atoll.tmux.client import TmuxClient  # noqa: E402

SOCKET = f"atoll-bench-{secrets.token_hex(3)}"


def ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def spec_for(kind: str, name: str, agent: str, project: str) -> IslandSpec:
    return IslandSpec(name=name, project_dir=project, kind=kind,  # type: ignore[arg-type]
                      operator=current_user(),
                      agent_user=agent if kind in ("user", "bwrap") else None,
                      memory=512 << 20, pids=256)


def ready_once(kind: str, agent: str, project: str) -> tuple[float, Island]:
    name = f"bench-{secrets.token_hex(3)}"
    isl = make_island(spec_for(kind, name, agent, project))
    t0 = time.perf_counter()
    isl.create()
    client = start_session(isl, name, ["sleep", "600"], socket=SOCKET, options={})
    while name not in {p.session_name for p in client.list_panes()}:
        time.sleep(0.01)
    return ms(t0), isl


def floor_once(kind: str, agent: str) -> float:
    name = f"bench-floor-{secrets.token_hex(3)}"
    t0 = time.perf_counter()
    if kind in ("docker", "podman"):
        base = engine_argv(kind)
        extra = [a for n, (s, h) in ulimits().items() for a in ("--ulimit", f"{n}={s}:{h}")]
        subprocess.run([*base, "run", "-d", "--name", name, *extra, "atoll-island:latest",
                        "sleep", "infinity"], check=True, capture_output=True)
        subprocess.run([kind, "exec", name, "tmux", "-L", "atoll", "new-session", "-d", "-s",
                        name, "sleep", "600"], check=True, capture_output=True)
        took = ms(t0)
        subprocess.run([*base, "rm", "-f", name], capture_output=True)
        return took
    subprocess.run(["sudo", "-n", "-u", agent, "tmux", "-L", SOCKET, "new-session", "-d",
                    "-s", name, "sleep", "600"], check=True, capture_output=True)
    took = ms(t0)
    subprocess.run(["sudo", "-n", "-u", agent, "tmux", "-L", SOCKET, "kill-session", "-t",
                    f"={name}"], capture_output=True)
    return took


def bench_ready(kinds: list[str], runs: int, agent: str, project: str) -> None:
    print(f"\n1. creation to a ready session (median of {runs}, ms)")
    print(f"{'kind':8} {'atoll':>9} {'floor':>9} {'ratio':>6}")
    for kind in kinds:
        times, floors = [], []
        for _ in range(runs):
            took, isl = ready_once(kind, agent, project)
            times.append(took)
            isl.purge(SOCKET)
            floors.append(floor_once(kind, agent))
        med, fl = statistics.median(times), statistics.median(floors)
        print(f"{kind:8} {med:9.0f} {fl:9.0f} {med / fl:6.2f}")


def atoll_listing(engine: str) -> int:
    refs = [r for r in list_container_islands(engine) if r.running]
    with ThreadPoolExecutor(max_workers=16) as pool:
        panes = list(pool.map(lambda r: r.client.list_panes(), refs))
    host_pid_maps(init_pids(engine, [r.container for r in refs]))
    return sum(len(p) for p in panes)


def shell_floor(engine: str) -> None:
    script = (
        f'for c in $({engine} ps -q --filter label=atoll.owner={current_user()}); do '
        f'{engine} exec -u 1000 "$c" tmux -L atoll list-panes -a -F "#{{session_name}}" '
        '>/dev/null & done; wait'
    )
    subprocess.run(["bash", "-c", script], check=True)


def bench_listing(engine: str, count: int, runs: int) -> None:
    print(f"\n2. listing {count} {engine} islands (median of {runs}, ms)")
    made: list[Island] = []
    try:
        t0 = time.perf_counter()
        for i in range(count):
            name = f"list-{i:02d}-{secrets.token_hex(2)}"
            isl = make_island(spec_for(engine, name, "", ""))
            isl.create()
            start_session(isl, name, ["sleep", "600"], socket="atoll", options={})
            made.append(isl)
        print(f"   (made {count} islands in {ms(t0) / 1000:.1f} s)")
        sessions = atoll_listing(engine)
        assert sessions >= count, sessions
        a, f, m = [], [], []
        for _ in range(runs):
            t0 = time.perf_counter()
            atoll_listing(engine)
            a.append(ms(t0))
            t0 = time.perf_counter()
            shell_floor(engine)
            f.append(ms(t0))
            t0 = time.perf_counter()
            refs = list_container_islands(engine)
            host_pid_maps(init_pids(engine, [r.container for r in refs]))
            m.append(ms(t0))
        med, fl = statistics.median(a), statistics.median(f)
        print(f"   atoll (ps + {count} exec list-panes + pid map): {med:8.0f}")
        print(f"   shell floor (ps + {count} exec in background):  {fl:8.0f}")
        print(f"   ratio: {med / fl:.2f}   of which ps + inspect + /proc pid map: "
              f"{statistics.median(m):.0f}")
    finally:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda i: i.purge(), made))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--islands", type=int, default=50)
    ap.add_argument("--engine", default="docker", choices=["docker", "podman"])
    ap.add_argument("--kinds", default="user,bwrap,docker,podman")
    args = ap.parse_args()
    agent = f"bench{secrets.token_hex(2)}-agent"
    subprocess.run(["useradd", "-m", "-s", "/bin/bash", agent], check=True)
    try:
        for kind in ("docker", "podman"):
            Engine(kind).require()
        project = f"/home/{agent}"
        bench_ready(args.kinds.split(","), args.runs, agent, project)
        bench_listing(args.engine, args.islands, args.runs)
    finally:
        TmuxClient(Sudo(agent), SOCKET).runner.run(["tmux", "-L", SOCKET, "kill-server"])
        subprocess.run(["pkill", "-KILL", "-u", agent], capture_output=True)
        subprocess.run(["userdel", "-r", "-f", agent], capture_output=True)


if __name__ == "__main__":
    main()
