"""Table-driven tests of the pure chain functions (atoll.core.chain)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest

from atoll.core.chain import (
    ZERO_HASH,
    CheckpointStatement,
    ProblemKind,
    build_line,
    line_hash,
    parse_link,
    verify,
)

K = ProblemKind


def chain(n: int, start_seq: int = 1, prev: str = ZERO_HASH) -> list[bytes]:
    """n well-linked lines with seq start_seq.."""
    out = []
    for i in range(n):
        line = build_line({"action": "session.new", "details": {"i": i}}, start_seq + i, prev)
        out.append(line)
        prev = line_hash(line)
    return out


def relink(lines: list[bytes], seqs: list[int] | None = None) -> list[bytes]:
    """Re-hash a list of lines consistently (what a forger without the key would do)."""
    import json

    out: list[bytes] = []
    prev = ZERO_HASH
    for i, line in enumerate(lines):
        obj = json.loads(line)
        obj.pop("prev")
        seq = obj.pop("seq")
        new = build_line(obj, seqs[i] if seqs else seq, prev)
        out.append(new)
        prev = line_hash(new)
    return out


def cp_of(lines: list[bytes], time: str = "t1") -> CheckpointStatement:
    data = b"".join(lines)
    seq = parse_link(lines[-1])[0] if lines else 0  # type: ignore[index]
    head = line_hash(lines[-1]) if lines else ZERO_HASH
    return CheckpointStatement(size=len(data), seq=seq, head=head, time=time, host="h",
                               key_id="k")


def test_build_line_shape() -> None:
    line = build_line({"time": "T", "action": "a"}, 7, ZERO_HASH)
    assert line == b'{"seq":7,"time":"T","action":"a","prev":"' + ZERO_HASH.encode() + b'"}\n'
    assert line_hash(line) == hashlib.sha256(line).hexdigest()
    assert parse_link(line) == (7, ZERO_HASH)
    assert parse_link(b"not json") is None
    assert parse_link(b'{"seq":"7","prev":"x"}') is None


@pytest.mark.parametrize(
    "event", [{"seq": 1}, {"prev": "x"}, {"x": object()}, {"x": {(1, 2): 1}}, {"x": "a\udcff"}]
)
def test_build_line_refuses(event: dict[object, object]) -> None:
    with pytest.raises(ValueError):
        build_line(event, 1, ZERO_HASH)  # type: ignore[arg-type]


def test_build_line_has_no_raw_newlines() -> None:
    line = build_line({"text": "a\nb\r\u2028c"}, 1, ZERO_HASH)
    assert line.count(b"\n") == 1 and line.endswith(b"\n") and b"\r" not in line


def test_empty_and_intact() -> None:
    assert verify(b"").ok
    report = verify(b"".join(chain(5)))
    assert report.ok and report.lines == 5 and report.last_seq == 5
    assert report.head == line_hash(chain(5)[-1])
    assert "intact" in report.summary()


L = chain(10)  # seq 1..10; index i holds seq i+1


def forged(seq: int, prev: str) -> bytes:
    return build_line({"action": "session.kill", "details": {"forged": True}}, seq, prev)


def flip(line: bytes, needle: bytes = b'"i":') -> bytes:
    i = line.index(needle) + len(needle)
    return line[:i] + (b"9" if line[i : i + 1] != b"9" else b"8") + line[i + 1 :]


CASES: list[tuple[str, Callable[[], bytes], ProblemKind, int]] = [
    ("edit content of seq 4", lambda: b"".join([*L[:3], flip(L[3]), *L[4:]]), K.EDITED, 4),
    ("edit seq field of seq 4",
     lambda: b"".join([*L[:3], L[3].replace(b'"seq":4', b'"seq":5'), *L[4:]]), K.EDITED, 4),
    ("edit prev field of seq 4",
     lambda: b"".join([*L[:3], flip(L[3], b'"prev":"'), *L[4:]]), K.EDITED, 4),
    ("edit seq 4 into non-JSON", lambda: b"".join([*L[:3], b"{oops\n", *L[4:]]), K.EDITED, 4),
    ("edit first line", lambda: b"".join([flip(L[0]), *L[1:]]), K.EDITED, 1),
    ("first line prev not zero",
     lambda: b"".join([forged(1, "1" * 64), *L[1:]]),
     K.EDITED, 1),
    ("delete seq 4", lambda: b"".join(L[:3] + L[4:]), K.DELETED, 4),
    ("delete seq 4..6", lambda: b"".join(L[:3] + L[6:]), K.DELETED, 4),
    ("delete first line", lambda: b"".join(L[1:]), K.DELETED, 1),
    ("insert linked forgery after seq 4",
     lambda: b"".join([*L[:4], forged(5, line_hash(L[3])), *L[4:]]), K.INSERTED, 5),
    ("insert naive forgery after seq 4",
     lambda: b"".join([*L[:4], forged(5, "e" * 64), *L[4:]]), K.INSERTED, 5),
    ("insert garbage after seq 4", lambda: b"".join([*L[:4], b"garbage\n", *L[4:]]), K.INSERTED, 5),
    ("duplicate seq 3 after seq 6", lambda: b"".join([*L[:6], L[2], *L[6:]]), K.INSERTED, 7),
    ("insert forgery at the start",
     lambda: b"".join([forged(1, ZERO_HASH), *L]), K.INSERTED, 1),
    ("swap seq 4 and 5", lambda: b"".join([*L[:3], L[4], L[3], *L[5:]]), K.REORDERED, 4),
    ("move seq 8 before seq 3", lambda: b"".join([*L[:2], L[7], *L[2:7], *L[8:]]), K.REORDERED, 3),
    ("move seq 3 after seq 8", lambda: b"".join(L[:2] + L[3:8] + [L[2]] + L[8:]), K.REORDERED, 3),
    ("renumbered consistently", lambda: b"".join(relink(L, [1, 2, 3, 5, 6, 7, 8, 9, 10, 11])),
     K.BAD_SEQ, 4),
    ("two garbage lines", lambda: b"".join([*L[:4], b"x\n", b"y\n", *L[4:]]), K.MALFORMED, 5),
    ("torn: no trailing newline", lambda: b"".join(L) + b'{"seq":11,"ti', K.TORN, 11),
    ("torn: only a fragment", lambda: b'{"seq":1', K.TORN, 1),
    ("torn: unparsable last line", lambda: b"".join(L) + b'{"seq":11,"ti\n', K.TORN, 11),
    ("torn: NUL padding", lambda: b"".join(L) + b"\0" * 40, K.TORN, 11),
]


@pytest.mark.parametrize(("name", "make", "kind", "seq"), CASES, ids=[c[0] for c in CASES])
def test_chain_problems(name: str, make: Callable[[], bytes], kind: ProblemKind, seq: int) -> None:
    report = verify(make())
    assert not report.ok
    first = report.first
    assert first is not None
    assert (first.kind, first.seq) == (kind, seq), first
    assert "\n" not in report.summary()
    assert f"first bad seq {seq}: {kind.value}" in report.summary()


def test_torn_after_intact_chain_counts_the_good_lines() -> None:
    report = verify(b"".join(L) + b'{"seq":11')
    assert report.lines == 10 and report.last_seq == 10 and len(report.problems) == 1


# -- checkpoints ---------------------------------------------------------------------

A = L[:6]  # an older state: seq 1..6
CP_A = cp_of(A, "tA")
CP_B = cp_of(L, "tB")  # the newest: seq 1..10


def continued(base: list[bytes], n: int) -> list[bytes]:
    """base plus n new lines linked onto it (the service kept appending)."""
    out = list(base)
    for k in range(n):
        out.append(build_line({"action": "grant.add", "details": {"more": k}}, len(out) + 1,
                              line_hash(out[-1])))
    return out


CP_CASES: list[tuple[str, Callable[[], bytes], ProblemKind | None, int]] = [
    ("matches", lambda: b"".join(L), None, 0),
    ("grew after the checkpoint", lambda: b"".join(continued(L, 3)), None, 0),
    ("last 3 lines dropped", lambda: b"".join(L[:7]), K.TRUNCATED, 8),
    ("emptied", lambda: b"", K.TRUNCATED, 1),
    ("exactly the older checkpointed copy", lambda: b"".join(A), K.ROLLED_BACK, 7),
    ("older copy put back and continued", lambda: b"".join(continued(A, 6)), K.REWRITTEN, 7),
    ("last line edited (the chain cannot see it)", lambda: b"".join([*L[:9], flip(L[9])]),
     K.REWRITTEN, 7),
    ("whole chain rewritten consistently",
     lambda: b"".join(relink([flip(L[0]), *L[1:]])), K.REWRITTEN, 1),
    ("chain break inside the checkpoint wins", lambda: b"".join(L[:3] + L[4:]), K.DELETED, 4),
]


@pytest.mark.parametrize(("name", "make", "kind", "seq"), CP_CASES, ids=[c[0] for c in CP_CASES])
def test_checkpoint_problems(
    name: str, make: Callable[[], bytes], kind: ProblemKind | None, seq: int
) -> None:
    report = verify(make(), CP_B, older=[CP_A])
    if kind is None:
        assert report.ok, report.problems
        return
    assert report.first is not None
    assert (report.first.kind, report.first.seq) == (kind, seq), report.problems
    assert len(report.problems) == 1, report.problems


def test_rollback_without_older_checkpoint_is_truncation() -> None:
    report = verify(b"".join(A), CP_B)
    assert report.first is not None and report.first.kind is K.TRUNCATED


def test_rewrite_without_older_checkpoint_may_start_anywhere() -> None:
    data = b"".join([*L[:9], flip(L[9])])
    report = verify(data, CP_B)
    assert report.first is not None
    assert (report.first.kind, report.first.seq) == (K.REWRITTEN, 1)
    assert "seq 1..10" in report.first.detail


def test_checkpoint_of_empty_ledger() -> None:
    empty = CheckpointStatement(size=0, seq=0, head=ZERO_HASH, time="t", host="h", key_id="k")
    assert verify(b"", empty).ok
    assert verify(b"".join(L), empty).ok


def test_checkpoint_size_off_a_line_boundary_is_rewritten() -> None:
    bad = CheckpointStatement(size=CP_B.size - 1, seq=10, head=CP_B.head, time="t", host="h",
                              key_id="k")
    report = verify(b"".join(L), bad)
    assert report.first is not None and report.first.kind is K.REWRITTEN
