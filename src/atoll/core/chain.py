"""The ledger's hash chain: line format, hashing and verification over exact stored bytes.

A ledger is UTF-8 JSON Lines: one object per line, each line ending in ``\\n``. Every line
carries ``seq`` (1-based, contiguous) and ``prev``: the lowercase hex SHA-256 of the previous
line's exact bytes *including* its trailing newline (the first line's ``prev`` is 64 zeros).
Verification hashes the stored bytes and never re-serialises objects, so any byte changed,
added, removed or moved breaks a link that :func:`verify` reports.

A :class:`CheckpointStatement` (signed elsewhere) says "the ledger was ``size`` bytes long and
its line ``seq`` hashed to ``head``"; given one, :func:`verify` also catches what the chain
alone cannot: lines removed from the end (truncated), an older copy put back (rolled back),
and a chain rewritten consistently by someone without the signing key (rewritten).

Pure: no I/O, no clock, no environment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import msgspec

ZERO_HASH = "0" * 64
"""``prev`` of the first line."""

MAX_LINE_BYTES = 4 * 1024 * 1024
"""Largest line (bytes, newline included) :func:`build_line` produces."""


class ProblemKind(StrEnum):
    """What is wrong with a ledger, as :func:`verify` names it."""

    EDITED = "edited"  # a line's bytes changed: its hash no longer matches the next prev
    INSERTED = "inserted"  # a line that was never appended sits in the chain
    DELETED = "deleted"  # lines are missing from the middle (seq jumps, prev unknown)
    REORDERED = "reordered"  # lines are present but out of order
    MALFORMED = "malformed"  # a complete line that is not a ledger record, not at the end
    BAD_SEQ = "bad_seq"  # links are intact but seq numbering is not 1, 2, 3, ...
    TORN = "torn"  # the last line is incomplete (no newline) or unparsable: a crashed write
    TRUNCATED = "truncated"  # fewer bytes/lines than the newest checkpoint covers
    ROLLED_BACK = "rolled_back"  # the ledger is exactly an older checkpointed state
    REWRITTEN = "rewritten"  # the bytes the newest checkpoint covers hash to something else
    FORGED_CHECKPOINT = "forged_checkpoint"  # a checkpoint whose signature does not verify


@dataclass(frozen=True)
class Problem:
    """One finding: ``seq`` is the first bad seq (0: not about a ledger line), ``line`` the
    1-based line number in the file where it shows (0: none), ``detail`` one line of text."""

    kind: ProblemKind
    seq: int
    line: int
    detail: str


class CheckpointStatement(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a checkpoint signs: the ledger was ``size`` bytes, its last line had ``seq`` and
    hashed to ``head`` (hex SHA-256), at ``time`` (RFC 3339 UTC) on ``host``, signed by the
    Ed25519 key ``key_id`` (first 16 hex of the SHA-256 of the raw public key)."""

    size: int
    seq: int
    head: str
    time: str
    host: str
    key_id: str


@dataclass(frozen=True)
class VerifyReport:
    """Result of :func:`verify`.

    ``size``: bytes examined; ``lines``: complete lines; ``last_seq``: seq of the last
    complete line whose links held (0 if none); ``head``: hash of the last complete line
    (``ZERO_HASH`` when empty); ``problems``: sorted by seq, the first is the first bad one;
    ``checkpoint``: the statement compared against, if any.
    """

    size: int
    lines: int
    last_seq: int
    head: str
    problems: tuple[Problem, ...]
    checkpoint: CheckpointStatement | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def summary(self) -> str:
        """One line: the first problem, or what was found intact."""
        first = self.first
        if first is None:
            text = f"intact: {self.lines} lines, seq 1..{self.last_seq}, head {self.head[:16]}"
            cp = self.checkpoint
            if cp is not None:
                text += f", agrees with the checkpoint of {cp.time} (seq {cp.seq})"
            return text
        where = f"first bad seq {first.seq}" if first.seq else "checkpoint"
        more = f" (+{len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        return f"{where}: {first.kind.value}: {first.detail}{more}"


class _Link(msgspec.Struct):
    seq: int
    prev: str


_DECODE_LINK = msgspec.json.Decoder(_Link).decode
_sha256 = hashlib.sha256


def line_hash(line: bytes) -> str:
    """Hex SHA-256 of one stored line; ``line`` must include its trailing newline."""
    return _sha256(line).hexdigest()


def parse_link(line: bytes) -> tuple[int, str] | None:
    """``(seq, prev)`` of one line (with or without its newline), or None when the line is
    not a JSON object with an integer ``seq`` and a string ``prev``."""
    try:
        rec = _DECODE_LINK(line)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):  # bad UTF-8, deep
        return None
    return rec.seq, rec.prev


def build_line(event: Mapping[str, object], seq: int, prev: str) -> bytes:
    """The stored bytes of one record: ``{"seq":N, <event fields in order>, "prev":H}\\n``.

    Compact JSON, UTF-8, no raw newlines. Raises ValueError when ``event`` holds ``seq`` or
    ``prev``, has non-string keys or values JSON cannot carry, or the line would exceed
    :data:`MAX_LINE_BYTES`.
    """
    if "seq" in event or "prev" in event:
        raise ValueError("event must not carry seq or prev; the ledger assigns them")
    record: dict[str, object] = {"seq": seq, **event, "prev": prev}
    try:
        data = msgspec.json.encode(record)
    except (TypeError, ValueError, UnicodeError, OverflowError, msgspec.EncodeError) as exc:
        raise ValueError(f"event cannot be stored as JSON: {exc}") from exc
    if len(data) + 1 > MAX_LINE_BYTES:
        raise ValueError(f"event is {len(data)} bytes, over the {MAX_LINE_BYTES} byte limit")
    return data + b"\n"


def verify(
    data: bytes,
    checkpoint: CheckpointStatement | None = None,
    *,
    older: Sequence[CheckpointStatement] = (),
) -> VerifyReport:
    """Check a whole ledger's bytes: chain links, seq contiguity, the last line, and agreement
    with ``checkpoint`` (the newest trusted one). ``older`` are earlier trusted checkpoints:
    a ledger that is exactly one of them is reported as rolled back, and a rewrite is placed
    after the newest one that still matches. Signatures are not checked here.

    Problems found in the chain itself come first by seq; a checkpoint is compared only when
    the chain holds at least up to its seq (an earlier break already explains a mismatch).
    """
    parts = data.split(b"\n")
    tail = parts.pop()  # b"" when data ends with a newline (or is empty)
    decode = _DECODE_LINK
    sha = _sha256
    prev = ZERO_HASH
    expected = 1
    bad: int | None = None
    for part in parts:
        try:
            rec = decode(part)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):  # bad UTF-8, deep
            bad = expected - 1
            break
        if rec.seq != expected or rec.prev != prev:
            bad = expected - 1
            break
        prev = sha(part + b"\n").hexdigest()
        expected += 1
    n = len(parts)
    problems: list[Problem] = []
    if bad is not None:
        problems.append(_diagnose(parts, bad, tail))
        intact_lines = bad
    else:
        intact_lines = n
    last_seq = intact_lines
    head = prev if bad is None else line_hash(parts[-1] + b"\n")
    if tail:
        problems.append(
            Problem(
                ProblemKind.TORN,
                n + 1,
                n + 1,
                f"line {n + 1} is incomplete: {len(tail)} bytes with no newline "
                "(a write that did not finish)",
            )
        )
    complete = len(data) - len(tail)
    if checkpoint is not None:
        covered_by_chain = bad is None or bad >= checkpoint.seq
        if covered_by_chain:
            found = _check_checkpoint(data, complete, last_seq, checkpoint, older)
            if found is not None:
                problems.append(found)
    problems.sort(key=lambda p: p.seq)
    return VerifyReport(
        size=len(data),
        lines=n,
        last_seq=last_seq,
        head=head,
        problems=tuple(problems),
        checkpoint=checkpoint,
    )


def _diagnose(parts: list[bytes], i: int, tail: bytes) -> Problem:
    """Name the problem at line index ``i``, the first whose seq or prev is wrong; every line
    before it linked correctly (so the line before has seq ``i``)."""
    n = len(parts)
    links = [parse_link(p) for p in parts]
    hashes = [line_hash(p + b"\n") for p in parts]
    where: dict[str, int] = {}
    for idx, h in enumerate(hashes):
        where.setdefault(h, idx)
    expected = i + 1
    want_prev = hashes[i - 1] if i > 0 else ZERO_HASH
    link = links[i]
    line_no = i + 1
    nxt = links[i + 1] if i + 1 < n else None

    if link is None:
        if i == n - 1 and not tail:
            return Problem(
                ProblemKind.TORN,
                expected,
                line_no,
                f"last line {line_no} is not a ledger record (an interrupted or damaged write)",
            )
        if nxt is not None and nxt[1] == want_prev and nxt[0] == expected:
            return Problem(
                ProblemKind.INSERTED, expected, line_no,
                f"line {line_no} is not part of the chain: the next line links past it",
            )
        if nxt is None and i + 1 < n:
            return Problem(
                ProblemKind.MALFORMED, expected, line_no,
                f"lines {line_no} and {line_no + 1} are not ledger records",
            )
        return Problem(
            ProblemKind.EDITED, expected, line_no,
            f"line {line_no} (seq {expected}) was changed and is no longer a ledger record",
        )

    seq, prev = link
    if hashes.count(hashes[i]) > 1:
        return Problem(
            ProblemKind.INSERTED, expected, line_no,
            f"line {line_no} (seq {seq}) is a copy of another line of the ledger",
        )
    if prev == want_prev:
        # Linked correctly, but numbered wrong.
        if nxt is not None and nxt[1] == hashes[i]:
            return Problem(
                ProblemKind.BAD_SEQ, expected, line_no,
                f"line {line_no} links correctly but has seq {seq}, expected {expected}",
            )
        return Problem(
            ProblemKind.EDITED, expected, line_no,
            f"line {line_no} (seq {expected}) was changed: its seq reads {seq}",
        )

    j = where.get(prev, -1 if prev == ZERO_HASH else None)
    if j is not None and j >= i:
        return Problem(
            ProblemKind.REORDERED, expected, line_no,
            f"line {line_no} (seq {seq}) links to line {j + 1}, which comes after it; "
            f"expected seq {expected} here",
        )
    if nxt is not None and nxt[1] == want_prev and nxt[0] == expected:
        return Problem(
            ProblemKind.INSERTED, expected, line_no,
            f"line {line_no} (claims seq {seq}) was inserted: line {line_no + 1} links past it",
        )
    if j is not None and j < i - 1:
        first = j + 2  # 1-based line number (and seq) of the first extra line
        count = i - 1 - j
        return Problem(
            ProblemKind.INSERTED, first, first,
            f"{count} line(s) inserted at line {first}: line {line_no} links to line {j + 1}",
        )
    if seq > expected:
        missing = f"seq {expected}" if seq == expected + 1 else f"seq {expected}..{seq - 1}"
        return Problem(
            ProblemKind.DELETED, expected, line_no,
            f"{missing} missing before line {line_no} (which has seq {seq})",
        )
    consistent_after = i == n - 1 or (nxt is not None and nxt[1] == hashes[i])
    if i > 0 and seq == expected and consistent_after:
        # This line agrees with what follows it, so the line before it changed.
        return Problem(
            ProblemKind.EDITED, i, i,
            f"line {i} (seq {i}) was changed: it no longer hashes to the prev of line {line_no}",
        )
    against = f"line {i}" if i > 0 else "the start (64 zeros)"
    return Problem(
        ProblemKind.EDITED, expected, line_no,
        f"line {line_no} (seq {expected}) was changed: its prev does not match {against}",
    )


def _boundary_matches(data: bytes, complete: int, cp: CheckpointStatement) -> bool:
    """True when a line ends exactly at byte ``cp.size`` of ``data`` and hashes to ``cp.head``
    (an empty-ledger checkpoint matches size 0)."""
    size = cp.size
    if size == 0:
        return cp.head == ZERO_HASH and cp.seq == 0
    if size > complete or data[size - 1 : size] != b"\n":
        return False
    start = data.rfind(b"\n", 0, size - 1) + 1
    line = data[start:size]
    link = parse_link(line)
    return link is not None and link[0] == cp.seq and line_hash(line) == cp.head


def _check_checkpoint(
    data: bytes,
    complete: int,
    last_seq: int,
    cp: CheckpointStatement,
    older: Sequence[CheckpointStatement],
) -> Problem | None:
    if _boundary_matches(data, complete, cp):
        return None
    matching = [o for o in older if o.seq < cp.seq and _boundary_matches(data, complete, o)]
    best = max(matching, key=lambda o: o.seq, default=None)
    if last_seq < cp.seq:
        if best is not None and best.size == complete:
            return Problem(
                ProblemKind.ROLLED_BACK, best.seq + 1, best.seq + 1,
                f"the ledger is the older state signed at {best.time} (seq {best.seq}, "
                f"{best.size} bytes); the newest checkpoint of {cp.time} covers seq {cp.seq} "
                f"({cp.size} bytes)",
            )
        return Problem(
            ProblemKind.TRUNCATED, last_seq + 1, last_seq + 1,
            f"the ledger ends at seq {last_seq} ({complete} bytes) but the checkpoint of "
            f"{cp.time} covers seq {cp.seq} ({cp.size} bytes)",
        )
    if best is not None:
        return Problem(
            ProblemKind.REWRITTEN, best.seq + 1, best.seq + 1,
            f"the ledger agrees with the checkpoint of {best.time} (seq {best.seq}) but not "
            f"with the newest of {cp.time}: rewritten somewhere in seq {best.seq + 1}..{cp.seq} "
            "(or an older copy was put back and appended to)",
        )
    return Problem(
        ProblemKind.REWRITTEN, 1, 1,
        f"the ledger does not match the checkpoint of {cp.time}: no line with seq {cp.seq} "
        f"hashing to {cp.head[:16]} ends at byte {cp.size}; rewritten somewhere in "
        f"seq 1..{cp.seq}",
    )
