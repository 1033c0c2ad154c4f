"""The island's end of its egress: a loopback TCP listener that forwards to the proxy socket.

Runs *inside* an island, so it is plain standard-library Python with no atoll import: atoll
passes this file's source to ``python3 -c`` (:func:`atoll.islands.egress.forwarder_argv`)::

    python3 -c SOURCE PORT SOCKET -- CMD ARGS...

It listens on ``127.0.0.1:PORT`` (the address ``HTTPS_PROXY`` names in the island), then
forks: the child forwards each accepted connection to the Unix socket ``SOCKET`` (the
island's proxy, bound in from the operator's side), the parent becomes ``CMD`` (so the
pane's process is the agent itself). When the port is taken, a forwarder of this island
already runs (another session of a shared container): the command is started alone.
At most ``MAX_CLIENTS`` connections are forwarded at once; more are closed.
"""

import contextlib
import errno
import os
import socket
import sys
import threading
from typing import Any

MAX_CLIENTS = 256
CHUNK = 65536


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(CHUNK)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


def _serve_one(client: socket.socket, path: str, slots: Any) -> None:
    try:
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(path)
        except OSError:
            upstream.close()
            return
        back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
        back.start()
        _pump(client, upstream)
        back.join()
        upstream.close()
    finally:
        client.close()
        slots.release()


def serve(listener: socket.socket, path: str) -> None:
    slots = threading.BoundedSemaphore(MAX_CLIENTS)
    while True:
        client, _ = listener.accept()
        if not slots.acquire(blocking=False):
            client.close()
            continue
        threading.Thread(target=_serve_one, args=(client, path, slots), daemon=True).start()


def main(argv: list[str]) -> int:
    port, path = int(argv[0]), argv[1]
    command = argv[3:] if len(argv) > 2 and argv[2] == "--" else argv[2:]
    listener: socket.socket | None = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    assert listener is not None
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("127.0.0.1", port))
        listener.listen(128)
    except OSError as exc:
        listener.close()
        if exc.errno != errno.EADDRINUSE:
            sys.stderr.write(f"atoll egress forwarder: {exc}\n")
        listener = None
    if listener is not None and os.fork() == 0:
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        try:
            serve(listener, path)
        finally:
            os._exit(0)
    if listener is not None:
        listener.close()
    if command:
        os.execvp(command[0], command)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
