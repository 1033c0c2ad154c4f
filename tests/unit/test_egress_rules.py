"""The egress decision rules (atoll.core.egress): spellings, allow entries, address verdicts,
request heads. Table-driven, plus hypothesis for the parsers of what an island sends."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atoll.core.egress import (
    Allow,
    EgressRefused,
    address_refusal,
    match_allow,
    narrow,
    parse_allow,
    parse_allow_list,
    parse_host,
    parse_request_head,
    plan_request,
)
from atoll.core.errors import PermissionDeniedError, UsageError


@pytest.mark.parametrize(("text", "want"), [
    ("api.openai.com", Allow("api.openai.com", 443)),
    ("API.OpenAI.com.", Allow("api.openai.com", 443)),
    ("deb.debian.org:80", Allow("deb.debian.org", 80)),
    ("10.213.4.2:8080", Allow("10.213.4.2", 8080)),
    ("[2001:db8::1]:443", Allow("2001:db8::1", 443)),
    ("[2001:DB8:0::1]", Allow("2001:db8::1", 443)),
])
def test_allow_entries_parse_to_their_canonical_form(text: str, want: Allow) -> None:
    assert parse_allow(text) == want


@pytest.mark.parametrize("text", [
    "2130706433",  # decimal 127.0.0.1
    "0177.0.0.1",  # octal
    "0x7f.0.0.1", "0x7f000001",  # hex
    "127.1",  # short form
    "017700000001",
    "127.000.000.001",  # leading zeros
    "256.1.1.1",
    "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::127.0.0.1]",  # IPv4 in IPv6
    "[fe80::1%eth0]",
    "user@example.com", "example.com:0", "example.com:65536", "example.com:+80",
    "example.com:080", "exa mple.com", "-bad.com", "bad-.com", "a..b", "",
    "例え.jp", "example.com:443:1",
])
def test_numeric_and_odd_spellings_are_refused(text: str) -> None:
    with pytest.raises(UsageError):
        parse_allow(text)


def test_an_allow_list_is_sorted_and_deduplicated() -> None:
    got = parse_allow_list(["b.example.com", "a.example.com:443", "A.example.com"])
    assert got == (Allow("a.example.com"), Allow("b.example.com"))


def test_policy_only_narrows() -> None:
    asked = parse_allow_list(["api.example.com", "mirror.example.com:80"])
    assert narrow(asked, None) == asked
    assert narrow(asked[:1], asked) == asked[:1]
    with pytest.raises(PermissionDeniedError):
        narrow(asked, parse_allow_list(["api.example.com"]))
    with pytest.raises(PermissionDeniedError):  # same host, other port: not covered
        narrow(parse_allow_list(["api.example.com:8443"]), asked)


def test_a_name_is_allowed_only_with_its_exact_port() -> None:
    rules = parse_allow_list(["api.example.com", "mirror.example.com:80"])
    assert match_allow("api.example.com", 443, rules) == Allow("api.example.com")
    assert match_allow("api.example.com", 80, rules) is None
    assert match_allow("sub.api.example.com", 443, rules) is None
    assert match_allow("example.com", 443, rules) is None


NAME = Allow("api.example.com")


@pytest.mark.parametrize(("address", "why"), [
    ("127.0.0.1", "loopback"), ("127.9.9.9", "loopback"), ("::1", "loopback"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("169.254.169.254", "metadata"), ("fd00:ec2::254", "metadata"),
    ("100.100.100.200", "metadata"),
    ("169.254.1.1", "link-local"), ("fe80::1", "link-local"),
    ("::ffff:127.0.0.1", "IPv4-mapped"), ("::ffff:10.0.0.1", "IPv4-mapped"),
    ("224.0.0.1", "multicast"), ("240.0.0.1", "reserved"),
    ("2002:7f00:1::", "6to4"),
])
def test_special_addresses_are_refused_for_names(address: str, why: str) -> None:
    reason = address_refusal(address, NAME)
    assert reason is not None and why.lower() in reason.lower()


def test_own_addresses_are_refused_unless_allowed_exactly() -> None:
    own = ["10.213.7.1", "fe80::1%eth0"]
    assert address_refusal("10.213.7.1", NAME, own) == "one of this host's own addresses"
    assert address_refusal("10.213.7.1", Allow("10.213.7.1", 443), own) is None
    assert address_refusal("127.0.0.1", Allow("127.0.0.1", 8080)) is None
    assert address_refusal("93.184.216.34", NAME, own) is None


@settings(max_examples=2000)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_every_ipv4_address_in_another_spelling_is_refused(n: int) -> None:
    # the spellings inet_aton(3) accepts besides dotted quad
    for text in (str(n), hex(n), "0" + oct(n)[2:]):
        if text == str(ipaddress.IPv4Address(n)):
            continue
        with pytest.raises(UsageError):
            parse_host(text)


def _head(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_connect_is_planned_as_a_tunnel() -> None:
    plan = plan_request(parse_request_head(_head(["CONNECT api.example.com:443 HTTP/1.1",
                                                  "Host: api.example.com:443"])))
    assert (plan.kind, plan.host, plan.port) == ("connect", "api.example.com", 443)


def test_plain_http_uses_the_request_authority_and_rewrites_to_origin_form() -> None:
    plan = plan_request(parse_request_head(_head([
        "GET http://mirror.example.com/debian/dists?x=1 HTTP/1.1",
        "Host: mirror.example.com", "Proxy-Connection: keep-alive",
        "Proxy-Authorization: Basic eA==", "Accept: */*"])))
    assert (plan.kind, plan.host, plan.port) == ("http", "mirror.example.com", 80)
    assert plan.forward.startswith(b"GET /debian/dists?x=1 HTTP/1.1\r\n")
    assert b"Proxy-" not in plan.forward and b"Connection: close\r\n" in plan.forward
    assert b"Accept: */*\r\n" in plan.forward


@pytest.mark.parametrize("lines", [
    ["GET http://allowed.example.com/ HTTP/1.1", "Host: evil.example.com"],
    ["GET http://allowed.example.com/ HTTP/1.1", "Host: allowed.example.com:8080"],
    ["GET http://allowed.example.com/ HTTP/1.1"],
    ["GET http://allowed.example.com/ HTTP/1.1", "Host: allowed.example.com",
     "Host: evil.example.com"],
    ["GET http://allowed.example.com@evil.example.com/ HTTP/1.1", "Host: evil.example.com"],
    ["GET http://user:pw@allowed.example.com/ HTTP/1.1", "Host: allowed.example.com"],
    ["GET /relative HTTP/1.1", "Host: allowed.example.com"],
    ["GET https://allowed.example.com/ HTTP/1.1", "Host: allowed.example.com"],
    ["CONNECT allowed.example.com HTTP/1.1"],
    ["CONNECT 2130706433:443 HTTP/1.1"],
    ["CONNECT 0177.0.0.1:443 HTTP/1.1"],
    ["CONNECT [::ffff:127.0.0.1]:443 HTTP/1.1"],
    ["POST http://a.example.com/ HTTP/1.1", "Host: a.example.com", "Content-Length: 3",
     "Transfer-Encoding: chunked"],
    ["POST http://a.example.com/ HTTP/1.1", "Host: a.example.com", "Content-Length: 3",
     "Content-Length: 4"],
])
def test_host_tricks_and_bad_targets_are_refused(lines: list[str]) -> None:
    with pytest.raises(EgressRefused):
        plan_request(parse_request_head(_head(lines)))


@pytest.mark.parametrize("data", [
    b"GET http://a.example.com/ HTTP/1.1\nHost: a.example.com\n\n",
    b"GET http://a.example.com/ HTTP/2.0\r\nHost: a.example.com\r\n\r\n",
    b"GET  http://a.example.com/ HTTP/1.1\r\n\r\n",
    b"GET http://a.example.com/\x01 HTTP/1.1\r\n\r\n",
    b"GET http://a.example.com/ HTTP/1.1\r\n folded\r\n\r\n",
    b"GET http://a.example.com/ HTTP/1.1\r\nX: a\x00b\r\n\r\n",
    b"GET http://a.example.com/ HTTP/1.1\r\n" + b"X: y\r\n" * 101 + b"\r\n",
])
def test_malformed_heads_are_refused(data: bytes) -> None:
    with pytest.raises(EgressRefused):
        parse_request_head(data)


@settings(max_examples=10_000)
@given(st.binary(max_size=600))
def test_any_bytes_parse_or_are_refused_cleanly(data: bytes) -> None:
    for head in (data, data + b"\r\n\r\n", b"CONNECT " + data + b" HTTP/1.1\r\n\r\n"):
        try:
            plan = plan_request(parse_request_head(head))
        except EgressRefused as exc:
            assert 400 <= exc.status < 500
            continue
        # whatever passed names a canonical host the allow-list could match
        assert parse_host(plan.host if ":" not in plan.host else f"[{plan.host}]") in (
            plan.host, plan.host.lower())
        assert 1 <= plan.port <= 65535


@settings(max_examples=10_000)
@given(st.text(max_size=80))
def test_any_host_text_parses_canonically_or_is_refused(text: str) -> None:
    try:
        host = parse_host(text)
    except UsageError:
        return
    # a canonical host is its own canonical form, and never a numeric spelling of an
    # address other than dotted quad / IPv6
    wrapped = f"[{host}]" if ":" in host else host
    assert parse_host(wrapped) == host
    try:
        ipaddress.ip_address(host)
    except ValueError:
        assert host[-1] != "." and host.rsplit(".", 1)[-1][0].isalpha()
