"""``python -m atoll.cli.egress_serve``: the egress proxy process of one island.

Started detached by :func:`atoll.islands.egress.start_proxy` (never by hand)::

    python -m atoll.cli.egress_serve --dir DIR --island ID --kind KIND --owner USER [--key ISLAND]
        [--allow HOST:PORT]... [--peer-uid UID] [--ledger PATH]

It listens on ``DIR/proxy.sock``, writes ``DIR/proxy.pid`` once it does, and serves until
SIGTERM or SIGINT (:mod:`atoll.service.egress` says what it does per connection). Bad
arguments exit 2 with one line on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import posixpath
import signal
import sys

from atoll.core.egress import parse_allow_list
from atoll.core.errors import AtollError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="atoll-egress-serve")
    parser.add_argument("--dir", required=True)
    parser.add_argument("--island", required=True)
    parser.add_argument("--kind", required=True)
    parser.add_argument("--owner", required=True)
    parser.add_argument("--key", default=None)
    parser.add_argument("--allow", action="append", default=[])
    parser.add_argument("--peer-uid", type=int, default=None)
    parser.add_argument("--ledger", default=None)
    args = parser.parse_args(argv)
    from atoll.islands.egress import PID_NAME, SOCKET_NAME
    from atoll.service.egress import EgressProxy, host_addresses, ledger_recorder, serve_forever

    try:
        rules = parse_allow_list(args.allow)
    except AtollError as exc:
        print(f"atoll: error: {exc}", file=sys.stderr)
        return 2
    target = {"island": args.key or args.island, "island_id": args.island, "kind": args.kind,
              "owner": args.owner}
    proxy = EgressProxy(target=target, rules=rules,
                        record=ledger_recorder(args.ledger, target),
                        peer_uid=args.peer_uid, own=host_addresses())
    sock = posixpath.join(args.dir, SOCKET_NAME)

    def ready() -> None:
        os.chmod(sock, 0o666)  # noqa: S103 -- access: 0711 directories + SO_PEERCRED
        tmp = posixpath.join(args.dir, PID_NAME + ".tmp")
        with open(tmp, "w") as fh:
            fh.write(f"{os.getpid()}\n")
        os.replace(tmp, posixpath.join(args.dir, PID_NAME))
        print(f"atoll egress: serving {args.island} on {sock}", file=sys.stderr, flush=True)

    try:
        serve_forever(sock, proxy, ready, (signal.SIGTERM, signal.SIGINT))
    finally:
        for name in (SOCKET_NAME, PID_NAME):
            with contextlib.suppress(OSError):
                os.unlink(posixpath.join(args.dir, name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
