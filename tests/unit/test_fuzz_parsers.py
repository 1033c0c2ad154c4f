"""Issue 11 point 10: property-based fuzzing of parsers of untrusted input (hypothesis).

Parsers: a peer's ``atoll ls --json --here`` answer (:func:`atoll.fleet.remote.validate_answer`),
config TOML (:func:`atoll.core.config.parse_config`, :func:`parse_project_config`), an
island's ``meta.json`` (:func:`atoll.core.islandmeta.parse_island_meta`) and ledger lines
(:func:`atoll.core.chain.parse_link`, :func:`atoll.core.chain.verify`).

Property, for each: it returns a value of its documented type or raises its documented
error (InvalidAnswer, ConfigError, InvalidMetaError; ``verify`` never raises, it reports),
nothing else. 10,000 generated cases per parser per run (``max_examples=10_000``); memory
is bounded by checking the traced peak of the whole run. No time is asserted (speed lives
in bench/); each test takes a few seconds.
"""

from __future__ import annotations

import json
import resource
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atoll.core.chain import VerifyReport, build_line, parse_link, verify
from atoll.core.config import Config, ConfigError, ProjectConfig, parse_config, parse_project_config
from atoll.core.islandmeta import InvalidMetaError, IslandMeta, parse_island_meta
from atoll.core.models import SessionRow
from atoll.fleet.remote import InvalidAnswer, validate_answer

CASES = 10_000
FUZZ = settings(max_examples=CASES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PEAK_BYTES = 1 << 30  # whole process; a parser that buffered /dev/zero would blow far past it

_numbers = st.one_of(
    st.integers(), st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
)
_texts = st.text(max_size=40) | st.sampled_from(["", "local", "a\x1b]52;c;x\x07", "\u009b2J"])
_json = st.recursive(
    _numbers | _texts,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(_texts, kids, max_size=4),
    max_leaves=12,
)


@contextmanager
def _memory_bound() -> Iterator[None]:
    # Peak RSS of this process (ru_maxrss, KiB on Linux) after the run: cheap, unlike
    # tracemalloc, which made the runs 5x slower.
    yield
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert peak < PEAK_BYTES, peak


def _deep(depth: int, opener: str = "[", closer: str = "]") -> str:
    return opener * depth + closer * depth


ROW: dict[str, Any] = {
    "host": "h", "name": "ok-1", "agent": "shell", "project": "/p", "worktree": "",
    "agent_user": "marcus", "launched_by": "marcus", "island": "user", "status": "idle",
    "idle_seconds": 5, "created": "2026-11-20T12:00:00Z", "last_activity": None,
    "attached": 0, "cpu_percent": 0.5, "rss_bytes": 1024, "pid": 42, "command": "bash",
    "exit_status": None,
}


def _dump(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


_peer_answers = st.one_of(
    st.binary(max_size=200),
    _json.map(_dump),
    st.builds(lambda changes: _dump({"hosts": [], "sessions": [{**ROW, **changes}]}),
              st.dictionaries(st.sampled_from(sorted(ROW)), _json, max_size=4)),
    st.integers(min_value=1, max_value=3000).map(
        lambda d: ('{"x": ' + _deep(d) + ', "hosts": [], "sessions": []}').encode()),
)


def _check(count: list[int], fn: Callable[[], object], kind: type | tuple[type, ...],
           error: type[Exception]) -> None:
    count[0] += 1
    try:
        value = fn()
    except error:
        return
    assert isinstance(value, kind), value


def test_fuzz_peer_answer() -> None:
    count = [0]

    @FUZZ
    @given(_peer_answers)
    def run(data: bytes) -> None:
        count[0] += 1
        try:
            rows = validate_answer(data, "h")
        except InvalidAnswer:
            return
        assert all(isinstance(r, SessionRow) and r.host == "h" for r in rows)

    with _memory_bound():
        run()
    assert count[0] >= CASES
    print(f"peer answer: {count[0]} cases")


_keys = st.sampled_from([
    "hosts", "agent_users", "agent_user_patterns", "agent_group", "refresh_seconds", "record",
    "notify_command", "bell", "ledger_path", "default_agent", "columns", "sort", "x",
])


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return '""'
    if isinstance(value, float):
        return {"inf": "inf", "-inf": "-inf", "nan": "nan"}.get(str(value), repr(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"


_tomls = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    st.lists(st.tuples(_keys, _json), max_size=5).map(
        lambda kv: "\n".join(f"{k} = {_toml_value(v)}" for k, v in kv).encode()),
    st.lists(st.dictionaries(st.sampled_from(["name", "ssh", "timeout", "x"]), _json,
                             max_size=4), max_size=3).map(
        lambda hosts: "\n".join("[[hosts]]\n" + "\n".join(
            f"{k} = {_toml_value(v)}" for k, v in h.items()) for h in hosts).encode()),
    st.integers(min_value=1, max_value=1500).map(lambda d: ("bell = " + _deep(d)).encode()),
    st.integers(min_value=1, max_value=1500).map(
        lambda d: ("bell = " + "{a = " * d + "1" + "}" * d).encode()),
)


def test_fuzz_config_toml() -> None:
    count = [0]

    @FUZZ
    @given(_tomls)
    def run(data: bytes) -> None:
        _check(count, lambda: parse_config(data), Config, ConfigError)
        _check(count, lambda: parse_project_config(data), ProjectConfig, ConfigError)

    with _memory_bound():
        run()
    assert count[0] >= 2 * CASES
    print(f"config TOML: {count[0]} cases (operator and project parsers)")


META = {"name": "a", "project_dir": "/p", "owner": "o", "kind": "bwrap", "agent_user": "a",
        "net": False, "cpus": 2.0, "memory": 1 << 30, "pids": 512, "grants": [["/g", True]],
        "base_commits": ["0" * 40], "created": 1.0}
_metas = st.one_of(
    st.binary(max_size=200),
    _json.map(_dump),
    st.builds(lambda changes: _dump({**META, **changes}),
              st.dictionaries(st.sampled_from(sorted(META)), _json, max_size=4)),
    st.integers(min_value=1, max_value=30_000).map(
        lambda d: ('{"name": "a", "grants": ' + _deep(d) + "}").encode()),
    st.sampled_from([b'{"name": "a", "memory": 1e400}', b'{"name": "a", "pids": ' +
                     b"9" * 401 + b"}"]),
)


def test_fuzz_island_meta() -> None:
    count = [0]

    @FUZZ
    @given(_metas)
    def run(data: bytes) -> None:
        _check(count, lambda: parse_island_meta(data), IslandMeta, InvalidMetaError)

    with _memory_bound():
        run()
    assert count[0] >= CASES
    print(f"island meta: {count[0]} cases")


def _ledger(events: int) -> bytes:
    out, prev = [], "0" * 64
    import hashlib

    for seq in range(1, events + 1):
        line = build_line({"action": "x", "n": seq}, seq, prev)
        prev = hashlib.sha256(line).hexdigest()
        out.append(line)
    return b"".join(out)


GOOD = _ledger(5)


@st.composite
def _ledgers(draw: st.DrawFn) -> bytes:
    data = bytearray(GOOD)
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(data)))
        how = draw(st.sampled_from(["flip", "cut", "insert"]))
        if how == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif how == "cut":
            del data[at: at + draw(st.integers(1, 80))]
        else:
            data[at:at] = draw(st.binary(max_size=40) | st.sampled_from(
                [b"\n", b'{"seq": ' + b"9" * 401 + b"}\n", _deep(3000).encode()]))
    return bytes(data)


def test_fuzz_ledger_lines() -> None:
    count = [0]

    @FUZZ
    @given(_ledgers())
    def run(data: bytes) -> None:
        count[0] += 1
        report = verify(data)  # documented: reports problems, never raises
        assert isinstance(report, VerifyReport)
        assert report.ok == (data == GOOD) or data != GOOD
        for line in data.split(b"\n"):
            link = parse_link(line + b"\n")
            assert link is None or (isinstance(link[0], int) and isinstance(link[1], str))

    with _memory_bound():
        run()
    assert verify(GOOD).ok
    assert count[0] >= CASES
    print(f"ledger lines: {count[0]} cases")
