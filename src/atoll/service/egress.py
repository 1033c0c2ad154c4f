"""The egress proxy of one island: the island's only way to the network.

It runs as the operator, on the operator's side of the boundary, and listens on a Unix
socket that is bound into that island alone (:mod:`atoll.service.egressctl` places it).
Per connection (decision rules: :mod:`atoll.core.egress`):

1. the peer's uid (``SO_PEERCRED``) must be the island's (the agent user of a bwrap island,
   uid 1000 of a container), else the connection is closed unanswered;
2. at most :data:`~atoll.core.egress.MAX_CONNECTIONS` connections are served at once; one
   over that bound is answered 503 before anything is read or resolved (a flood costs one
   accept each, and is not written to the ledger one line per connection);
3. the request head is read (bounded in size and time) and planned: refused requests,
   names off the allow-list and refused addresses get a ``crossing.egress`` record with
   outcome ``denied`` and ``allowed: false``, then a 4xx answer;
4. an allowed name is resolved *here* (``getaddrinfo``); every address is checked, and the
   name is refused when any of them is refused; the first checked address is the one
   connected to (by address, so a second lookup cannot rebind it);
5. before connecting, the ``intent`` record (``host``, ``port``, ``allowed: true``,
   ``address``) must be durable: a ledger that cannot be written answers 503 and nothing
   leaves (fail closed);
6. bytes are relayed both ways; on close an ``ok`` (or ``error``) record carries
   ``bytes_up`` (island to host), ``bytes_down``, ``duration_s`` and the intent's seq.

Ledger appends run on one worker thread so that a slow fsync does not stall the other
connections' relays.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from atoll.core.egress import (
    MAX_CONNECTIONS,
    MAX_HEAD_BYTES,
    Allow,
    EgressRefused,
    Plan,
    address_refusal,
    match_allow,
    parse_request_head,
    plan_request,
    refusal_response,
)
from atoll.core.errors import AtollError

HEAD_TIMEOUT = 15.0
CONNECT_TIMEOUT = 10.0
RESOLVE_TIMEOUT = 10.0
CHUNK = 64 * 1024

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``resolver(host, port)``: the addresses of ``host`` (text); default ``getaddrinfo``."""

Record = Callable[[str, dict[str, object], str | None], dict[str, object]]
"""``record(outcome, details, correlation)``: append one ``crossing.egress`` record, return it
as stored; raises when the ledger cannot be written."""


@dataclass
class EgressProxy:
    """The proxy of one island. ``target``: the ledger target (island id, kind, owner);
    ``rules``: the allow-list; ``peer_uid``: the only uid that may connect (None: any,
    for tests of the rules alone); ``own``: this host's addresses; ``record``: see
    :data:`Record`."""

    target: dict[str, str]
    rules: tuple[Allow, ...]
    record: Record
    peer_uid: int | None = None
    own: frozenset[str] = frozenset()
    max_connections: int = MAX_CONNECTIONS
    resolver: Resolver | None = None
    active: int = 0
    refused_over_bound: int = 0
    _ledger: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger"))

    async def _write(self, outcome: str, details: dict[str, object],
                     correlation: str | None) -> dict[str, object]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._ledger, self.record, outcome, details,
                                          correlation)

    async def serve_unix(self, path: str) -> asyncio.Server:
        """Listen on ``path`` (created 0666; access is decided by the directories above it
        and by the peer uid check)."""
        server = await asyncio.start_unix_server(self.handle, path=path,
                                                 limit=MAX_HEAD_BYTES + 1)
        return server

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one client connection (never raises)."""
        try:
            if not self._peer_ok(writer):
                return
            if self.active >= self.max_connections:
                self.refused_over_bound += 1
                writer.write(refusal_response(503, "too many connections"))
                await writer.drain()
                return
            self.active += 1
            try:
                await self._serve(reader, writer)
            finally:
                self.active -= 1
        except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                AtollError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError, asyncio.TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 5)

    def _peer_ok(self, writer: asyncio.StreamWriter) -> bool:
        if self.peer_uid is None:
            return True
        sock = writer.get_extra_info("socket")
        if sock is None or sock.family != socket.AF_UNIX:
            return False
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", raw)
        return bool(uid == self.peer_uid)

    async def _deny(self, writer: asyncio.StreamWriter, host: str | None, port: int | None,
                    reason: str, status: int, address: str | None = None) -> None:
        from atoll.ledger.audit import new_correlation_id

        details: dict[str, object] = {"host": host, "port": port, "allowed": False,
                                      "address": address, "reason": reason}
        with contextlib.suppress(Exception):  # the refusal stands whether or not it is logged
            await self._write("denied", details, new_correlation_id())
        writer.write(refusal_response(status, reason))
        await writer.drain()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            data = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
        except asyncio.LimitOverrunError:
            await self._deny(writer, None, None, "request head too large", 431)
            return
        try:
            plan = plan_request(parse_request_head(data))
        except EgressRefused as exc:
            await self._deny(writer, None, None, exc.reason, exc.status)
            return
        rule = match_allow(plan.host, plan.port, self.rules)
        if rule is None:
            await self._deny(writer, plan.host, plan.port, "not on the allow-list", 403)
            return
        try:
            address = await self._resolve(plan, rule)
        except EgressRefused as exc:
            await self._deny(writer, plan.host, plan.port, exc.reason, exc.status,
                             getattr(exc, "address", None))
            return
        await self._connect_and_relay(reader, writer, plan, address)

    async def _resolve(self, plan: Plan, rule: Allow) -> str:
        if rule.address is not None:
            candidates = [rule.host]
        else:
            try:
                found = await asyncio.wait_for((self.resolver or getaddrinfo)(
                    plan.host, plan.port), RESOLVE_TIMEOUT)
            except (TimeoutError, OSError) as exc:
                raise EgressRefused(f"cannot resolve {plan.host}", 502) from exc
            candidates = list(dict.fromkeys(found))
        if not candidates:
            raise EgressRefused(f"{plan.host} has no address", 502)
        for addr in candidates:
            why = address_refusal(addr, rule, self.own)
            if why is not None:
                err = EgressRefused(f"{plan.host} resolves to {addr}: {why}", 403)
                err.address = addr  # type: ignore[attr-defined]
                raise err
        return candidates[0]

    async def _connect_and_relay(self, reader: asyncio.StreamReader,
                                 writer: asyncio.StreamWriter, plan: Plan,
                                 address: str) -> None:
        from atoll.ledger.audit import new_correlation_id

        correlation = new_correlation_id()
        details: dict[str, object] = {"host": plan.host, "port": plan.port, "allowed": True,
                                      "address": address, "method": plan.kind}
        try:
            intent = await self._write("intent", details, correlation)
        except Exception:
            writer.write(refusal_response(503, "the ledger cannot be written: refused"))
            await writer.drain()
            return
        started = time.monotonic()
        up = down = 0
        error: str | None = None
        try:
            try:
                up_reader, up_writer = await asyncio.wait_for(
                    asyncio.open_connection(address, plan.port, limit=CHUNK), CONNECT_TIMEOUT)
            except (TimeoutError, OSError) as exc:
                error = f"connect to {address}:{plan.port} failed: {type(exc).__name__}"
                writer.write(refusal_response(502, error))
                await writer.drain()
                return
            if plan.kind == "connect":
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await writer.drain()
            else:
                up_writer.write(plan.forward)
                up += len(plan.forward)
            counts = await relay(reader, writer, up_reader, up_writer)
            up += counts[0]
            down += counts[1]
        finally:
            outcome = "error" if error else "ok"
            result: dict[str, object] = {
                "intent": intent["seq"], "host": plan.host, "port": plan.port,
                "address": address, "bytes_up": up, "bytes_down": down,
                "duration_s": round(time.monotonic() - started, 3),
            }
            if error:
                result["error"] = error
            with contextlib.suppress(Exception):
                await self._write(outcome, result, correlation)


async def getaddrinfo(host: str, port: int) -> list[str]:
    """The TCP addresses of ``host`` from the system resolver, in its order."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                up_reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter
                ) -> tuple[int, int]:
    """Copy bytes both ways until both sides are done; ``(bytes up, bytes down)``.
    An end of file on one side is passed on as a half-close to the other."""

    async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> int:
        total = 0
        try:
            while chunk := await src.read(CHUNK):
                total += len(chunk)
                dst.write(chunk)
                await dst.drain()
            if dst.can_write_eof():
                dst.write_eof()
        except (OSError, asyncio.IncompleteReadError):
            dst.close()
        return total

    try:
        sent, got = await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
    finally:
        up_writer.close()
    return sent, got


def host_addresses() -> frozenset[str]:
    """Every address on this host's interfaces (psutil), the proxy's "own" set."""
    import psutil

    out: set[str] = set()
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family in (socket.AF_INET, socket.AF_INET6):
                out.add(a.address.split("%", 1)[0])
    return frozenset(out)


def ledger_recorder(ledger_path: str | None, target: dict[str, str]) -> Record:
    """A :data:`Record` writing ``crossing.egress`` through :mod:`atoll.service.audit`."""
    from atoll.service import audit
    from atoll.service.context import Context

    ctx = Context(ledger_path=ledger_path)

    def record(outcome: str, details: dict[str, object],
               correlation: str | None) -> dict[str, object]:
        return audit.auditor(ctx, correlation).event("crossing.egress", target, outcome,
                                                     details)

    return record


def serve_forever(path: str, proxy: EgressProxy, ready: Callable[[], None] | None = None,
                  stop_signals: Iterable[int] = ()) -> None:
    """Run ``proxy`` on Unix socket ``path`` until one of ``stop_signals`` arrives."""

    async def main() -> None:
        server = await proxy.serve_unix(path)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in stop_signals:
            loop.add_signal_handler(sig, stop.set)
        if ready is not None:
            ready()
        async with server:
            await stop.wait()

    asyncio.run(main())
