"""Ledger checkpoints kept on a witness host over real SSH (docs/ledger.md, "Checkpoints"):
the copy lands on the other host with only mkdir and tee, and it catches what local root
can hide here: a truncated ledger whose local checkpoints were deleted too."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from tests.hosts.testbed import Testbed
from tests.support.proc import atoll

pytestmark = [pytest.mark.root, pytest.mark.slow]


def test_checkpoint_on_a_witness_host_catches_a_rewrite_local_root_hid(
    testbed: Testbed, marcus_config: str
) -> None:
    state = Path(pwd.getpwnam("marcus").pw_dir) / ".local/state/atoll"
    for i in range(3):  # some history to sign
        assert atoll("new", f"wit{i}", "--dir", "/tmp", "--", "sleep", "60",
                     user="marcus").returncode == 0
        assert atoll("kill", f"wit{i}", user="marcus").returncode == 0
    ledger, checkpoints = state / "ledger.jsonl", state / "checkpoints.jsonl"
    saved = {p: p.read_bytes() if p.exists() else None for p in (ledger, checkpoints)}
    try:
        res = atoll("audit", "checkpoint", "--to", "hostb", user="marcus")
        assert res.returncode == 0, res.stderr
        b = testbed.hosts["hostb"]
        listing = b.run(["sh", "-c", "stat -c %a /home/marcus/.local/state/atoll/witness; "
                         "cat /home/marcus/.local/state/atoll/witness/*.jsonl"],
                        user="marcus").stdout.decode().splitlines()
        assert listing[0] == "700" and len(listing) >= 2 and '"sig"' in listing[-1]
        ok = atoll("audit", "verify", "--witness", "hostb", user="marcus")
        assert ok.returncode == 0, ok.stderr
        # root here drops the last records and the local checkpoints with them
        lines = ledger.read_bytes().splitlines(keepends=True)
        ledger.write_bytes(b"".join(lines[:-3]))
        checkpoints.unlink()
        blind = atoll("audit", "verify", user="marcus")
        assert blind.returncode == 0  # nothing left here to compare with
        caught = atoll("audit", "verify", "--witness", "hostb", user="marcus")
        assert caught.returncode == 1, caught.stdout
        assert caught.stderr.startswith("atoll: error: ledger ") and "truncated" in caught.stderr
    finally:
        pw = pwd.getpwnam("marcus")
        for path, data in saved.items():
            if data is not None:
                path.write_bytes(data)
                os.chown(path, pw.pw_uid, pw.pw_gid)
                path.chmod(0o600)
