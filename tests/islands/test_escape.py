"""The escape battery: every attempt, against every island kind, through atoll's own paths.

Each attempt runs :data:`tests.islands.probe.PROBE` inside island A with A's runner
(``island.runner()``: ``sudo -u AGENT``, ``sudo -u AGENT bwrap ...``, ``ENGINE exec -u
1000 ...``). Island B of the same kind holds a canary. Success of an attempt is judged from
evidence on the host, not from the probe's word (see each ``judge_*``).

``user`` islands (a plain agent user) promise less: the attempts in
:data:`NOT_PROMISED` are "not contained by this kind" and are reported, not asserted. Every
other (kind, attempt) must be blocked. The table (attempts x kinds) is printed (``-s``),
written to ``tests/islands/out/escape-table.md``, and shown in every failure message.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import termios
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from atoll.core.islands import IslandSpec
from atoll.exec.process import Completed, run_argv
from atoll.exec.runner import current_user
from atoll.islands.base import Island
from atoll.islands.bwrap import BwrapIsland
from atoll.islands.container import ContainerIsland
from atoll.islands.engine import Engine
from atoll.islands.registry import make_island
from tests.islands.probe import PROBE
from tests.islands.support import OUT
from tests.support.users import UserFactory

KINDS = ["user", "bwrap", "docker", "podman"]
ATTEMPTS = [
    "read operator ~/.ssh key", "read operator shell history", "read other island",
    "write other island", "write outside workspace", "reach host loopback listener",
    "reach host network listener", "reach engine socket", "TIOCSTI into outer terminal",
    "setuid: sudo / su", "setuid: planted root copy", "fork bomb vs pids limit",
    "memory hog vs memory limit",
]
NOT_PROMISED = {
    "user": {"read other island", "write other island", "write outside workspace",
             "reach host loopback listener", "reach host network listener",
             "setuid: planted root copy", "fork bomb vs pids limit",
             "memory hog vs memory limit"},
}
MEMORY = 256 << 20
PIDS = 128
ENGINE_SOCKETS = ["/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock",
                  "/run/podman/podman.sock"]


@dataclass
class Cell:
    escaped: bool
    detail: str


RESULTS: dict[str, dict[str, Cell]] = {}


def table() -> str:
    lines = ["| attempt | " + " | ".join(KINDS) + " |",
             "|---|" + "---|" * len(KINDS)]
    for att in ATTEMPTS:
        cells = []
        for kind in KINDS:
            cell = RESULTS.get(kind, {}).get(att)
            if cell is None:
                cells.append("(not run)")
            elif cell.escaped and att in NOT_PROMISED.get(kind, set()):
                cells.append(f"not contained by this kind ({cell.detail})")
            elif cell.escaped:
                cells.append(f"**ESCAPED** ({cell.detail})")
            else:
                cells.append(f"blocked ({cell.detail})")
        lines.append(f"| {att} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


@pytest.fixture(scope="module", autouse=True)
def report() -> Iterator[None]:
    yield
    text = table()
    OUT.mkdir(exist_ok=True)
    (OUT / "escape-table.md").write_text(text + "\n")
    print("\n\nEscape battery (attempt x island kind):\n" + text)


class Listener:
    """A TCP listener on the host that records every token it receives."""

    def __init__(self, host: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.port: int = self.sock.getsockname()[1]
        self.received: list[str] = []
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(3)
            try:
                self.received.append(conn.recv(200).decode("utf-8", "replace"))
            except OSError:
                self.received.append("")
            finally:
                conn.close()

    def close(self) -> None:
        self.sock.close()


def global_ipv4() -> list[str]:
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"],
                         capture_output=True, text=True).stdout
    return sorted(set(re.findall(r"inet (\d+\.\d+\.\d+\.\d+)/", out)))


@dataclass
class Env:
    operator: str
    op_home: Path
    agent: str
    agent_home: Path
    base: Path
    key_marker: str
    hist_marker: str
    loop: Listener
    net: Listener
    ips: list[str]
    made: list[Island] = field(default_factory=list)


@pytest.fixture(scope="module")
def env(users: UserFactory) -> Iterator[Env]:
    operator = users.user(users.name("op"))
    agent = users.user(users.name("es", "-agent"))
    op_home = Path(f"/home/{operator}")
    key_marker = f"FAKE-KEY-{secrets.token_hex(8)}"
    hist_marker = f"FAKE-HISTORY-{secrets.token_hex(8)}"
    (op_home / ".ssh").mkdir(mode=0o700)
    (op_home / ".ssh" / "id_ed25519").write_text(
        f"-----BEGIN OPENSSH PRIVATE KEY-----\n{key_marker}\n-----END OPENSSH PRIVATE KEY-----\n")
    (op_home / ".ssh" / "id_ed25519").chmod(0o600)
    (op_home / ".bash_history").write_text(f"export TOKEN={hist_marker}\n")
    (op_home / ".bash_history").chmod(0o600)
    subprocess.run(["chown", "-R", f"{operator}:{operator}", str(op_home)], check=True)
    base = Path(tempfile.mkdtemp(prefix="atoll-escape-", dir="/tmp"))
    base.chmod(0o755)
    e = Env(operator, op_home, agent, Path(f"/home/{agent}"), base, key_marker, hist_marker,
            Listener("127.0.0.1"), Listener("0.0.0.0"), global_ipv4())
    yield e
    for isl in e.made:
        with contextlib.suppress(Exception):
            isl.purge()
    e.loop.close()
    e.net.close()
    shutil.rmtree(base, ignore_errors=True)


def probe(isl: Island, attempt: str, args: dict[str, object], timeout: float = 120) -> Completed:
    return isl.runner().run(["python3", "-c", PROBE, attempt, json.dumps(args)],
                            timeout=timeout)


def host_path_of_workspace(isl: Island) -> str:
    """Where island ``isl``'s workspace lives on the host."""
    if isinstance(isl, ContainerIsland):
        res = Engine(isl.kind).check("volume", "inspect", "--format", "{{.Mountpoint}}",
                                     isl.volume)
        return res.text().strip()
    if isinstance(isl, BwrapIsland):
        return isl.workspace
    return isl.workdir


def make_pair(env: Env, kind: str) -> tuple[Island, Island, str]:
    """Islands A (the attacker) and B (holding a canary); returns B's canary marker."""
    canary = f"CANARY-{secrets.token_hex(8)}"
    islands = []
    for label in ("a", "b"):
        src = env.base / f"{kind}-{label}"
        src.mkdir()
        (src / "README").write_text(f"island {label}\n")
        if label == "b":
            (src / "canary.txt").write_text(canary + "\n")
        if kind == "user":
            subprocess.run(["chown", "-R", f"{env.agent}:{env.agent}", str(src)], check=True)
        spec = IslandSpec(name=f"esc-{label}-{secrets.token_hex(3)}", project_dir=str(src),
                          kind=kind, operator=current_user(),  # type: ignore[arg-type]
                          agent_user=env.agent if kind in ("user", "bwrap") else None,
                          memory=MEMORY, pids=PIDS)
        isl = make_island(spec)
        env.made.append(isl)
        isl.create()
        islands.append(isl)
    return islands[0], islands[1], canary


def plant_setuid_copy(isl: Island) -> str:
    """A root-owned setuid copy of bash in A's workspace, planted by the test as root on the
    host (for containers: in the volume); returns its path as the island sees it."""
    host_dir = host_path_of_workspace(isl)
    dest = Path(host_dir) / ".suid-bash"
    shutil.copy("/bin/bash", dest)
    os.chown(dest, 0, 0)
    dest.chmod(0o4755)
    return f"{isl.workdir}/.suid-bash"


def tiocsti_attempt(isl: Island, marker: str) -> tuple[str, str]:
    """Run the TIOCSTI probe with a real terminal as its controlling tty, under an outer
    shell that reads one line from that terminal afterwards (the CVE-2017-5226 shape).
    Returns (what the outer shell read, the probe's report)."""
    argv = isl.runner().wrap(["python3", "-c", PROBE, "tiocsti",
                              json.dumps({"text": marker + "\n"})])
    script = ('"$@" 1>&2 2>/dev/null; IFS= read -r -t 3 line; printf "GOT:%s\\n" "$line"')
    master, slave = pty.openpty()

    def make_ctty() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(["bash", "--norc", "--noprofile", "-c", script, "outer", *argv],
                            stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, preexec_fn=make_ctty)
    os.close(slave)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        os.close(master)
    return out.decode(errors="replace"), err.decode(errors="replace")


def short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."


def first_error(results: dict[str, str]) -> str:
    errs = [v for v in results.values() if v.startswith("ERR")]
    return short(errs[0][4:], 40) if errs else "no error"


def run_battery(env: Env, kind: str) -> dict[str, Cell]:
    a, b, canary = make_pair(env, kind)
    cells: dict[str, Cell] = {}
    tagged = secrets.token_hex(4)

    def judge(attempt: str, fn: Callable[[], Cell]) -> None:
        try:
            cells[attempt] = fn()
        except Exception as exc:
            cells[attempt] = Cell(True, f"test error: {short(str(exc))}")

    def secret(path: Path, marker: str) -> Cell:
        res = probe(a, "read", {"paths": [str(path)]})
        got = json.loads(res.stdout or b"{}").get("results", {})
        return Cell(marker in res.text(), first_error(got))

    judge("read operator ~/.ssh key",
          lambda: secret(env.op_home / ".ssh" / "id_ed25519", env.key_marker))
    judge("read operator shell history",
          lambda: secret(env.op_home / ".bash_history", env.hist_marker))
    b_host = host_path_of_workspace(b)
    judge("read other island", lambda: secret(Path(b_host) / "canary.txt", canary))

    def write_other() -> Cell:
        marker = f"W-{tagged}"
        fname = f"escape-{tagged}.txt"
        res = probe(a, "write", {"paths": [f"{b_host}/{fname}"], "marker": marker})
        seen = b.runner().run(["cat", f"{b.workdir}/{fname}"]).text()
        got = json.loads(res.stdout or b"{}").get("results", {})
        return Cell(marker in seen, first_error(got))

    judge("write other island", write_other)

    def write_outside() -> Cell:
        targets = [f"/tmp/atoll-esc-{tagged}-{kind}", f"/var/tmp/atoll-esc-{tagged}-{kind}",
                   f"{env.agent_home}/esc-{tagged}", f"{env.op_home}/esc-{tagged}",
                   f"{env.base}/esc-{tagged}-{kind}", f"/etc/atoll-esc-{tagged}"]
        res = probe(a, "write", {"paths": targets, "marker": "x"})
        landed = [t for t in targets if os.path.exists(t)]
        for t in landed:
            os.unlink(t)
        got = json.loads(res.stdout or b"{}").get("results", {})
        detail = f"landed on host: {', '.join(landed)}" if landed else (
            "writes stayed in the island's own tmpfs" if any(v == "written" for v in
                                                             got.values())
            else first_error(got))
        return Cell(bool(landed), short(detail, 80))

    judge("write outside workspace", write_outside)

    def connect(listener: Listener, hosts: list[str]) -> Cell:
        token = f"T-{kind}-{secrets.token_hex(6)}"
        res = probe(a, "connect", {"targets": [[h, listener.port] for h in hosts],
                                   "token": token})
        got = json.loads(res.stdout or b"{}").get("results", {})
        import time

        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not any(token in r for r in listener.received):
            time.sleep(0.05)
        arrived = any(token in r for r in listener.received)
        return Cell(arrived, "connection arrived" if arrived else first_error(got))

    judge("reach host loopback listener", lambda: connect(env.loop, ["127.0.0.1"]))
    judge("reach host network listener", lambda: connect(env.net, env.ips))

    def engine_socket() -> Cell:
        present = [p for p in ENGINE_SOCKETS if os.path.exists(p)]
        assert present, "no engine socket on the host: the attempt would prove nothing"
        res = probe(a, "unix", {"paths": present})
        got: dict[str, str] = json.loads(res.stdout or b"{}").get("results", {})
        opened = [p for p, v in got.items() if not v.startswith("ERR")]
        return Cell(bool(opened), f"answered: {', '.join(opened)}" if opened
                    else first_error(got))

    judge("reach engine socket", engine_socket)

    def tiocsti() -> Cell:
        marker = f"INJ{secrets.token_hex(5)}"
        outer, report = tiocsti_attempt(a, marker)
        injected = f"GOT:{marker}" in outer
        m = re.search(r"\{.*\}", report)
        got = json.loads(m.group(0)).get("results", {}) if m else {}
        detail = "outer shell read the injected line" if injected else (
            "injected only into the island's own terminal" if "injected" in got.values()
            else first_error(got))
        return Cell(injected, detail)

    judge("TIOCSTI into outer terminal", tiocsti)

    def setuid(commands: dict[str, list[str]]) -> Cell:
        res = probe(a, "setuid", {"commands": commands})
        got: dict[str, str] = json.loads(res.stdout or b"{}").get("results", {})
        root = [k for k, v in got.items() if v.strip() == "0"]
        return Cell(bool(root), f"euid 0 via {', '.join(root)}" if root else
                    "; ".join(f"{k}: {short(v, 30)}" for k, v in got.items()))

    judge("setuid: sudo / su", lambda: setuid({"sudo": ["sudo", "-n", "id", "-u"],
                                               "su": ["su", "-c", "id -u", "root"]}))
    suid = plant_setuid_copy(a)
    judge("setuid: planted root copy",
          lambda: setuid({"suid-bash": [suid, "-p", "-c", "id -u"]}))

    def host_ok() -> bool:
        return run_argv(["true"], timeout=30).ok

    def fork_bomb() -> Cell:
        res = probe(a, "forkbomb", {"cap": 2 * PIDS + 64}, timeout=180)
        m = re.search(rb"\{.*\}", res.stdout)
        data = json.loads(m.group(0)) if m else {}
        forked = int(data.get("forked", -1))
        contained = 0 <= forked < PIDS and bool(data.get("error"))
        assert host_ok(), "the host stopped answering after the fork bomb"
        return Cell(not contained, f"{forked} forks, then {short(data.get('error') or 'none', 30)}"
                    f"; host responsive")

    judge("fork bomb vs pids limit", fork_bomb)

    def memory_hog() -> Cell:
        res = probe(a, "memhog", {"cap": 2 * MEMORY}, timeout=180)
        mbs = [int(x) for x in re.findall(rb"^MB (\d+)$", res.stdout, re.M)]
        peak = max(mbs, default=0)
        stopped = res.returncode != 0 or b"MemoryError" in res.stdout
        contained = stopped and peak * (1 << 20) <= MEMORY
        assert host_ok(), "the host stopped answering after the memory hog"
        how = "MemoryError" if b"MemoryError" in res.stdout else f"exit {res.returncode}"
        return Cell(not contained, f"peak {peak} MiB of {MEMORY >> 20} MiB, {how}")

    judge("memory hog vs memory limit", memory_hog)
    return cells


@pytest.mark.parametrize("kind", KINDS)
def test_escape_battery(env: Env, kind: str, request: pytest.FixtureRequest) -> None:
    if kind in ("docker", "podman"):
        request.getfixturevalue(f"{kind}_image")
    else:
        request.getfixturevalue("bwrap_ready")
    cells = run_battery(env, kind)
    RESULTS[kind] = cells
    assert list(cells) == ATTEMPTS
    promised = [att for att in ATTEMPTS if att not in NOT_PROMISED.get(kind, set())]
    broken = {att: cells[att].detail for att in promised if cells[att].escaped}
    assert not broken, f"{kind} island let these through: {broken}\n{table()}"
    # the test process and the host survived everything
    assert run_argv(["true"], timeout=30).ok
