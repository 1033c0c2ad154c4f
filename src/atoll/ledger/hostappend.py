"""The host ledger's append command (run by sudo as ``atoll-ledger``; see
:mod:`atoll.ledger.hostledger`).

``sudo -n -u atoll-ledger PYTHON -I -m atoll.ledger.hostappend < record.json``

No arguments; one JSON object of at most MAX_RECORD_BYTES on stdin (``action``, ``outcome``,
``target``, ``details``, ``correlation``); the actor is the uid sudo names in ``SUDO_UID``.
Exit 0 appended, 2 bad input, 4 not run by sudo as the ledger's owner, 1 not written.
Messages are one line on stderr.
"""

from __future__ import annotations

import os
import pwd
import sys

import msgspec

# Every import at the top: `atoll admin init` checks the files of exactly the modules that
# importing this one loads (atoll.ledger.hostledger.untrusted_code).
from atoll.core.errors import AtollError
from atoll.ledger.audit import this_host
from atoll.ledger.hostledger import HOST_LEDGER_PATH, MAX_RECORD_BYTES, host_record
from atoll.ledger.store import Ledger


def _fail(message: str, code: int) -> int:
    sys.stderr.write(f"atoll-ledger-append: {message}\n")
    return code


def _read_stdin(cap: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size <= cap:
        chunk = os.read(0, cap + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def main(argv: list[str], environ: dict[str, str], path: str = HOST_LEDGER_PATH) -> int:
    if argv:
        return _fail("takes no arguments", 2)
    uid_text = environ.get("SUDO_UID", "")
    if not uid_text.isdigit():
        return _fail("must be run through sudo (no SUDO_UID)", 4)
    try:
        owner = os.stat(path).st_uid
    except OSError as exc:
        return _fail(f"cannot stat {path}: {exc.strerror}", 1)
    if os.geteuid() != owner:
        return _fail(f"must run as the owner of {path} (uid {owner})", 4)
    uid = int(uid_text)
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    data = _read_stdin(MAX_RECORD_BYTES)
    if len(data) > MAX_RECORD_BYTES:
        return _fail(f"record larger than {MAX_RECORD_BYTES} bytes", 2)
    try:
        event = msgspec.json.decode(data)
        if not isinstance(event, dict):
            raise ValueError("not a JSON object")
        record = host_record(event, uid, user, this_host())
    except (msgspec.DecodeError, ValueError, RecursionError) as exc:
        return _fail(f"bad record: {str(exc)[:200]}", 2)
    try:
        Ledger(path).append(record)
    except AtollError as exc:
        return _fail(str(exc), 1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], dict(os.environ)))
