"""The egress proxy (atoll.service.egress) against a real web host in a network namespace,
with a real ledger. Heavy (netns): run under /tmp/atoll-heavy.lock.

Names are resolved by a test resolver handed to the proxy (the tests cannot own a DNS
zone); everything else is real: the Unix socket, the connections, the web host, the ledger.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from atoll.core.egress import parse_allow_list
from atoll.service.egress import EgressProxy, host_addresses, ledger_recorder
from tests.support.users import require_root
from tests.support.webhost import PORT, WebHost, ledger_lines


@pytest.fixture(scope="module")
def web() -> Iterator[WebHost]:
    require_root()
    host = WebHost("egw").start()
    yield host
    host.stop()


class Running:
    """A proxy serving on a Unix socket from a thread with its own event loop."""

    def __init__(self, proxy: EgressProxy, path: str) -> None:
        self.proxy, self.path = proxy, path
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        async def main() -> None:
            self.server = await proxy.serve_unix(path)
            started.set()

        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(main(), self.loop).result(10)
        started.wait(10)

    def close(self) -> None:
        async def stop() -> None:
            for _ in range(200):  # let the connections finish (their last ledger record)
                if self.proxy.active == 0:
                    break
                await asyncio.sleep(0.05)
            self.server.close()
            await asyncio.sleep(0.1)

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def make_proxy(tmp_path: Path, web: WebHost, allow: list[str], *, ledger: str | None = None,
               answers: dict[str, list[list[str]]] | None = None,
               **kw: object) -> tuple[Running, str]:
    ledger_path = ledger or str(tmp_path / "ledger.jsonl")
    target = {"island": "test-island", "kind": "bwrap", "owner": "root"}
    queue = {k: list(v) for k, v in (answers or {}).items()}

    async def resolve(host: str, port: int) -> list[str]:
        if host not in queue or not queue[host]:
            raise OSError("no such name")
        return queue[host].pop(0) if len(queue[host]) > 1 else queue[host][0]

    proxy = EgressProxy(target=target, rules=parse_allow_list(allow),
                        record=ledger_recorder(ledger_path, target), own=host_addresses(),
                        resolver=resolve, **kw)  # type: ignore[arg-type]
    path = str(tmp_path / "proxy.sock")
    return Running(proxy, path), ledger_path


def ask(path: str, head: str, body: bytes = b"") -> bytes:
    """Send one request head (+ body) through the proxy and read until it closes."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(path)
    s.sendall(head.encode() + body)
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    s.close()
    return out


def tunnel(path: str, authority: str, payload: bytes) -> bytes:
    """CONNECT to ``authority``; on 200, send ``payload`` through the tunnel."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(path)
    s.sendall(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
    first = s.recv(65536)
    if not first.startswith(b"HTTP/1.1 200"):
        s.close()
        return first
    s.sendall(payload)
    out = first
    while chunk := s.recv(65536):
        out += chunk
    s.close()
    return out


def egress_records(ledger: str) -> list[dict[str, object]]:
    return [r for r in ledger_lines(ledger) if r["action"] == "crossing.egress"]


def test_connect_to_an_allowed_address_is_relayed_and_recorded_before_and_after(
        tmp_path: Path, web: WebHost) -> None:
    run, ledger = make_proxy(tmp_path, web, [f"{web.address}:{PORT}"])
    try:
        before = len(web.requests())
        out = tunnel(run.path, f"{web.address}:{PORT}",
                     f"GET /via-tunnel HTTP/1.1\r\nHost: {web.address}\r\n\r\n".encode())
    finally:
        run.close()
    assert b"hello from web" in out
    assert web.requests()[before:] == [f"GET /via-tunnel {web.address}"]
    recs = egress_records(ledger)
    assert [r["outcome"] for r in recs] == ["intent", "ok"]
    intent, done = recs
    assert intent["details"] == {"host": web.address, "port": PORT, "allowed": True,
                                 "address": web.address, "method": "connect"}
    details = done["details"]
    assert isinstance(details, dict)
    assert details["intent"] == intent["seq"] and details["bytes_up"] > 0
    assert details["bytes_down"] > len("hello from web")
    assert details["duration_s"] >= 0
    assert intent["target"]["island"] == "test-island"  # type: ignore[index]


def test_a_host_off_the_list_is_refused_and_recorded_as_not_allowed(
        tmp_path: Path, web: WebHost) -> None:
    run, ledger = make_proxy(tmp_path, web, ["api.example.com"],
                             answers={"api.example.com": [[web.address]]})
    try:
        before = len(web.requests())
        out = tunnel(run.path, f"{web.address}:{PORT}", b"")
        out2 = tunnel(run.path, "other.example.com:443", b"")
    finally:
        run.close()
    assert out.startswith(b"HTTP/1.1 403") and out2.startswith(b"HTTP/1.1 403")
    assert web.requests()[before:] == []
    recs = egress_records(ledger)
    assert [(r["outcome"], r["details"]["allowed"], r["details"]["host"])  # type: ignore[index]
            for r in recs] == [("denied", False, web.address),
                               ("denied", False, "other.example.com")]


@pytest.mark.parametrize(("answer", "why"), [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("0.0.0.0", "unspecified"),
    ("169.254.169.254", "metadata"), ("fd00:ec2::254", "metadata"),
    ("::ffff:10.213.1.2", "IPv4-mapped"), ("169.254.3.3", "link-local"),
])
def test_a_name_resolving_to_a_special_address_is_refused(
        tmp_path: Path, web: WebHost, answer: str, why: str) -> None:
    run, ledger = make_proxy(tmp_path, web, ["api.example.com"],
                             answers={"api.example.com": [[answer]]})
    try:
        out = tunnel(run.path, "api.example.com:443", b"")
    finally:
        run.close()
    assert out.startswith(b"HTTP/1.1 403") and why.encode() in out
    (rec,) = egress_records(ledger)
    assert rec["outcome"] == "denied" and rec["details"]["address"] == answer  # type: ignore[index]


def test_the_hosts_own_listeners_are_refused_unless_allowed_by_exact_address(
        tmp_path: Path, web: WebHost) -> None:
    run, _ledger = make_proxy(tmp_path, web, [f"own.example.com:{PORT}"],
                              answers={"own.example.com": [[web.own]]})
    try:
        before = len(web.own_requests())
        refused = tunnel(run.path, f"own.example.com:{PORT}",
                         b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    finally:
        run.close()
    assert refused.startswith(b"HTTP/1.1 403") and b"own addresses" in refused
    assert web.own_requests()[before:] == []
    run, _ledger = make_proxy(tmp_path / "b" if (tmp_path / "b").mkdir() is None else tmp_path,
                              web, [f"{web.own}:{PORT}"])
    try:
        allowed = tunnel(run.path, f"{web.own}:{PORT}",
                         f"GET /own HTTP/1.1\r\nHost: {web.own}\r\n\r\n".encode())
    finally:
        run.close()
    assert b"hello from web" in allowed


def test_rebinding_is_checked_on_every_connection_and_the_checked_address_is_used(
        tmp_path: Path, web: WebHost) -> None:
    run, ledger = make_proxy(tmp_path, web, [f"rebind.example.com:{PORT}"],
                             answers={"rebind.example.com": [[web.address], ["127.0.0.1"]]})
    try:
        before = len(web.requests())
        first = tunnel(run.path, f"rebind.example.com:{PORT}",
                       b"GET /first HTTP/1.1\r\nHost: rebind.example.com\r\n\r\n")
        second = tunnel(run.path, f"rebind.example.com:{PORT}",
                        b"GET /second HTTP/1.1\r\nHost: rebind.example.com\r\n\r\n")
    finally:
        run.close()
    assert b"hello from web" in first and second.startswith(b"HTTP/1.1 403")
    assert web.requests()[before:] == ["GET /first rebind.example.com"]
    recs = egress_records(ledger)
    assert [(r["outcome"], r["details"]["address"]) for r in recs] == [  # type: ignore[index]
        ("intent", web.address), ("ok", web.address), ("denied", "127.0.0.1")]


def test_a_mixed_answer_with_one_refused_address_is_refused(
        tmp_path: Path, web: WebHost) -> None:
    run, _ = make_proxy(tmp_path, web, [f"mixed.example.com:{PORT}"],
                        answers={"mixed.example.com": [[web.address, "127.0.0.1"]]})
    try:
        out = tunnel(run.path, f"mixed.example.com:{PORT}", b"")
    finally:
        run.close()
    assert out.startswith(b"HTTP/1.1 403")


@pytest.mark.parametrize("authority", ["2130706433:8080", "0177.0.0.1:8080",
                                       "0x7f.0.0.1:8080", "127.1:8080",
                                       "[::ffff:127.0.0.1]:8080", "user@10.213.1.2:8080"])
def test_numeric_spellings_are_refused_before_any_lookup(
        tmp_path: Path, web: WebHost, authority: str) -> None:
    run, ledger = make_proxy(tmp_path, web, ["127.0.0.1:8080"])
    try:
        out = tunnel(run.path, authority, b"")
    finally:
        run.close()
    assert out.startswith(b"HTTP/1.1 400")
    (rec,) = egress_records(ledger)
    assert rec["outcome"] == "denied"


def test_plain_http_goes_to_the_request_authority_and_host_tricks_are_refused(
        tmp_path: Path, web: WebHost) -> None:
    a = f"{web.address}:{PORT}"
    run, _ = make_proxy(tmp_path, web, [a])
    try:
        before = len(web.requests())
        ok = ask(run.path, f"GET http://{a}/plain HTTP/1.1\r\nHost: {a}\r\n\r\n")
        post = ask(run.path, f"POST http://{a}/v1 HTTP/1.1\r\nHost: {a}\r\n"
                   "Content-Length: 5\r\n\r\n", b"hello")
        mismatch = ask(run.path, f"GET http://{a}/x HTTP/1.1\r\nHost: evil.example.com\r\n\r\n")
        userinfo = ask(run.path, f"GET http://{a}@evil.example.com/ HTTP/1.1\r\n"
                       "Host: evil.example.com\r\n\r\n")
    finally:
        run.close()
    assert b"hello from web" in ok and b'{"got": 5}' in post
    assert mismatch.startswith(b"HTTP/1.1 400") and userinfo.startswith(b"HTTP/1.1 400")
    assert web.requests()[before:] == [f"GET /plain {a}", f"POST /v1 {a}"]


def test_an_unwritable_ledger_refuses_the_connection(tmp_path: Path, web: WebHost) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    run, _ = make_proxy(tmp_path, web, [f"{web.address}:{PORT}"],
                        ledger=str(blocker / "ledger.jsonl"))
    try:
        before = len(web.requests())
        out = tunnel(run.path, f"{web.address}:{PORT}",
                     f"GET /x HTTP/1.1\r\nHost: {web.address}\r\n\r\n".encode())
    finally:
        run.close()
    assert out.startswith(b"HTTP/1.1 503") and b"ledger" in out
    assert web.requests()[before:] == []


def test_a_flood_of_connections_is_bounded(tmp_path: Path, web: WebHost) -> None:
    run, _ = make_proxy(tmp_path, web, [f"{web.address}:{PORT}"], max_connections=4)
    held = []
    try:
        for _ in range(4):  # connections that never send a head hold their slots
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(run.path)
            held.append(s)
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0.2), run.loop).result(5)
        extra = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        extra.settimeout(30)
        extra.connect(run.path)
        over = extra.recv(65536)  # answered at once, before it sends anything
        extra.close()
        for s in held:
            s.close()
        held.clear()
        for _ in range(50):
            if run.proxy.active == 0:
                break
            asyncio.run_coroutine_threadsafe(asyncio.sleep(0.1), run.loop).result(5)
        again = tunnel(run.path, f"{web.address}:{PORT}",
                       f"GET / HTTP/1.1\r\nHost: {web.address}\r\n\r\n".encode())
    finally:
        for s in held:
            s.close()
        run.close()
    assert over.startswith(b"HTTP/1.1 503") and b"too many" in over
    assert run.proxy.refused_over_bound == 1
    assert b"hello from web" in again


def test_a_peer_with_another_uid_gets_nothing(tmp_path: Path, web: WebHost) -> None:
    run, ledger = make_proxy(tmp_path, web, [f"{web.address}:{PORT}"],
                             peer_uid=os.getuid() + 4242)
    try:
        try:
            out = tunnel(run.path, f"{web.address}:{PORT}", b"")
        except (ConnectionResetError, BrokenPipeError):  # closed unanswered
            out = b""
    finally:
        run.close()
    assert out == b"" and egress_records(ledger) == []
