"""Signed checkpoints of a ledger, stored apart from it, and verification against them.

A checkpoint is a :class:`~atoll.core.chain.CheckpointStatement` (size in bytes, last seq,
head hash, time, host, key id) signed with the operator's Ed25519 key. The key is created on
first use at ``platformdirs.user_config_path("atoll")/"ledger_ed25519"`` (PKCS#8 PEM, mode
0600; the public key beside it as ``ledger_ed25519.pub`` in OpenSSH format). Checkpoints are
appended to a JSON Lines file in the operator's state directory and, optionally, to a witness
host over SSH, where someone with root on this host cannot reach them.

Signed bytes: ``b"atoll-ledger-checkpoint-v1\\n"`` + the compact JSON of the statement with
its fields in the order above.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import msgspec
import platformdirs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from atoll.core.chain import CheckpointStatement, Problem, ProblemKind, VerifyReport, verify
from atoll.core.errors import AtollError, HostUnreachableError
from atoll.exec import Completed, Runner, Ssh
from atoll.exec.files import UnsafeFileError, read_optional, read_regular
from atoll.exec.process import CommandTimeoutError
from atoll.ledger.errors import LedgerReadError, LedgerTamperedError, LedgerWriteError
from atoll.ledger.store import Ledger, ledger_path, make_private_dirs, state_dir, utc_now

SIG_DOMAIN = b"atoll-ledger-checkpoint-v1\n"
KEY_NAME = "ledger_ed25519"
WITNESS_DIR = ".local/state/atoll/witness"
MAX_CHECKPOINTS_BYTES = 16 << 20
"""A checkpoints file over 16 MiB (about 50,000 signed checkpoints) is refused as damaged."""
MAX_KEY_BYTES = 64 << 10
"""Key files are a few hundred bytes of PEM or OpenSSH text; larger ones are refused."""
"""Directory on a witness host (relative: in the remote login user's home)."""


class SignedCheckpoint(msgspec.Struct, frozen=True):
    """One stored checkpoint line: the statement's fields plus ``sig`` (hex Ed25519)."""

    size: int
    seq: int
    head: str
    time: str
    host: str
    key_id: str
    sig: str

    @property
    def statement(self) -> CheckpointStatement:
        return CheckpointStatement(
            size=self.size,
            seq=self.seq,
            head=self.head,
            time=self.time,
            host=self.host,
            key_id=self.key_id,
        )

    def line(self) -> bytes:
        """The stored bytes (one JSON line with its newline)."""
        return msgspec.json.encode(self) + b"\n"


def signed_bytes(statement: CheckpointStatement) -> bytes:
    """The exact bytes a checkpoint signature covers."""
    return SIG_DOMAIN + msgspec.json.encode(statement)


# -- keys ------------------------------------------------------------------------------


def key_path() -> Path:
    """Where the operator's signing key lives (the ``.pub`` file is beside it)."""
    return platformdirs.user_config_path("atoll") / KEY_NAME


def key_id_of(public: Ed25519PublicKey) -> str:
    """First 16 hex of the SHA-256 of the raw 32-byte public key."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 private key and its id."""

    private: Ed25519PrivateKey
    key_id: str

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    def sign(self, statement: CheckpointStatement) -> SignedCheckpoint:
        if statement.key_id != self.key_id:
            raise ValueError("statement names another key")
        sig = self.private.sign(signed_bytes(statement)).hex()
        return SignedCheckpoint(**msgspec.structs.asdict(statement), sig=sig)


def _write_new_file(path: Path, data: bytes, mode: int) -> bool:
    """Create ``path`` with ``data`` atomically; False if it already exists."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)
    return True


def load_or_create_key(path: Path | None = None) -> SigningKey:
    """The operator's signing key, created (0600, directory 0700) on first use.

    Raises AtollError when the key file is readable by others or is not an Ed25519 key.
    """
    path = path or key_path()
    try:
        if not path.exists():
            make_private_dirs(path.parent)
            private = Ed25519PrivateKey.generate()
            pem = private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            if _write_new_file(path, pem, 0o600):
                pub = private.public_key().public_bytes(
                    serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
                )
                pub_path = _pub_path(path)
                with contextlib.suppress(FileNotFoundError):
                    pub_path.unlink()
                _write_new_file(pub_path, pub + b" atoll-ledger\n", 0o644)
        st = path.stat()
        if st.st_mode & 0o077:
            raise AtollError(
                f"ledger signing key {path} is accessible by others "
                f"(mode {stat.S_IMODE(st.st_mode):04o}); run: chmod 600 {path}"
            )
        loaded = serialization.load_pem_private_key(_read_key(path), password=None)
    except OSError as exc:
        raise AtollError(f"cannot use ledger signing key {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise AtollError(f"ledger signing key {path} is not a valid key") from exc
    if not isinstance(loaded, Ed25519PrivateKey):
        raise AtollError(f"ledger signing key {path} is not an Ed25519 key")
    return SigningKey(loaded, key_id_of(loaded.public_key()))


def _read_key(path: Path) -> bytes:
    """A key file's bytes: a regular file, no symlink, at most :data:`MAX_KEY_BYTES`."""
    try:
        return read_regular(path, MAX_KEY_BYTES)
    except UnsafeFileError as exc:
        raise AtollError(f"cannot use ledger signing key: {exc}") from exc


def _pub_path(path: Path) -> Path:
    return path.with_name(path.name + ".pub")


def load_public_key(path: Path | None = None) -> Ed25519PublicKey | None:
    """The operator's public key (from ``.pub``, else derived from the private key), or
    None when there is no key yet."""
    path = path or key_path()
    try:
        raw = _read_key(_pub_path(path))
    except FileNotFoundError:
        if not path.exists():
            return None
        return load_or_create_key(path).public
    except OSError as exc:
        raise AtollError(f"cannot read {_pub_path(path)}: {exc.strerror}") from exc
    try:
        loaded = serialization.load_ssh_public_key(raw.strip())
    except ValueError as exc:
        raise AtollError(f"{_pub_path(path)} is not a valid public key") from exc
    if not isinstance(loaded, Ed25519PublicKey):
        raise AtollError(f"{_pub_path(path)} is not an Ed25519 key")
    return loaded


# -- the local checkpoint store --------------------------------------------------------


def checkpoints_path(ledger_file: Path) -> Path:
    """Where the operator keeps checkpoints of ``ledger_file``: ``checkpoints.jsonl`` in the
    state directory for the default ledger, ``checkpoints-<hash12>.jsonl`` for others."""
    resolved = ledger_file.resolve()
    if resolved == ledger_path(None).resolve():
        return state_dir() / "checkpoints.jsonl"
    digest = hashlib.sha256(str(resolved).encode("utf-8", "surrogateescape")).hexdigest()
    return state_dir() / f"checkpoints-{digest[:12]}.jsonl"




class CheckpointStore:
    """A JSON Lines file of signed checkpoints (file 0600, created directories 0700)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, checkpoint: SignedCheckpoint) -> None:
        """Append one checkpoint durably; raises LedgerWriteError."""
        try:
            make_private_dirs(self.path.parent)
            fd = os.open(
                self.path,
                os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW,
                0o600,
            )
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                line = checkpoint.line()
                if os.write(fd, line) != len(line):
                    raise OSError(errno.ENOSPC, "short write")
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise LedgerWriteError(
                f"cannot write checkpoints {self.path}: {exc.strerror or exc}"
            ) from exc

    def read_bytes(self) -> bytes:
        """The stored bytes (b"" when there are none yet): a regular file, never through a
        symlink or from a FIFO, at most MAX_CHECKPOINTS_BYTES; raises LedgerReadError."""
        try:
            return read_optional(self.path, MAX_CHECKPOINTS_BYTES) or b""
        except UnsafeFileError as exc:
            raise LedgerReadError(f"cannot read checkpoints: {exc}") from exc


@dataclass(frozen=True)
class CheckedCheckpoints:
    """Checkpoints whose signatures hold (``good``) and the problems with the rest."""

    good: tuple[CheckpointStatement, ...]
    problems: tuple[Problem, ...]

    @property
    def newest(self) -> CheckpointStatement | None:
        return max(self.good, key=lambda c: (c.seq, c.size), default=None)


def check_signatures(
    data: bytes, public: Ed25519PublicKey | None, *, source: str
) -> CheckedCheckpoints:
    """Parse checkpoint lines and check each signature against ``public`` (the operator's
    key); a bad line, an unknown key id or a bad signature is a FORGED_CHECKPOINT problem
    (``line`` = its line number in ``source``)."""
    good: list[CheckpointStatement] = []
    problems: list[Problem] = []
    want = key_id_of(public) if public is not None else None
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            cp = msgspec.json.decode(raw, type=SignedCheckpoint)
        except msgspec.DecodeError:
            problems.append(_forged(number, f"line {number} of {source} is not a checkpoint"))
            continue
        label = f"checkpoint of {cp.time} (seq {cp.seq}) in {source} line {number}"
        if public is None or want is None:
            problems.append(_forged(number, f"{label} cannot be checked: no ledger public key"))
            continue
        if cp.key_id != want:
            problems.append(_forged(number, f"{label} names key {cp.key_id}, not {want}"))
            continue
        try:
            public.verify(bytes.fromhex(cp.sig), signed_bytes(cp.statement))
        except (InvalidSignature, ValueError):
            problems.append(_forged(number, f"{label} has a bad signature"))
            continue
        good.append(cp.statement)
    return CheckedCheckpoints(tuple(good), tuple(problems))


def _forged(number: int, detail: str) -> Problem:
    return Problem(ProblemKind.FORGED_CHECKPOINT, 0, number, detail)


def verify_with_checkpoints(data: bytes, checked: Sequence[CheckedCheckpoints]) -> VerifyReport:
    """Verify ledger bytes against the newest good checkpoint of all ``checked`` sources;
    forged checkpoints come first in the report's problems."""
    good = [c for group in checked for c in group.good]
    forged = [p for group in checked for p in group.problems]
    newest = max(good, key=lambda c: (c.seq, c.size), default=None)
    older = [c for c in good if c is not newest]
    report = verify(data, newest, older=older)
    if not forged:
        return report
    return replace(report, problems=(*forged, *report.problems))


def verify_ledger(
    ledger: Ledger,
    *,
    store: CheckpointStore | None = None,
    public: Ed25519PublicKey | None = None,
    witness: bytes | None = None,
) -> VerifyReport:
    """Verify ``ledger`` against the local checkpoints (``store``, default
    :func:`checkpoints_path`) and optionally a witness host's copy (``witness``, bytes from
    :func:`fetch_witness`). ``public`` defaults to the operator's key."""
    store = store or CheckpointStore(checkpoints_path(ledger.path))
    public = public if public is not None else load_public_key()
    sources = [check_signatures(store.read_bytes(), public, source=str(store.path))]
    if witness is not None:
        sources.append(check_signatures(witness, public, source="the witness copy"))
    return verify_with_checkpoints(ledger.read_bytes(), sources)


def make_checkpoint(
    ledger: Ledger,
    *,
    host: str,
    key: SigningKey | None = None,
    store: CheckpointStore | None = None,
) -> SignedCheckpoint:
    """Verify ``ledger`` against the existing checkpoints, then sign and store a checkpoint
    of its current state. Raises LedgerTamperedError (refusing to sign) when verification
    finds any problem, AtollError for key trouble, LedgerWriteError when it cannot store."""
    key = key or load_or_create_key()
    store = store or CheckpointStore(checkpoints_path(ledger.path))
    data = ledger.read_bytes()
    sources = [check_signatures(store.read_bytes(), key.public, source=str(store.path))]
    report = verify_with_checkpoints(data, sources)
    if not report.ok:
        raise LedgerTamperedError(f"not signing ledger {ledger.path}: {report.summary()}")
    statement = CheckpointStatement(
        size=len(data),
        seq=report.last_seq,
        head=report.head,
        time=utc_now(),
        host=host,
        key_id=key.key_id,
    )
    signed = key.sign(statement)
    store.append(signed)
    return signed


# -- witness hosts ---------------------------------------------------------------------


def witness_file(origin: str, key_id: str, remote_dir: str = WITNESS_DIR) -> str:
    """The file on a witness host holding checkpoints from ``origin`` signed by ``key_id``."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", origin).lstrip(".-") or "host"
    return f"{remote_dir.rstrip('/')}/{safe}-{key_id}.jsonl"


def _run_on_witness(
    runner: Runner, argv: list[str], data: bytes | None = None, *, allowed: tuple[int, ...] = (0,)
) -> Completed:
    host = runner.host
    try:
        done = runner.run(argv, input=data, timeout=30.0)
    except CommandTimeoutError as exc:
        raise HostUnreachableError(f"witness host {host} did not answer: {exc}") from exc
    reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    if isinstance(runner, Ssh) and done.returncode == 255:
        raise HostUnreachableError(f"witness host {host} unreachable: {reason or 'ssh failed'}")
    if done.returncode not in allowed:
        raise AtollError(
            f"witness host {host}: {argv[0]} failed (exit {done.returncode}) {reason}".strip()
        )
    return done


def push_witness(
    checkpoint: SignedCheckpoint,
    runner: Runner,
    *,
    origin: str,
    remote_dir: str = WITNESS_DIR,
) -> str:
    """Append ``checkpoint`` to the witness file on ``runner``'s host (``mkdir -p`` then
    ``tee -a``, argv only) and return the remote path. Raises HostUnreachableError when an
    SSH host cannot be reached, AtollError when the remote commands fail."""
    path = witness_file(origin, checkpoint.key_id, remote_dir)
    _run_on_witness(runner, ["mkdir", "-p", "-m", "700", remote_dir])
    _run_on_witness(runner, ["tee", "-a", path], checkpoint.line())
    return path


def fetch_witness(
    runner: Runner, *, origin: str, key_id: str, remote_dir: str = WITNESS_DIR
) -> bytes:
    """The witness host's checkpoint lines for ``origin`` and ``key_id`` (b"" when it holds
    none). Raises like :func:`push_witness`."""
    path = witness_file(origin, key_id, remote_dir)
    if _run_on_witness(runner, ["test", "-f", path], allowed=(0, 1)).returncode == 1:
        return b""
    return _run_on_witness(runner, ["cat", path]).stdout
