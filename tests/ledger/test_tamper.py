"""The tamper battery: a real ledger written through Audit, a real signed checkpoint, and one
attack per test, each of which verify must name with the right kind and first bad seq."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from atoll.core.chain import ZERO_HASH, CheckpointStatement, ProblemKind, build_line, line_hash
from atoll.exec import Local
from atoll.ledger import (
    Audit,
    Ledger,
    fetch_witness,
    make_checkpoint,
    push_witness,
    typed_details,
    verify_ledger,
)
from atoll.ledger.checkpoint import (
    CheckpointStore,
    SignedCheckpoint,
    SigningKey,
    checkpoints_path,
    key_id_of,
    load_or_create_key,
)

K = ProblemKind


def work(audit: Audit) -> None:
    """Six actions: 12 records (intent + outcome each)."""
    with audit.action("session.new", {"session": "fix-bug", "agent_user": "wes-agent"},
                      {"agent": "claude", "dir": "/home/wes/src/app"}):
        pass
    with audit.action("grant.add", {"island": "fix-bug", "path": "/home/wes/data"}, {"rw": False}):
        pass
    with audit.action("session.type", {"session": "fix-bug"},
                      typed_details("make test", enter=True)):
        pass
    with audit.action("session.peek", {"session": "fix-bug"}, {"lines": 40}):
        pass
    with audit.action("crossing.export", {"island": "fix-bug", "path": "out.patch"},
                      {"sha256": "ab" * 32}):
        pass
    with audit.action("session.kill", {"session": "fix-bug"}, {}):
        pass


@pytest.fixture
def signed(audit: Audit, ledger: Ledger) -> Ledger:
    """A 12-line ledger with a signed checkpoint covering all of it."""
    work(audit)
    make_checkpoint(ledger, host="testhost")
    assert verify_ledger(ledger).ok
    return ledger


def lines(ledger: Ledger) -> list[bytes]:
    return ledger.read_bytes().splitlines(keepends=True)


def write(ledger: Ledger, new: list[bytes]) -> None:
    ledger.path.write_bytes(b"".join(new))


def rehash(records: list[bytes]) -> list[bytes]:
    """Renumber and re-link every line: a consistent rewrite, as a forger without the key
    would make it."""
    out: list[bytes] = []
    prev = ZERO_HASH
    for seq, line in enumerate(records, start=1):
        obj = json.loads(line)
        obj.pop("seq")
        obj.pop("prev")
        new = build_line(obj, seq, prev)
        out.append(new)
        prev = line_hash(new)
    return out


def change_one_byte(ls: list[bytes]) -> list[bytes]:
    """seq 5 is the session.type intent: make it claim another command."""
    i = ls[4].index(b"make test") + 5
    ls[4] = ls[4][:i] + b"T" + ls[4][i + 1 :]  # "make test" -> "make Test"
    return ls


def forged_line(after: bytes, seq: int) -> bytes:
    return build_line({"time": "2026-11-20T12:00:00.000Z", "host": "testhost",
                       "action": "session.kill", "outcome": "ok", "details": {}},
                      seq, line_hash(after))


ATTACKS: list[tuple[str, Callable[[list[bytes]], list[bytes]], ProblemKind, int]] = [
    ("change one byte of seq 5", change_one_byte, K.EDITED, 5),
    ("delete seq 7", lambda ls: ls[:6] + ls[7:], K.DELETED, 7),
    ("insert a forged line after seq 6", lambda ls: [*ls[:6], forged_line(ls[5], 7), *ls[6:]],
     K.INSERTED, 7),
    ("swap seq 3 and 4", lambda ls: [*ls[:2], ls[3], ls[2], *ls[4:]], K.REORDERED, 3),
    ("drop the last 3 lines", lambda ls: ls[:-3], K.TRUNCATED, 10),
    ("edit the last line", lambda ls: [*ls[:-1], ls[-1].replace(b'"ok"', b'"error"')],
     K.REWRITTEN, 1),
    ("rewrite the whole chain consistently",
     lambda ls: rehash([ls[0].replace(b"claude", b"codex"), *ls[1:]]), K.REWRITTEN, 1),
    ("rewrite it consistently, same length",
     lambda ls: rehash([ls[0].replace(b"claude", b"CLAUDE"), *ls[1:]]), K.REWRITTEN, 1),
    ("hide an action and rewrite the rest consistently",
     lambda ls: rehash(ls[:4] + ls[6:]), K.TRUNCATED, 11),
    ("torn last line", lambda ls: [*ls, b'{"seq":13,"time":"2026-11-20T12:0'], K.TORN, 13),
]


@pytest.mark.parametrize(("name", "attack", "kind", "seq"), ATTACKS, ids=[a[0] for a in ATTACKS])
def test_attack_is_detected(signed: Ledger, name: str,
                            attack: Callable[[list[bytes]], list[bytes]],
                            kind: ProblemKind, seq: int) -> None:
    write(signed, attack(lines(signed)))
    report = verify_ledger(signed)
    assert not report.ok
    assert report.first is not None
    assert (report.first.kind, report.first.seq) == (kind, seq), report.problems
    assert report.summary().startswith(f"first bad seq {seq}: {kind.value}: ")


def test_restore_an_older_copy(audit: Audit, ledger: Ledger, tmp_path: Path) -> None:
    work(audit)
    make_checkpoint(ledger, host="testhost")
    backup = tmp_path / "backup.jsonl"
    shutil.copy2(ledger.path, backup)  # the older copy: seq 1..12, checkpointed
    work(audit)
    make_checkpoint(ledger, host="testhost")  # newest: seq 1..24
    shutil.copy2(backup, ledger.path)
    report = verify_ledger(ledger)
    assert report.first is not None
    assert (report.first.kind, report.first.seq) == (K.ROLLED_BACK, 13), report.problems
    # ... and when the service then keeps appending to the restored copy:
    work(audit)
    report = verify_ledger(ledger)
    assert report.first is not None
    assert (report.first.kind, report.first.seq) == (K.REWRITTEN, 13), report.problems


def test_appends_after_a_checkpoint_stay_valid(signed: Ledger, audit: Audit) -> None:
    work(audit)
    report = verify_ledger(signed)
    assert report.ok and report.last_seq == 24 and report.checkpoint is not None
    assert report.checkpoint.seq == 12


def test_forged_checkpoint_is_reported(signed: Ledger) -> None:
    """A consistent rewrite plus checkpoints made with the attacker's own key: one naming
    that key, one claiming the operator's key id."""
    write(signed, rehash([lines(signed)[0].replace(b"claude", b"codex"), *lines(signed)[1:]]))
    private = Ed25519PrivateKey.generate()
    theirs = SigningKey(private, key_id_of(private.public_key()))
    store = CheckpointStore(checkpoints_path(signed.path))
    mine = msgspec.json.decode(store.read_bytes().splitlines()[0], type=SignedCheckpoint).key_id
    data = signed.read_bytes()
    stmt = CheckpointStatement(size=len(data), seq=12, head=line_hash(lines(signed)[-1]),
                               time="2026-12-01T00:00:00.000Z", host="testhost",
                               key_id=theirs.key_id)
    store.append(theirs.sign(stmt))
    claimed = msgspec.structs.replace(theirs.sign(stmt), key_id=mine)
    store.append(claimed)
    report = verify_ledger(signed)
    found = [(p.kind, p.line) for p in report.problems]
    assert found[:2] == [(K.FORGED_CHECKPOINT, 2), (K.FORGED_CHECKPOINT, 3)], report.problems
    assert "names key" in report.problems[0].detail
    assert "bad signature" in report.problems[1].detail
    assert report.summary().startswith("checkpoint: forged_checkpoint: ")
    # the genuine checkpoint still catches the rewrite
    assert (report.problems[2].kind, report.problems[2].seq) == (K.REWRITTEN, 1)


def test_garbage_in_the_checkpoint_store(signed: Ledger) -> None:
    store = checkpoints_path(signed.path)
    with store.open("ab") as fh:
        fh.write(b"{not a checkpoint}\n")
    report = verify_ledger(signed)
    assert report.first is not None and report.first.kind is K.FORGED_CHECKPOINT
    assert "not a checkpoint" in report.first.detail


def test_deleting_local_checkpoints_hides_truncation_but_not_from_a_witness(
    signed: Ledger, tmp_path: Path
) -> None:
    """Root on this host can drop lines and the local checkpoints; a witness copy
    (here: a directory reached through the real Local runner) still catches it."""
    key = load_or_create_key()
    witness_dir = str(tmp_path / "witness-host")
    cp_line = CheckpointStore(checkpoints_path(signed.path)).read_bytes().splitlines()[-1]
    push_witness(msgspec.json.decode(cp_line, type=SignedCheckpoint), Local(),
                 origin="testhost", remote_dir=witness_dir)
    write(signed, lines(signed)[:-4])
    checkpoints_path(signed.path).unlink()
    assert verify_ledger(signed).ok  # nothing local left to compare with
    copy = fetch_witness(Local(), origin="testhost", key_id=key.key_id, remote_dir=witness_dir)
    report = verify_ledger(signed, witness=copy)
    assert report.first is not None
    assert (report.first.kind, report.first.seq) == (K.TRUNCATED, 9)
