"""Talking to an island's broker: start it, ask it, stop it (the operator's side).

The broker of a :class:`~atoll.core.broker.BrokerPlace` listens on
``runtime_base()/broker/<socket_name(key)>`` (a 0700 directory of the operator's; the
socket is 0600 and the broker checks each peer's uid). :func:`start_broker` starts
:mod:`atoll.broker.daemon` detached (its log beside the socket, ``.log``) and waits until its
filesystem is mounted and answering. Errors: :class:`BrokerError` (exit 1) with one line.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from atoll.core.broker import BrokerPlace, socket_name
from atoll.core.errors import AtollError, ExitCode
from atoll.rundir import private_dir, runtime_base

START_TIMEOUT = 20.0


class BrokerError(AtollError):
    """The broker is not running, refused a request, or could not start."""

    def __init__(self, message: str, code: int = int(ExitCode.ERROR)) -> None:
        super().__init__(message)
        self.exit_code = ExitCode(code) if code in ExitCode._value2member_map_ else \
            ExitCode.ERROR


def broker_dir() -> Path:
    """The operator's private directory of broker sockets and logs (created 0700)."""
    base = runtime_base()
    found = private_dir(os.path.join(base, "broker")) if base else None
    if found is None:
        raise BrokerError("no private runtime directory for the broker's socket")
    return Path(found)


def socket_path(key: str) -> Path:
    return broker_dir() / socket_name(key)


def call(key: str, request: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    """Send one request to the broker of ``key`` and return its answer's fields. Raises
    BrokerError when no broker answers (``not running``) or it refuses (its message and
    exit code)."""
    path = socket_path(key)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(str(path))
        except OSError:
            raise BrokerError(f"no broker is running for {key}") from None
        sock.sendall(json.dumps(request).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        raise BrokerError(f"the broker of {key} did not answer: {exc.strerror or exc}") \
            from None
    finally:
        sock.close()
    try:
        reply = json.loads(data)
    except ValueError:
        raise BrokerError(f"the broker of {key} gave no answer") from None
    if not isinstance(reply, dict):
        raise BrokerError(f"the broker of {key} gave no answer")
    if not reply.get("ok"):
        code = reply.get("code")
        raise BrokerError(str(reply.get("error", "refused"))[:300],
                          code if isinstance(code, int) else 1)
    return reply


def running(key: str) -> bool:
    """True when the broker of ``key`` answers and its filesystem is mounted."""
    try:
        return bool(call(key, {"op": "ping"}, timeout=5).get("ready"))
    except BrokerError:
        return False


def start_broker(place: BrokerPlace, *, ledger: str, host: str, actor: dict[str, object],
                 home: str | None = None) -> None:
    """Start the broker of ``place`` unless it runs; wait until it is mounted. Raises
    BrokerError with the last line of its log when it does not come up."""
    from atoll.exec.process import spawn_detached

    if running(place.key):
        return
    sock = socket_path(place.key)
    log = str(sock.with_suffix(".log"))
    argv = [sys.executable, "-m", "atoll.broker.daemon", "--key", place.key,
            "--socket", str(sock), "--mountpoint", place.mountpoint,
            "--inside", place.inside, "--ledger", ledger, "--host", host,
            "--actor", json.dumps(actor)]
    for uid in place.uids:
        argv += ["--uid", str(uid)]
    if place.mount_as:
        argv += ["--mount-as", place.mount_as]
    if home:
        argv += ["--home", home]
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL",
                                                         "PYTHONPATH", "ATOLL_DEBUG")}
    pid = spawn_detached(argv, env=env, log_path=log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if running(place.key):
            return
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            break
        time.sleep(0.05)
    raise BrokerError(f"the broker of {place.key} did not start: {_last_line(log)}")


def stop_broker(key: str) -> None:
    """Ask the broker of ``key`` to unmount and exit (nothing when none runs)."""
    try:
        call(key, {"op": "stop"}, timeout=10)
    except BrokerError:
        return


def _last_line(log: str) -> str:
    try:
        with open(log, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 4096))
            lines = fh.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1][:300] if lines else "no log"
