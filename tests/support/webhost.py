"""A stand-in web host for the egress tests: an HTTP server in its own network namespace.

:class:`WebHost` makes a netns joined to ours by a veth pair (tests/hosts/harness.py: our
side ``10.213.N.1``, the host ``10.213.N.2``), and runs :data:`SERVER` there (as root, in
the netns only). It answers every GET with ``hello from web``, a POST to ``.../responses`` as a
stand-in model API (the OpenAI Responses stream, one message ``STUB-MODEL-ANSWER-42``) and
every other POST with a JSON echo of what it got, and appends one line per request (method, path, Host) to
``requests.log``, so a test can tell whether anything reached it. A second listener on our
side of the veth (``10.213.N.1``: one of this host's own addresses) plays "the host's other
listeners". Nothing listens outside these addresses.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.hosts.harness import Run, _Net, _proc_key, free_subnets, wait_port

PORT = 8080

SERVER = r'''
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
addr, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
USAGE = {"input_tokens": 1, "input_tokens_details": None, "output_tokens": 1,
         "output_tokens_details": None, "total_tokens": 2}
RESPONSE = [
    ("response.created", {"response": {"id": "resp_1"}}),
    ("response.output_item.done", {"item": {
        "type": "message", "role": "assistant", "id": "msg_1",
        "content": [{"type": "output_text", "text": "STUB-MODEL-ANSWER-42"}]}}),
    ("response.completed", {"response": {"id": "resp_1", "usage": USAGE}}),
]
def _event(kind, fields):
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **fields})}\n\n"
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def _log(self):
        with open(log, "a") as fh:
            fh.write(f"{self.command} {self.path} {self.headers.get('Host')}\n")
    def _send(self, code, body, ctype="text/plain"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        self._log()
        self._send(200, b"hello from web\n")
    def do_POST(self):
        self._log()
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n)
        if self.path.endswith("/responses"):  # a stand-in model API (OpenAI Responses, SSE)
            self._send(200, "".join(_event(*e) for e in RESPONSE).encode(), "text/event-stream")
            return
        self._send(200, json.dumps({"got": len(data)}).encode(), "application/json")
    def log_message(self, *a):
        pass
ThreadingHTTPServer((addr, port), H).serve_forever()
'''


class WebHost:
    """The web host; ``address`` is where it listens (``PORT``), ``own`` our side."""

    def __init__(self, name: str = "web") -> None:
        self.run = Run()
        index = free_subnets(1)[0]
        self.net = _Net(self.run, name, index)
        self.address, self.own = self.net.address, self.net.gateway
        self.log = self.run.dir / "requests.log"
        self.own_log = self.run.dir / "own.log"
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> WebHost:
        self.net.create_net()
        self.log.touch()
        self.own_log.touch()
        for argv in (
            ["ip", "netns", "exec", self.net.netns, "python3", "-c", SERVER, self.address,
             str(PORT), str(self.log)],
            ["python3", "-c", SERVER, self.own, str(PORT), str(self.own_log)],
        ):
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.procs.append(proc)
            key = _proc_key(proc.pid)
            if key is not None:
                self.run.add("procs", key)
        wait_port(self.own, PORT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # reachable from our namespace through the veth
            res = subprocess.run(["python3", "-c", "import socket,sys; socket.create_connection("
                                  "(sys.argv[1], int(sys.argv[2])), 1)", self.address,
                                  str(PORT)], capture_output=True)
            if res.returncode == 0:
                break
            time.sleep(0.1)
        return self

    def requests(self) -> list[str]:
        """The requests that reached the web host so far."""
        return self.log.read_text().splitlines()

    def own_requests(self) -> list[str]:
        return self.own_log.read_text().splitlines()

    def stop(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()
        self.net.destroy_net()
        self.run.cleanup()


def ledger_lines(path: str | os.PathLike[str]) -> list[dict[str, object]]:
    """The records of a ledger file (one JSON object per line)."""
    import json

    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
