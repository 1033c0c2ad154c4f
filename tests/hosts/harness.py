"""Test hosts on this one machine (docs/hosts.md): each a separate "computer" with its own
address, /etc (users, sudoers), /tmp (tmux sockets), processes and sshd.

A :class:`TestHost` is:
- a network namespace ``atollt-RUN-NAME`` joined to ours by a veth pair on its own
  ``10.213.N.0/24`` (our side ``.1``, the host ``.2``); only these addresses are used;
- an overlayfs root (lower: per-session atoll layer + cached Debian base, upper: the host's
  own directory, so its changes survive :meth:`TestHost.stop`/:meth:`TestHost.start`);
- fresh mount, pid, uts and ipc namespaces whose PID 1 is ``atoll-test-init``, chrooted in
  that root, with its own /proc, /dev (own devpts), /tmp and /run;
- ``sshd`` started inside, listening on port 22.

A :class:`DownHost` has an address that answers nothing (packets vanish, connects time out).

Every resource is recorded in ``/run/atoll-test-hosts/RUN.json`` before it exists, so a
crashed run is cleaned up by the next one (:func:`cleanup_stale`). Errors: :class:`HostError`.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import select
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

HOST_ID_RANGE = (60000, 60999)
"""uids and gids of users made inside test hosts (none of this machine's users has one)."""

STATE_DIR = Path("/run/atoll-test-hosts")
WORK_DIR = Path(os.environ.get("ATOLL_TEST_WORKDIR", "/var/tmp"))
NET = "10.213"
HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BOOT_WAIT = 60.0  # seconds a host may take to boot before we give up (not a test assertion)

_BOOT_SH = r"""
set -e
R="$1"; L="$2"; U="$3"; W="$4"; N="$5"
mount -t overlay overlay -o "lowerdir=$L,upperdir=$U,workdir=$W" "$R"
mount -t proc -o nosuid,nodev,noexec proc "$R/proc"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$R/sys"
mount -t tmpfs -o mode=0755,nosuid,size=4m tmpfs "$R/dev"
mknod -m 666 "$R/dev/null" c 1 3; mknod -m 666 "$R/dev/zero" c 1 5
mknod -m 666 "$R/dev/full" c 1 7; mknod -m 666 "$R/dev/random" c 1 8
mknod -m 666 "$R/dev/urandom" c 1 9; mknod -m 666 "$R/dev/tty" c 5 0
mkdir -m 755 "$R/dev/pts"; mkdir -m 1777 "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5,nosuid,noexec devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"; ln -s /proc/self/fd "$R/dev/fd"
ln -s /proc/self/fd/0 "$R/dev/stdin"; ln -s /proc/self/fd/1 "$R/dev/stdout"
ln -s /proc/self/fd/2 "$R/dev/stderr"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/tmp"
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$R/run"
hostname "$N"
exec chroot "$R" /usr/bin/python3 -S /usr/local/sbin/atoll-test-init
"""

_FIRST_STEPS_SH = r"""
set -e
printf '127.0.0.1 localhost\n127.0.1.1 %s\n' "$1" > /etc/hosts
printf '%s\n' "$1" > /etc/hostname
k=/etc/ssh/ssh_host_ed25519_key
[ -s $k ] || ssh-keygen -q -t ed25519 -N '' -f $k
mkdir -p -m 0755 /run/sshd
"""


class HostError(RuntimeError):
    """A test host could not be created, started or driven."""


def sh(argv: list[str], *, check: bool = True, input: bytes | None = None,
       timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    """Run a command in our (root) namespace; raise HostError with its stderr on failure."""
    proc = subprocess.run(argv, input=input, capture_output=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()
        raise HostError(f"{' '.join(argv)} failed ({proc.returncode}): {err}")
    return proc


def _proc_key(pid: int) -> list[float] | None:
    try:
        return [pid, psutil.Process(pid).create_time()]
    except psutil.Error:
        return None


def _alive(key: list[float]) -> bool:
    try:
        return bool(psutil.Process(int(key[0])).create_time() == key[1])
    except psutil.Error:
        return False


def wait_port(address: str, port: int, deadline: float = BOOT_WAIT) -> None:
    """Block until ``address:port`` accepts a TCP connection (HostError after ``deadline``)."""
    end = time.monotonic() + deadline
    while True:
        try:
            with socket.create_connection((address, port), timeout=1.0):
                return
        except OSError as exc:
            if time.monotonic() > end:
                raise HostError(f"{address}:{port} never accepted a connection: {exc}") from exc
            time.sleep(0.05)


def wait_until(predicate: Callable[[], bool], what: str, deadline: float = BOOT_WAIT) -> None:
    """Poll ``predicate`` until true; HostError naming ``what`` after ``deadline`` seconds.
    A guard against hangs, never a speed assertion."""
    end = time.monotonic() + deadline
    while not predicate():
        if time.monotonic() > end:
            raise HostError(f"gave up waiting for {what}")
        time.sleep(0.02)


@dataclass
class Run:
    """Resources of one test session, persisted so a crashed run can be cleaned up."""

    id: str = field(default_factory=lambda: secrets.token_hex(3))
    state: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.dir = WORK_DIR / f"atoll-hosts-{self.id}"
        self.dir.mkdir(mode=0o755, parents=True)
        me = _proc_key(os.getpid())
        self.state = {"owner": me, "dir": str(self.dir), "netns": [], "links": [],
                      "procs": [], "users": []}
        STATE_DIR.mkdir(mode=0o700, exist_ok=True)
        self.save()

    @property
    def state_file(self) -> Path:
        return STATE_DIR / f"{self.id}.json"

    def save(self) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state))
        tmp.replace(self.state_file)

    def add(self, kind: str, value: Any) -> None:
        if value not in self.state[kind]:
            self.state[kind].append(value)
            self.save()

    def drop(self, kind: str, value: Any) -> None:
        if value in self.state[kind]:
            self.state[kind].remove(value)
            self.save()

    def cleanup(self) -> None:
        release(self.state)
        self.state_file.unlink(missing_ok=True)


def release(state: dict[str, Any]) -> None:
    """Free everything listed in a run's state (idempotent; order: processes, users,
    network, files)."""
    for key in state.get("procs", []):
        if _alive(key):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(key[0]), signal.SIGKILL)
    for name in state.get("users", []):
        _remove_local_user(name)
    for link in state.get("links", []):
        sh(["ip", "link", "del", link], check=False)
    for ns in state.get("netns", []):
        sh(["ip", "netns", "del", ns], check=False)
    run_dir = state.get("dir")
    if run_dir and Path(run_dir).name.startswith("atoll-hosts-"):
        sh(["rm", "-rf", "--one-file-system", run_dir], check=False, timeout=300)


def _remove_local_user(name: str) -> None:
    import pwd

    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        return
    for proc in psutil.process_iter(["uids"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if proc.info["uids"] and proc.info["uids"].real == uid:
                os.kill(proc.pid, signal.SIGKILL)
    sh(["userdel", "-r", "-f", name], check=False)


def cleanup_stale() -> int:
    """Release the resources of earlier runs whose pytest process is gone; return how many."""
    if not STATE_DIR.is_dir():
        return 0
    count = 0
    for path in STATE_DIR.glob("*.json"):
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        owner = state.get("owner")
        if owner and _alive(owner):
            continue
        release(state)
        path.unlink(missing_ok=True)
        count += 1
    return count


def free_subnets(count: int) -> list[int]:
    """``count`` values N such that 10.213.N.0/24 is on no interface of ours."""
    used = sh(["ip", "-o", "-4", "addr", "show"]).stdout.decode()
    taken = {int(part.split(".")[2]) for part in used.split()
             if part.startswith(f"{NET}.") and part.count(".") == 3}
    free = [n for n in range(1, 255) if n not in taken]
    if len(free) < count:
        raise HostError(f"no free {NET}.N.0/24 subnets left")
    return free[:count]


class _Net:
    """A netns joined to ours by a veth pair: our side ``veth`` (.1), theirs ``peer``."""

    def __init__(self, run: Run, name: str, index: int) -> None:
        self.res, self.name, self.index = run, name, index
        self.netns = f"atollt-{run.id}-{name}"
        self.veth, self.peer = f"atoll{index}h", f"atoll{index}n"
        self.gateway, self.address = f"{NET}.{index}.1", f"{NET}.{index}.2"

    def create_net(self, with_address: bool = True) -> None:
        self.res.add("netns", self.netns)
        self.res.add("links", self.veth)
        sh(["ip", "netns", "add", self.netns])
        sh(["ip", "link", "add", self.veth, "type", "veth", "peer", "name", self.peer])
        sh(["ip", "link", "set", self.peer, "netns", self.netns])
        sh(["ip", "addr", "add", f"{self.gateway}/24", "dev", self.veth])
        sh(["ip", "link", "set", self.veth, "up"])
        ns = ["ip", "-n", self.netns]
        sh([*ns, "link", "set", "lo", "up"])
        sh([*ns, "link", "set", self.peer, "up"])
        if with_address:
            sh([*ns, "addr", "add", f"{self.address}/24", "dev", self.peer])
            sh([*ns, "route", "add", "default", "via", self.gateway])

    def destroy_net(self) -> None:
        sh(["ip", "link", "del", self.veth], check=False)
        sh(["ip", "netns", "del", self.netns], check=False)
        self.res.drop("links", self.veth)
        self.res.drop("netns", self.netns)


class DownHost(_Net):
    """An address that answers nothing: frames reach a namespace that does not own it."""

    def create(self) -> None:
        self.create_net(with_address=False)
        info = json.loads(sh(["ip", "-n", self.netns, "-j", "link", "show", self.peer]).stdout)
        mac = info[0]["address"]
        sh(["ip", "neigh", "replace", self.address, "lladdr", mac, "dev", self.veth,
            "nud", "permanent"])

    def destroy(self) -> None:
        self.destroy_net()


class TestHost(_Net):
    """One test host; see the module docstring. Create with :meth:`create`, then
    :meth:`start`."""

    __test__ = False  # not a pytest test class

    def __init__(self, run: Run, name: str, index: int, lower: str) -> None:
        super().__init__(run, name, index)
        self.lower = lower
        self.dir = run.dir / name
        self.upper, self.work, self.root = self.dir / "upper", self.dir / "work", self.dir / "root"
        self.init_pid: int | None = None
        self._boot: subprocess.Popen[bytes] | None = None
        self._spawned: list[subprocess.Popen[bytes]] = []
        self.delay_mode: str | None = None

    def create(self) -> None:
        for d in (self.upper, self.work, self.root):
            d.mkdir(parents=True)
        self.create_net()

    # -- power -------------------------------------------------------------------------
    def start(self) -> None:
        """Boot: namespaces, mounts, PID 1, host keys, sshd; returns once port 22 answers."""
        if self.init_pid is not None:
            raise HostError(f"{self.name} is already running")
        log = open(self.dir / "boot.log", "ab")  # noqa: SIM115 - closed in _reap
        argv = ["ip", "netns", "exec", self.netns, "unshare", "--mount", "--uts", "--ipc",
                "--pid", "--fork", "--kill-child", "--propagation", "private", "--",
                "sh", "-c", _BOOT_SH, "sh", str(self.root), self.lower, str(self.upper),
                str(self.work), self.name]
        self._boot = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=log, env={"PATH": HOST_PATH, "LC_ALL": "C.UTF-8"},
                                      start_new_session=True)
        log.close()
        assert self._boot.stdout is not None
        ready, _, _ = select.select([self._boot.stdout], [], [], BOOT_WAIT)
        line = self._boot.stdout.readline() if ready else b""
        self._boot.stdout.close()
        if line != b"ready\n":
            self._boot.kill()
            self._boot.wait()
            self._boot = None
            tail = (self.dir / "boot.log").read_text(errors="replace")[-2000:]
            raise HostError(f"host {self.name} did not boot: {tail}")
        children = psutil.Process(self._boot.pid).children()
        if len(children) != 1:
            raise HostError(f"host {self.name}: expected one PID 1, found {children}")
        self.init_pid = children[0].pid
        key = _proc_key(self.init_pid)
        if key:
            self.res.add("procs", key)
        self.run(["sh", "-c", _FIRST_STEPS_SH, "sh", self.name])
        self.start_sshd()

    def stop(self) -> None:
        """Power off: every process of the host dies, its /tmp and /run vanish; disk stays."""
        if self.init_pid is None:
            return
        key = _proc_key(self.init_pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.init_pid, signal.SIGKILL)
        if self._boot is not None:
            self._boot.wait(timeout=60)
        for proc in self._spawned:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=60)
        self._spawned.clear()
        if key:
            self.res.drop("procs", key)
        self.init_pid, self._boot, self.delay_mode = None, None, None

    def destroy(self) -> None:
        self.stop()
        self.destroy_net()
        sh(["rm", "-rf", "--one-file-system", str(self.dir)], check=False, timeout=300)

    # -- running things inside -----------------------------------------------------------
    def _enter(self, argv: list[str], user: str | None) -> list[str]:
        if self.init_pid is None:
            raise HostError(f"host {self.name} is not running")
        env = ["env", "-i", f"PATH={HOST_PATH}", "LC_ALL=C.UTF-8", "TERM=xterm"]
        if user is None:
            inner = [*env, "HOME=/root", *argv]
        else:
            inner = ["runuser", "-u", user, "--", *env, f"HOME=/home/{user}", f"USER={user}",
                     f"LOGNAME={user}", *argv]
        return ["nsenter", f"--target={self.init_pid}", "--mount", "--uts", "--ipc", "--net",
                "--pid", "--root", "--wd", "--", *inner]

    def run(self, argv: list[str], *, user: str | None = None, input: bytes | None = None,
            check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        """Run ``argv`` inside the host, as root (or ``user`` via runuser); captured output.
        HostError when ``check`` and it fails."""
        return sh(self._enter(argv, user), check=check, input=input, timeout=timeout)

    def spawn(self, argv: list[str], *, user: str | None = None) -> None:
        """Start ``argv`` inside the host in the background (output to the host's dir)."""
        with open(self.dir / "spawned.log", "ab") as log:
            proc = subprocess.Popen(self._enter(argv, user), stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=log, start_new_session=True)
        self._spawned.append(proc)

    def write_file(self, path: str, data: bytes | str, *, mode: int = 0o644,
                   owner: str = "root") -> None:
        """Create or replace ``path`` inside the host (never through a symlink)."""
        raw = data.encode() if isinstance(data, str) else data
        self.run(["rm", "-f", path])
        self.run(["sh", "-c", 'umask 077; cat > "$1"', "sh", path], input=raw)
        self.run(["chown", f"{owner}:", path])
        self.run(["chmod", f"{mode:o}", path])

    def read_file(self, path: str) -> bytes:
        return self.run(["cat", path]).stdout

    def exists(self, path: str) -> bool:
        return self.run(["test", "-e", path], check=False).returncode == 0

    # -- users and sudoers ---------------------------------------------------------------
    def add_user(self, name: str, *, authorized_key: str | None = None) -> None:
        """A login user with a home; ``authorized_key`` (one public key line) lets it ssh in.

        Its uid and gid come from 60000-60999 (:data:`HOST_ID_RANGE`): a test host shares the
        kernel's uid space with this machine, so a uid that a throwaway user of this machine
        also has would be killed by that user's cleanup (``pkill -u``), and the other way
        round."""
        lo, hi = HOST_ID_RANGE
        self.run(["useradd", "-m", "-s", "/bin/bash", "-K", f"UID_MIN={lo}", "-K",
                  f"UID_MAX={hi}", "-K", f"GID_MIN={lo}", "-K", f"GID_MAX={hi}", name])
        self.run(["usermod", "-p", "*", name])  # not locked: sshd runs without PAM here
        if authorized_key:
            self.run(["install", "-d", "-m", "700", "-o", name, "-g", name, f"/home/{name}/.ssh"])
            self.write_file(f"/home/{name}/.ssh/authorized_keys", authorized_key.strip() + "\n",
                            mode=0o600, owner=name)

    def write_sudoers(self, name: str, text: str) -> None:
        """Install ``/etc/sudoers.d/NAME`` after ``visudo -c -f`` accepted it inside."""
        if not name.replace("-", "").replace("_", "").isalnum():
            raise HostError(f"bad sudoers file name {name!r}")
        tmp = f"/etc/sudoers.d/.{name}.new"  # sudo ignores names containing a dot
        self.write_file(tmp, text, mode=0o440)
        check = self.run(["visudo", "-c", "-f", tmp], check=False)
        if check.returncode != 0:
            self.run(["rm", "-f", tmp])
            why = (check.stdout + check.stderr).decode()
            raise HostError(f"visudo rejected {name}: {why}")
        self.run(["mv", "-f", tmp, f"/etc/sudoers.d/{name}"])

    def remove_sudoers(self, name: str) -> None:
        self.run(["rm", "-f", f"/etc/sudoers.d/{name}"])

    def tmux_session(self, user: str, name: str, *cmd: str) -> None:
        """A detached session on ``user``'s ``-L atoll`` server (default command: sleep)."""
        argv = ["tmux", "-L", "atoll", "new-session", "-d", "-s", name, "-x", "120", "-y", "30"]
        self.run([*argv, *(cmd or ("sleep", "100000"))], user=user)

    # -- sshd and network faults ---------------------------------------------------------
    def start_sshd(self, listen: str | None = None) -> None:
        """Start the sshd listener (all addresses unless ``listen``) and wait for it."""
        extra = ["-o", f"ListenAddress={listen}"] if listen else []
        self.run(["/usr/sbin/sshd", "-E", "/var/log/sshd.log", *extra])
        if listen is None:
            wait_port(self.address, 22)

    def sshd_pids(self) -> list[int]:
        out = self.run(["ps", "-e", "-o", "pid=,comm="]).stdout.decode()
        return [int(pid) for pid, comm in (line.split(None, 1) for line in out.splitlines())
                if comm.strip() == "sshd"]

    def has_process(self, args: str) -> bool:
        """True if a process whose full command line is ``args`` runs in the host."""
        out = self.run(["ps", "-e", "-o", "args="]).stdout.decode()
        return any(line.strip() == args for line in out.splitlines())

    def kill_sshd(self) -> None:
        """SIGKILL every sshd of the host: the listener and every live connection."""
        pids = self.sshd_pids()
        if pids:
            self.run(["kill", "-KILL", *map(str, pids)], check=False)

    def _stop_listener(self) -> None:
        pid = self.run(["cat", "/run/sshd.pid"], check=False).stdout.decode().strip()
        if not pid.isdigit():
            return
        self.run(["kill", "-TERM", pid], check=False)
        end = time.monotonic() + BOOT_WAIT
        while self.run(["kill", "-0", pid], check=False).returncode == 0:
            if time.monotonic() > end:
                raise HostError(f"{self.name}: sshd {pid} did not exit")
            time.sleep(0.02)

    def add_delay(self, ms: int) -> str:
        """Delay every packet to and from the host by ``ms`` (each direction). Uses
        ``tc netem`` when the kernel has it; otherwise moves sshd to 127.0.0.1 behind
        ``atoll-test-delay`` on the host's address (connections made before this call
        keep the direct path then). Returns the mode used: ``netem`` or ``proxy``."""
        if self.delay_mode:
            raise HostError(f"{self.name} already has a delay")
        rule = ["root", "netem", "delay", f"{ms}ms"]
        first = sh(["tc", "qdisc", "replace", "dev", self.veth, *rule], check=False)
        if first.returncode == 0:
            sh(["tc", "-n", self.netns, "qdisc", "replace", "dev", self.peer, *rule])
            self.delay_mode = "netem"
            return "netem"
        self._stop_listener()
        self.start_sshd(listen="127.0.0.1")
        self.spawn(["python3", "/usr/local/sbin/atoll-test-delay", self.address, "22",
                    "127.0.0.1", str(ms), "/run/atoll-delay.pid"])
        wait_port(self.address, 22)
        self.delay_mode = "proxy"
        return "proxy"

    def clear_delay(self) -> None:
        if self.delay_mode == "netem":
            sh(["tc", "qdisc", "del", "dev", self.veth, "root"], check=False)
            sh(["tc", "-n", self.netns, "qdisc", "del", "dev", self.peer, "root"], check=False)
        elif self.delay_mode == "proxy":
            pid = self.run(["cat", "/run/atoll-delay.pid"], check=False).stdout.decode().strip()
            if pid.isdigit():
                self.run(["kill", "-KILL", pid], check=False)
            self._stop_listener()
            self.start_sshd()
        self.delay_mode = None

    def host_key(self) -> str:
        """The host's public ed25519 key (``TYPE BASE64``)."""
        text = self.read_file("/etc/ssh/ssh_host_ed25519_key.pub").decode().split()
        return f"{text[0]} {text[1]}"

    # -- atoll inside --------------------------------------------------------------------
    def install_fake_atoll(self, script: str) -> None:
        """Replace /usr/local/bin/atoll with ``script`` (an executable text)."""
        self.write_file("/usr/local/bin/atoll", script, mode=0o755)

    def restore_atoll(self) -> None:
        self.run(["ln", "-sfn", "/opt/atoll/bin/atoll", "/usr/local/bin/atoll"])
