"""The broker process: ``python -m atoll.broker.daemon --key K --socket S --mountpoint M ...``.

One per island (per agent user for ``user`` islands), started detached by
:func:`atoll.broker.control.start_broker`, running as the operator. It

1. binds its control socket ``S`` (0600 in the operator's 0700 runtime directory; every
   connection's peer uid is checked with SO_PEERCRED: only the operator's own);
2. mounts the filesystem at ``M``. Two routes (documented in docs/islands.md, "Grants"):
   - ``--mount-as AGENT`` (user and bwrap islands): the agent user runs ``fusermount3``
     (setuid, as any FUSE user) through ``sudo -n -u AGENT`` on a mountpoint it owns, and
     hands the opened ``/dev/fuse`` back over a socketpair (``_FUSE_COMMFD``, libfuse's own
     protocol); libfuse serves it as ``/dev/fd/N``. The mount belongs to the agent's uid, so
     the kernel itself refuses every other uid (no ``allow_other``, no change to
     /etc/fuse.conf), and the broker checks the uid again on each request.
   - otherwise (container islands) the broker mounts as the operator with
     ``allow_other`` (root needs nothing; another operator needs ``user_allow_other`` in
     /etc/fuse.conf), the mountpoint inside the operator's 0700 runtime directory (only the
     engine, as root, can reach it to bind it into the container), and the broker serves
     only ``--uid``;
3. serves until the mount goes away (``atoll`` unmounts it on stop, or the island ends).

Control requests are one JSON object per connection (``{"op": "ping"|"grant"|"revoke"|
"list"|"stop", ...}``), answered with one JSON object (``{"ok": true, ...}`` or ``{"ok":
false, "error": "...", "code": N}``). Exit status: 0 unmounted, 1 could not mount, 2 bad
arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import struct
import sys
import threading
from typing import Any

import msgspec

from atoll.core.errors import AtollError
from atoll.ledger.audit import Audit, actor_from_json
from atoll.ledger.store import Ledger

MAX_REQUEST = 64 * 1024


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="atoll.broker.daemon")
    p.add_argument("--key", required=True)
    p.add_argument("--socket", required=True)
    p.add_argument("--mountpoint", required=True)
    p.add_argument("--inside", required=True)
    p.add_argument("--uid", type=int, action="append", required=True)
    p.add_argument("--mount-as", default=None)
    p.add_argument("--ledger", required=True)
    p.add_argument("--host", required=True)
    p.add_argument("--actor", required=True)
    p.add_argument("--home", default=None)
    return p.parse_args(argv)


def peer_uid(conn: socket.socket) -> int:
    """The uid of the process at the other end of a Unix socket (SO_PEERCRED)."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


def _answer(broker: Any, fs: Any, req: dict[str, Any], stop: threading.Event) -> dict[str, Any]:
    op = req.get("op")
    if op == "ping":
        return {"ok": True, "ready": fs.ready.is_set(), "pid": os.getpid()}
    if op == "list":
        return {"ok": True, "grants": [g.to_json(broker.inside) for g in broker.grants()]}
    if op == "grant":
        path, rw, name = req.get("path"), bool(req.get("rw")), req.get("name")
        if not isinstance(path, str) or not (name is None or isinstance(name, str)):
            return {"ok": False, "error": "grant needs a path", "code": 2}
        by = req.get("by") if isinstance(req.get("by"), dict) else {}
        seq = req.get("seq") if isinstance(req.get("seq"), int) else None
        g = broker.add(path, rw, name, by, seq)
        return {"ok": True, "grant": g.to_json(broker.inside)}
    if op == "revoke":
        what = req.get("grant")
        if not isinstance(what, str):
            return {"ok": False, "error": "revoke needs a grant", "code": 2}
        g = broker.revoke(what)
        return {"ok": True, "grant": g.to_json(broker.inside)}
    if op == "stop":
        stop.set()
        return {"ok": True}
    return {"ok": False, "error": f"unknown request {str(op)[:40]!r}", "code": 2}


def serve_control(sock: socket.socket, broker: Any, fs: Any, stop: threading.Event,
                  on_stop: Any) -> None:
    """Answer control connections until ``stop`` is set; then call ``on_stop``."""
    me = os.getuid()
    while not stop.is_set():
        try:
            conn, _ = sock.accept()
        except OSError:
            break
        with conn:
            try:
                if peer_uid(conn) != me:
                    continue  # not the operator: no answer at all
                conn.settimeout(10)
                data = b""
                while not data.endswith(b"\n") and len(data) < MAX_REQUEST:
                    chunk = conn.recv(MAX_REQUEST)
                    if not chunk:
                        break
                    data += chunk
                try:
                    req = json.loads(data)
                    if not isinstance(req, dict):
                        raise ValueError
                    reply = _answer(broker, fs, req, stop)
                except AtollError as exc:
                    reply = {"ok": False, "error": str(exc), "code": int(exc.exit_code)}
                except ValueError:
                    reply = {"ok": False, "error": "bad request", "code": 2}
                conn.sendall(json.dumps(reply).encode() + b"\n")
            except OSError:
                continue
    on_stop()


def handed_fuse_fd(agent: str, mountpoint: str) -> int:
    """Mount through ``sudo -n -u AGENT fusermount3`` and return the ``/dev/fuse`` fd it
    hands back (libfuse's ``_FUSE_COMMFD`` protocol). Raises AtollError when it fails."""
    from atoll.exec.process import run_with_socket

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    argv = ["sudo", "-n", "-u", agent, "--", "env", "_FUSE_COMMFD=0", "fusermount3", "-o",
            "nosuid,nodev,noexec,fsname=atoll-broker,subtype=atoll", "--", mountpoint]
    try:
        res = run_with_socket(argv, theirs.fileno(), timeout=30)
        theirs.close()
        if res.returncode != 0:
            raise AtollError(f"fusermount3 as {agent} failed: "
                             f"{(res.stderr.strip().splitlines() or ['?'])[-1]}")
        ours.settimeout(5)
        _msg, fds, _flags, _addr = socket.recv_fds(ours, 16, 1)
    finally:
        ours.close()
        with contextlib.suppress(OSError):
            theirs.close()
    if not fds:
        raise AtollError(f"fusermount3 as {agent} handed back no fuse device")
    return fds[0]


def unmount(mountpoint: str, agent: str | None) -> None:
    """Detach the mount (lazily: open files keep working until closed, as umount -l)."""
    from atoll.exec.process import run_argv

    argv = ["fusermount3", "-u", "-z", "-q", "--", mountpoint]
    if agent:
        argv = ["sudo", "-n", "-u", agent, "--", *argv]
    with contextlib.suppress(AtollError):
        run_argv(argv, timeout=30)


WATCH_SECONDS = 2.0


def watch_island(mountpoint: str, agent: str | None, stop: threading.Event,
                 on_stop: Any) -> None:
    """Stop serving when the island is gone without a purge (its agent user deleted, the
    directory holding the mountpoint removed): unmount, so the FUSE loop ends."""
    import pwd

    while not stop.wait(WATCH_SECONDS):
        try:
            if agent:
                pwd.getpwnam(agent)
            gone = not os.path.isdir(os.path.dirname(mountpoint))
        except KeyError:
            gone = True
        if gone:
            stop.set()
            on_stop()
            return


def run(args: argparse.Namespace) -> int:
    import mfusepy as fuse

    from atoll.broker.fs import BrokerFS
    from atoll.broker.state import Broker

    actor = actor_from_json(msgspec.json.decode(args.actor))
    audit = Audit(Ledger(args.ledger), args.host, actor)
    broker = Broker(args.key, args.inside, set(args.uid), audit, args.home)
    fs = BrokerFS(broker)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(args.socket)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(args.socket)
    finally:
        os.umask(old)
    os.chmod(args.socket, 0o600)
    sock.listen(8)
    stop = threading.Event()

    def on_stop() -> None:
        unmount(args.mountpoint, args.mount_as)

    threading.Thread(target=serve_control, args=(sock, broker, fs, stop, on_stop),
                     daemon=True).start()
    threading.Thread(target=watch_island, args=(args.mountpoint, args.mount_as, stop, on_stop),
                     daemon=True).start()
    def on_term(signum: int, frame: object) -> None:
        stop.set()
        on_stop()

    signal.signal(signal.SIGTERM, on_term)
    unmount(args.mountpoint, args.mount_as)  # a mount left by a broker that died
    try:
        if args.mount_as:
            fd = handed_fuse_fd(args.mount_as, args.mountpoint)
            target, opts = f"/dev/fd/{fd}", {}
        else:
            target, opts = args.mountpoint, {"allow_other": True}
    except AtollError as exc:
        sys.stderr.write(f"atoll broker: {exc}\n")
        return 1
    try:
        # No kernel caching of names or attributes (timeouts 0): a revoked grant, or a
        # path swapped on the host, is looked up again at once; direct_io on every file.
        fuse.FUSE(fs, target, raw_fi=True, foreground=True, nothreads=False,
                  fsname="atoll-broker", subtype="atoll", entry_timeout=0, attr_timeout=0,
                  negative_timeout=0, direct_io=True, **opts)
    finally:
        stop.set()
        on_stop()
        broker.close_all()
        sock.close()
        with contextlib.suppress(OSError):
            os.unlink(args.socket)
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parse(sys.argv[1:] if argv is None else argv)
        actor_from_json(msgspec.json.decode(args.actor))
    except (SystemExit, ValueError, msgspec.DecodeError):
        return 2
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
