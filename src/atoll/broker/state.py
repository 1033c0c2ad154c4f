"""The broker's live grants and the ledger records of every crossing through them.

:class:`Broker` holds the grant table (name -> :class:`LiveGrant`, each with the directory
fd opened when it was added) and writes, for each file opened through a grant:

- ``crossing.read`` (or ``crossing.write``) with outcome ``intent`` **before** the open
  returns, so no byte is served before its record is durable (each append is fsynced,
  :class:`atoll.ledger.store.Ledger`); if that append fails the open fails with EACCES
  (fail closed);
- on release, the same action with outcome ``ok`` and details ``{"intent": SEQ, "bytes":
  N, "sha256": HEX, "in_order": BOOL}``: N bytes served (or written), hashed in the order
  they were served. ``in_order`` is False when reads were not one sequential pass from
  offset 0, in which case the hash is of the bytes as served, not of the file.

A file never closed has only its ``intent`` record until the island's process exits (the
kernel then releases it); if the broker dies first, the ``intent`` stands alone, which
``atoll audit crossings`` shows as ``open``. mmap is not possible on these files: they are
served with direct_io and without FUSE's direct-io-mmap opt-in, so every byte passes
``read``.

Record targets: ``{"island": KEY, "grant": NAME, "path": HOST PATH}``; details carry the
requester's ``uid`` and ``pid`` as the kernel reported them.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from atoll.core.broker import default_grant_name, validate_grant_name
from atoll.core.errors import AtollError, NotFoundError, UsageError
from atoll.core.islands import Grant, parse_grant
from atoll.islands.grants import hold_grant
from atoll.ledger.audit import Audit


@dataclass
class LiveGrant:
    """One live grant: ``path`` on the host, ``fd`` of its directory (held), ``dev`` its
    device; ``since`` (epoch seconds), ``by`` (the actor who granted it, as recorded),
    ``seq`` of its ``grant.add`` record, ``crossings`` opened through it so far."""

    name: str
    path: str
    rw: bool
    fd: int
    dev: int
    since: float
    by: dict[str, Any]
    seq: int | None
    crossings: int = 0
    revoked: bool = False

    def to_json(self, inside_root: str) -> dict[str, Any]:
        return {
            "name": self.name, "path": self.path, "rw": self.rw,
            "inside": f"{inside_root.rstrip('/')}/{self.name}", "since": self.since,
            "by": self.by, "seq": self.seq, "crossings": self.crossings,
        }


@dataclass
class Handle:
    """An open file: its fd, the grant, what it records, and the running hash."""

    fd: int
    grant: LiveGrant
    action: str
    target: dict[str, str]
    intent: int
    digest: Any = field(default_factory=hashlib.sha256)
    size: int = 0
    next_offset: int = 0
    in_order: bool = True
    lock: threading.Lock = field(default_factory=threading.Lock)
    pending: int = 0
    hashed: threading.Condition = field(default_factory=threading.Condition)


OFFLOAD_BYTES = 64 * 1024
"""Chunks this large are hashed by the hasher thread while the next one is served (the
kernel sends a large read as 128 KiB requests one after another; hashing them on the other
core halves the time). Smaller ones are hashed at once."""
MAX_PENDING = 8
"""Chunks of one handle waiting for the hasher, at most (the memory held: 8 x 128 KiB)."""


class Broker:
    """Grant table + handle table + ledger, shared by the FUSE threads and the control
    socket. ``key`` names the island in records; ``inside`` is where the island sees the
    broker's root; ``uids``: the only uids served."""

    def __init__(self, key: str, inside: str, uids: set[int], audit: Audit,
                 home: str | None = None) -> None:
        self.key = key
        self.inside = inside
        self.uids = set(uids)
        self.audit = audit
        self.home = home
        self._grants: dict[str, LiveGrant] = {}
        self._handles: dict[int, Handle] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._hashq: queue.SimpleQueue[tuple[Handle, bytes]] = queue.SimpleQueue()
        threading.Thread(target=self._hash_loop, daemon=True, name="hasher").start()

    def _hash_loop(self) -> None:
        """Hash queued chunks in the order they were served (one thread: per-handle order
        is the queue's order)."""
        while True:
            h, data = self._hashq.get()
            h.digest.update(data)
            with h.hashed:
                h.pending -= 1
                h.hashed.notify_all()

    # -- grants -----------------------------------------------------------------------
    def add(self, text_path: str, rw: bool, name: str | None, by: dict[str, Any],
            seq: int | None) -> LiveGrant:
        """Open and check ``text_path`` (:func:`atoll.islands.grants.hold_grant`: a real
        directory, no symlink on the way, not the operator's home or a secret directory)
        and add it under ``name`` (default: from its last component). UsageError when the
        path or name is refused or taken."""
        grant: Grant = parse_grant(text_path)
        fd = hold_grant(Grant(grant.path, rw), self.home)
        try:
            with self._lock:
                for g in self._grants.values():
                    if g.path == grant.path:
                        raise UsageError(f"{grant.path} is already granted as {g.name!r}")
                if name is None:
                    name = default_grant_name(grant.path, set(self._grants))
                try:
                    validate_grant_name(name)
                except ValueError as exc:
                    raise UsageError(str(exc)) from None
                if name in self._grants:
                    raise UsageError(f"a grant named {name!r} exists")
                live = LiveGrant(name, grant.path, rw, fd, os.fstat(fd).st_dev, time.time(),
                                 by, seq)
                self._grants[name] = live
                return live
        except BaseException:
            os.close(fd)
            raise

    def find(self, name_or_path: str) -> LiveGrant:
        with self._lock:
            for g in self._grants.values():
                if name_or_path in (g.name, g.path, g.path.rstrip("/")):
                    return g
        raise NotFoundError(f"no grant {name_or_path!r}")

    def revoke(self, name_or_path: str) -> LiveGrant:
        """Remove a grant at once: new lookups fail, and reads or writes on files already
        open through it fail with EACCES from now on (the handles stay until released)."""
        g = self.find(name_or_path)
        with self._lock:
            self._grants.pop(g.name, None)
            g.revoked = True
        os.close(g.fd)
        return g

    def grants(self) -> list[LiveGrant]:
        with self._lock:
            return sorted(self._grants.values(), key=lambda g: g.name)

    def get(self, name: str) -> LiveGrant | None:
        with self._lock:
            return self._grants.get(name)

    # -- crossings --------------------------------------------------------------------
    def open_crossing(self, grant: LiveGrant, rel: tuple[str, ...], fd: int, write: bool,
                      uid: int, pid: int) -> int:
        """Record the ``intent`` of a crossing and register the handle; returns its id.
        Raises AtollError (the fd is closed) when the record is not durable."""
        action = "crossing.write" if write else "crossing.read"
        path = "/".join((grant.path.rstrip("/"), *rel)) if rel else grant.path
        target = {"island": self.key, "grant": grant.name, "path": path}
        try:
            rec = self.audit.event(action, target, "intent",
                                   {"uid": uid, "pid": pid, "rw": grant.rw})
        except (AtollError, OSError):
            os.close(fd)
            raise
        seq = rec.get("seq")
        handle = Handle(fd, grant, action, target, int(seq) if isinstance(seq, int) else 0)
        with self._lock:
            grant.crossings += 1
            hid = next(self._ids)
            self._handles[hid] = handle
        return hid

    def handle(self, hid: int) -> Handle:
        with self._lock:
            h = self._handles.get(hid)
        if h is None or h.grant.revoked:
            raise PermissionError("revoked")
        return h

    def served(self, h: Handle, data: bytes, offset: int) -> None:
        """Add ``data`` (served or written at ``offset``) to the handle's count and hash
        (large chunks through the hasher thread, in order; see :data:`OFFLOAD_BYTES`).
        Call with ``h.lock`` held, so chunks of one handle are queued in serving order."""
        if offset != h.next_offset:
            h.in_order = False
        h.size += len(data)
        h.next_offset = offset + len(data)
        with h.hashed:
            if len(data) < OFFLOAD_BYTES and not h.pending:
                h.digest.update(data)
                return
            while h.pending >= MAX_PENDING:
                h.hashed.wait()
            h.pending += 1
        self._hashq.put((h, data))

    def release(self, hid: int) -> None:
        """Close the handle and record the crossing's ``ok`` with bytes and SHA-256."""
        with self._lock:
            h = self._handles.pop(hid, None)
        if h is None:
            return
        with h.hashed:  # every byte served is in the hash before it is recorded
            while h.pending:
                h.hashed.wait()
        os.close(h.fd)
        details = {"intent": h.intent, "bytes": h.size, "sha256": h.digest.hexdigest(),
                   "in_order": h.in_order, "revoked": h.grant.revoked}
        try:
            self.audit.event(h.action, h.target, "ok", details)
        except AtollError as exc:  # the bytes have crossed: say so where it can be seen
            os.write(2, f"atoll broker: release record not written: {exc}\n".encode())

    def close_all(self) -> None:
        with self._lock:
            hids = list(self._handles)
        for hid in hids:
            self.release(hid)
        with self._lock:
            for g in self._grants.values():
                os.close(g.fd)
            self._grants.clear()
