"""OpenSSH plumbing for the fleet (shared/DESIGN.md decisions 3 and 4).

- :func:`control_dir`: the private (0700, ours, not a symlink) directory holding the
  ControlMaster sockets: ``$XDG_RUNTIME_DIR/atoll/ssh`` when the runtime dir exists, else
  ``$XDG_STATE_HOME/atoll/ssh`` (``~/.local/state/atoll/ssh``), else ``/tmp/atoll-UID/ssh``
  when those paths are too long for a socket (``sun_path`` holds 108 bytes; the socket name
  is 40 hex characters). A directory that is not ours or is open to others is refused.
- :func:`ssh_for`: the :class:`~atoll.exec.runner.Ssh` runner the fleet uses for an alias
  (batch mode, shared master, keep-alives so a dead peer frees its master within ~10 s).
- :func:`master_state` / :func:`check_master` / :func:`drop_master`: detect a wedged
  ControlMaster (its socket accepts but never answers: a stopped or hung master) and remove
  it (SIGKILL to our own process listening on that socket, then unlink the socket).

Sources: ssh_config(5) (ControlPath ``%C``, ControlPersist, ServerAliveInterval), ssh(1)
(``-O check``, ``-G``), OpenSSH PROTOCOL.mux (the master sends MUX_MSG_HELLO on accept).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
import psutil

from atoll import rundir
from atoll.core.errors import AtollError
from atoll.exec.process import run_capped
from atoll.exec.runner import Ssh

SOCKET_NAME_LEN = 40  # %C is a SHA-1 in hex
MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux; keep a margin
KEEPALIVE = ("ServerAliveInterval=5", "ServerAliveCountMax=2")
MUX_MSG_HELLO = 0x00000001
MasterState = Literal["none", "ok", "stale", "wedged"]


def private_dir(path: Path) -> Path | None:
    """:func:`atoll.rundir.private_dir` for a Path."""
    return path if rundir.private_dir(str(path)) is not None else None


def _fits(path: Path) -> bool:
    return len(str(path)) + 1 + SOCKET_NAME_LEN <= MAX_SOCKET_PATH


def control_dir() -> Path:
    """The private ControlMaster directory (see module docstring); AtollError if none."""
    choices = []
    runtime = os.environ.get("XDG_RUNTIME_DIR")  # platformdirs warns when it is unset
    if runtime and os.path.isabs(runtime) and os.path.isdir(runtime):
        choices.append(Path(runtime) / "atoll" / "ssh")
    choices.append(platformdirs.user_state_path("atoll") / "ssh")
    for cand in choices:
        if _fits(cand) and (found := private_dir(cand)) is not None:
            return found
    tmp = rundir.private_dir(rundir.tmp_base())
    if tmp is not None and (found := private_dir(Path(tmp) / "ssh")) is not None:
        return found
    raise AtollError("no private directory for ssh control sockets (check ~/.local/state)")


def ssh_for(alias: str, timeout: float, cdir: Path | None = None, tty: bool = False) -> Ssh:
    """The fleet's Ssh runner for ``alias``; ``timeout`` (s) bounds the TCP connect."""
    return Ssh(
        alias,
        control_dir=str(cdir if cdir is not None else control_dir()),
        connect_timeout=max(1, int(timeout + 0.999)),
        options=KEEPALIVE,
        tty=tty,
    )


def _ssh_base(ssh: Ssh) -> list[str]:
    """``ssh`` and its options, without ``-T``/``-t``, the alias and ``--``."""
    argv = ssh.ssh_argv()
    return argv[:-3]


@lru_cache(maxsize=256)
def _socket_path_cached(base: tuple[str, ...], alias: str) -> str | None:
    res = run_capped([*base, "-G", alias], timeout=5, max_stdout=1 << 16)
    if res.returncode != 0:
        return None
    for line in res.stdout.decode("utf-8", "replace").splitlines():
        key, _, value = line.partition(" ")
        if key == "controlpath" and value and value != "none":
            return value
    return None


def socket_path(ssh: Ssh) -> Path | None:
    """The expanded ControlPath of ``ssh`` (from ``ssh -G``, cached per process)."""
    found = _socket_path_cached(tuple(_ssh_base(ssh)), ssh.alias)
    return Path(found) if found else None


def master_state(path: Path, timeout: float = 1.0) -> MasterState:
    """Probe a master socket the way ``ssh -O check`` starts: connect and wait for the
    master's hello. ``none``: no socket; ``stale``: nobody listens; ``wedged``: no hello
    within ``timeout`` s (or a wrong one); ``ok``: a live master."""
    if not path.exists():
        return "none"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
        data = b""
        while len(data) < 8:
            chunk = sock.recv(8 - len(data))
            if not chunk:
                return "wedged"
            data += chunk
    except (ConnectionRefusedError, FileNotFoundError):
        return "stale"
    except OSError:
        return "wedged"
    finally:
        sock.close()
    _length, kind = struct.unpack(">II", data)
    return "ok" if kind == MUX_MSG_HELLO else "wedged"


def check_master(ssh: Ssh, timeout: float = 2.0) -> bool:
    """``ssh -O check``: True if a master answers within ``timeout`` s."""
    res = run_capped([*_ssh_base(ssh), "-O", "check", ssh.alias], timeout, 4096)
    return res.returncode == 0


def _our_masters(path: Path) -> list[int]:
    """Pids of our own processes listening on the master socket ``path``. OpenSSH binds a
    temporary name ``PATH.RANDOM`` and links it to ``PATH``, so both forms are matched."""
    want = str(path)
    found = []
    for proc in psutil.process_iter(["uids", "name"]):
        info = proc.info
        if info["name"] != "ssh" or not info["uids"] or info["uids"].real != os.getuid():
            continue
        try:
            lister = getattr(proc, "net_connections", None) or proc.connections  # psutil<6
            conns = lister(kind="unix")
        except psutil.Error:
            continue
        for conn in conns:
            laddr = conn.laddr if isinstance(conn.laddr, str) else ""
            if laddr == want or laddr.startswith(want + "."):
                found.append(proc.pid)
                break
    return found


def drop_master(ssh: Ssh, path: Path | None = None) -> None:
    """Remove a wedged master: SIGKILL our own process listening on its socket (a stopped
    process ignores SIGTERM), then unlink the socket. Safe when there is none."""
    target = path if path is not None else socket_path(ssh)
    if target is None:
        return
    for pid in _our_masters(target):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(FileNotFoundError):
        target.unlink()
