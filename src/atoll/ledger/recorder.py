"""The transcript recorder process: ``python -m atoll.ledger.recorder --fifo F --out PATH ...``.

Started by :func:`atoll.ledger.transcript.start_transcript` with the transcript file open on
fd 3 and a status pipe on fd 4. It forks once: the first process writes the recorder's pid
to the status pipe and exits (so the starter reaps it at once); the recorder starts a new
session, copies the FIFO into fd 3 until EOF (every writer gone), fsyncs, removes the FIFO
and its directory, and appends ``transcript.closed`` (outcome ``ok``, or ``error`` when the
file could not be written in full or the recorder was told to stop) with details
``{"path", "sha256" (of the bytes in the file), "bytes", "error"?}``.
Exit status: 0 recorded, 1 the ledger record failed, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import signal
import sys
from pathlib import Path
from types import FrameType

import msgspec

from atoll.core.errors import AtollError
from atoll.ledger.audit import Audit, actor_from_json
from atoll.ledger.store import Ledger

OUT_FD = 3
STATUS_FD = 4


class _Stop(Exception):
    pass


def _on_term(signum: int, frame: FrameType | None) -> None:
    raise _Stop(f"recorder stopped by signal {signum}")


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="atoll.ledger.recorder")
    parser.add_argument("--fifo", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--ledger", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--session", required=True)
    parser.add_argument("--actor", required=True)
    parser.add_argument("--correlation", default=None)
    return parser.parse_args(argv)


def copy_fifo(fifo: str, out_fd: int) -> tuple[str, int, str | None]:
    """Copy ``fifo`` into ``out_fd`` until EOF. Returns (sha256 hex of the bytes written,
    bytes written, error or None). After a write error it keeps draining the FIFO so the
    pane's writer never blocks, and stops writing."""
    digest = hashlib.sha256()
    written = 0
    error: str | None = None
    rfd = os.open(fifo, os.O_RDONLY | os.O_CLOEXEC)  # waits for the first writer
    try:
        while True:
            chunk = os.read(rfd, 65536)
            if not chunk:
                break
            if error is not None:
                continue
            view = memoryview(chunk)
            try:
                while view:
                    n = os.write(out_fd, view)
                    digest.update(view[:n])
                    written += n
                    view = view[n:]
            except OSError as exc:
                error = f"cannot write transcript: {exc.strerror}"
    except _Stop as stop:
        error = error or str(stop)
    finally:
        os.close(rfd)
    try:
        os.fsync(out_fd)
    except OSError as exc:
        error = error or f"cannot write transcript: {exc.strerror}"
    return digest.hexdigest(), written, error


def run(args: argparse.Namespace) -> int:
    """Record until EOF and append the ``transcript.closed`` record (the forked child)."""
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        sha, size, error = copy_fifo(args.fifo, OUT_FD)
    except (OSError, _Stop) as exc:
        sha, size, error = hashlib.sha256().hexdigest(), 0, f"recorder failed: {exc}"
    finally:
        with contextlib.suppress(OSError):
            os.close(OUT_FD)
        with contextlib.suppress(OSError):
            os.unlink(args.fifo)
        with contextlib.suppress(OSError):
            os.rmdir(Path(args.fifo).parent)
    details: dict[str, object] = {"path": args.out, "sha256": sha, "bytes": size}
    if error is not None:
        details["error"] = error
    audit = Audit(
        Ledger(args.ledger),
        args.host,
        actor_from_json(msgspec.json.decode(args.actor)),
        args.correlation,
    )
    try:
        audit.event(
            "transcript.closed",
            {"session": args.session},
            "error" if error else "ok",
            details,
        )
    except AtollError:
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parse(sys.argv[1:] if argv is None else argv)
        actor = msgspec.json.decode(args.actor)
        if not isinstance(actor, dict):
            raise ValueError("--actor must be a JSON object")
        actor_from_json(actor)
    except (SystemExit, ValueError, msgspec.DecodeError):
        return 2
    pid = os.fork()
    if pid:
        os.write(STATUS_FD, f"{pid}\n".encode())
        return 0
    os.close(STATUS_FD)
    os.setsid()
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
