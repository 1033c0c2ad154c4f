"""Signing keys, the checkpoint store, and witness copies."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import msgspec
import pytest

from atoll.core.errors import AtollError, ExitCode, HostUnreachableError
from atoll.exec import Local, Ssh
from atoll.ledger import Audit, Ledger, LedgerTamperedError, make_checkpoint, push_witness
from atoll.ledger.checkpoint import (
    CheckpointStore,
    SignedCheckpoint,
    checkpoints_path,
    fetch_witness,
    key_path,
    load_or_create_key,
    load_public_key,
    witness_file,
)


def test_key_is_created_once_private_and_stable(xdg: Path) -> None:
    assert load_public_key() is None
    key = load_or_create_key()
    path = key_path()
    assert path == xdg / "config" / "atoll" / "ledger_ed25519"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    pub = path.with_name("ledger_ed25519.pub").read_text()
    assert pub.startswith("ssh-ed25519 ") and pub.endswith(" atoll-ledger\n")
    again = load_or_create_key()
    assert again.key_id == key.key_id and len(key.key_id) == 16
    public = load_public_key()
    assert public is not None and public.public_bytes_raw() == key.public.public_bytes_raw()


def test_key_readable_by_others_is_refused(xdg: Path) -> None:
    load_or_create_key()
    key_path().chmod(0o644)
    with pytest.raises(AtollError, match="accessible by others"):
        load_or_create_key()


def test_checkpoint_statement_and_store(audit: Audit, ledger: Ledger) -> None:
    audit.event("session.new", {"session": "a"}, "ok")
    signed = make_checkpoint(ledger, host="devbox")
    data = ledger.read_bytes()
    assert (signed.size, signed.seq, signed.host) == (len(data), 1, "devbox")
    store = checkpoints_path(ledger.path)
    assert store == ledger.path.parent / "checkpoints.jsonl"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    stored = msgspec.json.decode(store.read_bytes().splitlines()[0], type=SignedCheckpoint)
    assert stored == signed and len(bytes.fromhex(stored.sig)) == 64


def test_other_ledgers_get_their_own_checkpoint_file(xdg: Path, tmp_path: Path) -> None:
    a = checkpoints_path(tmp_path / "a.jsonl")
    b = checkpoints_path(tmp_path / "b.jsonl")
    assert a != b and a.parent == b.parent == xdg / "state" / "atoll"


def test_checkpoint_refuses_a_tampered_ledger(audit: Audit, ledger: Ledger) -> None:
    for _ in range(3):
        audit.event("session.new", {"session": "a"}, "ok")
    make_checkpoint(ledger, host="devbox")
    data = ledger.read_bytes().splitlines(keepends=True)
    ledger.path.write_bytes(b"".join(data[:1] + data[2:]))
    with pytest.raises(LedgerTamperedError, match="first bad seq 2: deleted"):
        make_checkpoint(ledger, host="devbox")
    assert len(CheckpointStore(checkpoints_path(ledger.path)).read_bytes().splitlines()) == 1


def test_witness_copy_through_a_real_runner(audit: Audit, ledger: Ledger,
                                            tmp_path: Path) -> None:
    audit.event("session.new", {"session": "a"}, "ok")
    one = make_checkpoint(ledger, host="devbox")
    audit.event("session.kill", {"session": "a"}, "ok")
    two = make_checkpoint(ledger, host="devbox")
    remote = str(tmp_path / "far" / "witness")
    assert fetch_witness(Local(), origin="dev box", key_id=one.key_id, remote_dir=remote) == b""
    path = push_witness(one, Local(), origin="dev box", remote_dir=remote)
    push_witness(two, Local(), origin="dev box", remote_dir=remote)
    assert path == witness_file("dev box", one.key_id, remote)
    assert path.endswith(f"/dev_box-{one.key_id}.jsonl")
    assert stat.S_IMODE(Path(remote).stat().st_mode) == 0o700
    copy = fetch_witness(Local(), origin="dev box", key_id=one.key_id, remote_dir=remote)
    assert copy == one.line() + two.line()


def test_unreachable_witness_is_a_clear_error(audit: Audit, ledger: Ledger,
                                              tmp_path: Path) -> None:
    if shutil.which("ssh") is None:
        pytest.fail("ssh is not installed (openssh-client)")
    audit.event("session.new", {"session": "a"}, "ok")
    signed = make_checkpoint(ledger, host="devbox")
    runner = Ssh("atoll-no-such-host.invalid", connect_timeout=3,
                 options=(f"UserKnownHostsFile={tmp_path}/known_hosts",))
    with pytest.raises(HostUnreachableError) as caught:
        push_witness(signed, runner, origin="devbox")
    assert caught.value.exit_code == ExitCode.UNREACHABLE
    assert str(caught.value).startswith("witness host atoll-no-such-host.invalid unreachable: ")
    assert "\n" not in str(caught.value)
