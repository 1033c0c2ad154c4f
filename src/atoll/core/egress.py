"""Egress rules, the pure part: allow-list entries, request heads, and address verdicts.

An island with an allow-list has no network of its own; its only way out is atoll's egress
proxy (:mod:`atoll.service.egress`), which asks these functions what to do:

1. :func:`parse_request_head` reads the first request on a connection (bounded:
   :data:`MAX_HEAD_BYTES`, :data:`MAX_HEADERS`), and :func:`plan_request` turns it into a
   :class:`Plan`: ``CONNECT host:port`` (a tunnel, for HTTPS) or an absolute-form
   ``http://`` request (forwarded). For plain HTTP the authority of the request target is
   the destination; a ``Host`` header that names anything else, a second ``Host``, userinfo
   (``http://allowed@other/``), or both ``Content-Length`` and ``Transfer-Encoding`` (request
   smuggling, RFC 9112 section 6.1) are refused;
2. :func:`match_allow` decides on the *name*: the destination must equal an
   :class:`Allow` entry (host and port, exactly; no wildcards);
3. the proxy resolves the name itself and :func:`address_refusal` decides on each
   *address* it would connect to: loopback, unspecified, link-local, multicast, reserved,
   cloud metadata (:data:`METADATA`), IPv4-mapped/compatible IPv6, and the host's own
   addresses are refused unless the entry allowed that exact address. The proxy then
   connects to the checked address, never to the name (no second resolution: DNS rebinding).

Spellings (:func:`parse_host`): a host is a lower-case ASCII DNS name whose last label
starts with a letter (so ``2130706433``, ``0177.0.0.1``, ``0x7f.1`` and ``127.1``, which
``inet_aton`` would read as addresses, are refused), a dotted-quad IPv4 address in its
canonical form (no leading zeros), or an IPv6 address in brackets. Ports are 1-65535; an
allow entry without one means 443.

Nothing here does I/O.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from atoll.core.errors import PermissionDeniedError, UsageError

DEFAULT_PORT = 443
HTTP_PORT = 80
MAX_HEAD_BYTES = 16 * 1024
MAX_HEADERS = 100
MAX_CONNECTIONS = 64
"""Concurrent connections one island's proxy serves; more are refused (flood bound)."""
MAX_ALLOW = 256

METADATA: frozenset[ipaddress.IPv4Address | ipaddress.IPv6Address] = frozenset({
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
    ipaddress.ip_address("fd00:ec2::254"),  # AWS IMDS over IPv6
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
})

_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_QUAD_RE = re.compile(r"(?:0|[1-9][0-9]{0,2})(?:\.(?:0|[1-9][0-9]{0,2})){3}")
_PORT_RE = re.compile(r"[1-9][0-9]{0,4}")
_TOKEN_RE = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_METHOD_RE = re.compile(rb"[A-Z]{1,16}")
_VERSION_RE = re.compile(rb"HTTP/1\.[01]")
_HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-connection", "proxy-authorization",
    "proxy-authenticate", "te", "trailer", "upgrade",
})

IP = ipaddress.IPv4Address | ipaddress.IPv6Address


class EgressRefused(Exception):
    """A request the proxy refuses; ``status`` is the HTTP status it answers with."""

    def __init__(self, reason: str, status: int = 403) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True, order=True)
class Allow:
    """One allow-list entry: ``host`` (canonical, see :func:`parse_host`) and ``port``."""

    host: str
    port: int = DEFAULT_PORT

    def text(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def address(self) -> IP | None:
        """The address this entry names literally, or None for a DNS name."""
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None


def parse_host(text: str) -> str:
    """The canonical form of a host (module rules); UsageError for any other spelling."""
    if not text or len(text) > 255:
        raise UsageError(f"invalid host {text[:64]!r}: empty or longer than 255 characters")
    if text.startswith("["):
        if not text.endswith("]"):
            raise UsageError(f"invalid host {text[:64]!r}: unclosed '['")
        try:
            v6 = ipaddress.IPv6Address(text[1:-1])
        except ValueError as exc:
            raise UsageError(f"invalid IPv6 address {text[:64]!r}") from exc
        if v6.ipv4_mapped is not None or (v6.packed[:12] == bytes(12) and int(v6) > 1):
            raise UsageError(f"{text[:64]!r}: IPv4 inside IPv6 is refused; write the IPv4 "
                             "address itself")
        if v6.scope_id:
            raise UsageError(f"{text[:64]!r}: scoped IPv6 addresses are refused")
        return v6.compressed
    if _QUAD_RE.fullmatch(text):
        parts = [int(p) for p in text.split(".")]
        if max(parts) > 255:
            raise UsageError(f"invalid IPv4 address {text!r}")
        return text
    name = text[:-1] if text.endswith(".") else text
    if not name.isascii():
        raise UsageError(f"host {text[:64]!r} is not ASCII: write its IDNA form (xn--...)")
    name = name.lower()
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL_RE.fullmatch(label) for label in labels):
        raise UsageError(f"invalid host name {text[:64]!r}")
    if not labels[-1][0].isalpha():
        raise UsageError(
            f"host {text[:64]!r} reads as a numeric address spelling (decimal, octal, hex or "
            "short form): write the address in dotted-quad form, or use a name"
        )
    return name


def parse_port(text: str) -> int:
    """A port 1-65535 written in plain decimal (no sign, no leading zero)."""
    if not _PORT_RE.fullmatch(text) or int(text) > 65535:
        raise UsageError(f"invalid port {text[:16]!r}: use 1-65535")
    return int(text)


def split_authority(text: str, default_port: int | None) -> tuple[str, int]:
    """``(host, port)`` of ``HOST[:PORT]`` or ``[V6][:PORT]``; ``default_port`` None makes the
    port required. Userinfo (``@``) is refused. UsageError for anything else."""
    if "@" in text:
        raise UsageError(f"{text[:64]!r}: userinfo ('@') is refused")
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise UsageError(f"invalid authority {text[:64]!r}: unclosed '['")
        host_text, rest = text[:end + 1], text[end + 1:]
        if rest and not rest.startswith(":"):
            raise UsageError(f"invalid authority {text[:64]!r}")
        port_text = rest[1:] if rest else None
    elif ":" in text:
        host_text, _, port_text = text.partition(":")
    else:
        host_text, port_text = text, None
    if port_text is None:
        if default_port is None:
            raise UsageError(f"{text[:64]!r}: a port is required (HOST:PORT)")
        port = default_port
    else:
        port = parse_port(port_text)
    return parse_host(host_text), port


def parse_allow(text: str) -> Allow:
    """An allow-list entry from ``HOST[:PORT]`` (port 443 when omitted)."""
    host, port = split_authority(text.strip(), DEFAULT_PORT)
    return Allow(host, port)


def parse_allow_list(items: Iterable[str]) -> tuple[Allow, ...]:
    """Sorted, de-duplicated entries; UsageError for a bad one or more than MAX_ALLOW."""
    out = sorted({parse_allow(item) for item in items})
    if len(out) > MAX_ALLOW:
        raise UsageError(f"at most {MAX_ALLOW} allow entries")
    return tuple(out)


def narrow(asked: Iterable[Allow], policy: Iterable[Allow] | None) -> tuple[Allow, ...]:
    """``asked``, checked against the host policy's ``allow`` list (None: no policy list).

    Policy only narrows: an entry the policy does not list exactly is refused with
    PermissionDeniedError (exit 4), never silently dropped.
    """
    asked = tuple(asked)
    if policy is None:
        return asked
    permitted = set(policy)
    for entry in asked:
        if entry not in permitted:
            raise PermissionDeniedError(
                f"host policy does not allow egress to {entry.text()} "
                "(/etc/atoll/policy.toml, allow)"
            )
    return asked


def match_allow(host: str, port: int, rules: Iterable[Allow]) -> Allow | None:
    """The entry that allows ``host`` (canonical) on ``port``, or None."""
    for rule in rules:
        if rule.host == host and rule.port == port:
            return rule
    return None


def address_refusal(address: str, rule: Allow, own: Iterable[str] = ()) -> str | None:
    """Why the proxy must not connect to ``address`` for ``rule``, or None when it may.

    ``address`` is what the proxy's resolver returned (text); ``own`` the host's own
    interface addresses. An entry that names this exact address allows it whatever it is.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"unparsable address {address[:64]!r}"
    if rule.address is not None and rule.address == ip and "%" not in address:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None or (ip.packed[:12] == bytes(12) and int(ip) > 1):
            return "IPv4-mapped IPv6 address"
        if ip.sixtofour is not None or ip.teredo is not None:
            return "IPv4 tunnelled in IPv6 (6to4/Teredo)"
    if ip in METADATA:
        return "cloud metadata address"
    for what, flag in (("loopback", ip.is_loopback), ("unspecified", ip.is_unspecified),
                       ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
                       ("reserved", ip.is_reserved)):
        if flag:
            return f"{what} address"
    for text in own:
        try:
            if ipaddress.ip_address(text.split("%", 1)[0]) == ip:
                return "one of this host's own addresses"
        except ValueError:
            continue
    return None


@dataclass(frozen=True)
class RequestHead:
    """The first request of a connection: method, target, version, headers in order
    (names as sent, values stripped)."""

    method: str
    target: str
    version: str
    headers: tuple[tuple[str, str], ...]

    def values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name]


@dataclass(frozen=True)
class Plan:
    """What to do with a request: ``kind`` ``connect`` (answer 200, then tunnel) or
    ``http`` (send ``forward`` to the origin, then relay); ``host`` canonical, ``port``."""

    kind: Literal["connect", "http"]
    host: str
    port: int
    forward: bytes = b""


def parse_request_head(data: bytes) -> RequestHead:
    """Parse a request head (``data`` up to and including the blank line, CRLF line ends).

    Raises EgressRefused (400) for anything RFC 9112 does not allow or over the bounds.
    """
    if len(data) > MAX_HEAD_BYTES:
        raise EgressRefused("request head too large", 431)
    if not data.endswith(b"\r\n\r\n"):
        raise EgressRefused("request head not terminated by CRLF CRLF", 400)
    lines = data[:-4].split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not _METHOD_RE.fullmatch(parts[0]) \
            or not _VERSION_RE.fullmatch(parts[2]) or not parts[1]:
        raise EgressRefused("malformed request line", 400)
    if any(b < 0x21 or b > 0x7E for b in parts[1]):
        raise EgressRefused("request target holds control or non-ASCII bytes", 400)
    if len(lines) - 1 > MAX_HEADERS:
        raise EgressRefused("too many header fields", 431)
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN_RE.fullmatch(name):
            raise EgressRefused("malformed header field", 400)
        if any((b < 0x20 and b != 0x09) or b == 0x7F for b in value) or b"\r" in value:
            raise EgressRefused("control bytes in a header value", 400)
        headers.append((name.decode("ascii"), value.strip(b" \t").decode("latin-1")))
    return RequestHead(parts[0].decode(), parts[1].decode("ascii"), parts[2].decode(),
                       tuple(headers))


def plan_request(head: RequestHead) -> Plan:
    """The :class:`Plan` of a parsed head; EgressRefused for what the module refuses."""
    try:
        if head.method == "CONNECT":
            host, port = split_authority(head.target, None)
            return Plan("connect", host, port)
        if not head.target.lower().startswith("http://"):
            raise EgressRefused("only CONNECT and absolute http:// requests are proxied", 400)
        rest = head.target[len("http://"):]
        cut = min([i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0],
                  default=len(rest))
        authority, path = rest[:cut], rest[cut:]
        if "#" in path:
            raise EgressRefused("a fragment in the request target", 400)
        host, port = split_authority(authority, HTTP_PORT)
        hosts = head.values("host")
        if len(hosts) != 1:
            raise EgressRefused("exactly one Host header is required", 400)
        if split_authority(hosts[0], HTTP_PORT) != (host, port):
            raise EgressRefused("the Host header names another host than the request", 400)
    except UsageError as exc:
        raise EgressRefused(str(exc), 400) from exc
    if head.values("transfer-encoding") and head.values("content-length"):
        raise EgressRefused("both Content-Length and Transfer-Encoding", 400)
    if len(set(head.values("content-length"))) > 1:
        raise EgressRefused("conflicting Content-Length headers", 400)
    origin = path if path.startswith("/") else "/" + path
    out = [f"{head.method} {origin} {head.version}".encode()]
    for name, value in head.headers:
        if name.lower() not in _HOP_BY_HOP:
            out.append(f"{name}: {value}".encode("latin-1"))
    out.append(b"Connection: close")
    return Plan("http", host, port, b"\r\n".join(out) + b"\r\n\r\n")


def refusal_response(status: int, reason: str) -> bytes:
    """A short ``HTTP/1.1`` error response the proxy answers a refused request with."""
    titles = {400: "Bad Request", 403: "Forbidden", 431: "Request Header Fields Too Large",
              502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
    body = f"atoll egress: {reason}\n".encode("ascii", "replace")
    return (f"HTTP/1.1 {status} {titles.get(status, 'Error')}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
