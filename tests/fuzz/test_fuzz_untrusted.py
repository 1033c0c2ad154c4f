"""Property-based fuzzing of the parsers of untrusted input (issue 11 point 10): a peer's
``atoll ls --json`` answer, config TOML (the operator's and a project's), an agent user's
island meta.json, and ledger lines. Property: each returns a value or raises its documented
error, and stays within a time and memory bound (no hang, no RecursionError, no
OverflowError). 10,000 generated cases per parser per run (``FUZZ_CASES``)."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atoll.core.chain import parse_link, verify
from atoll.core.config import ConfigError, parse_config, parse_project_config
from atoll.fleet.remote import InvalidAnswer, validate_answer
from atoll.islands.bwrap import parse_meta

CASES = int(os.environ.get("FUZZ_CASES", "10000"))
FUZZ = settings(max_examples=CASES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
#: generous per-case bounds: a parser that loops or balloons fails these by orders of size
MAX_SECONDS = 2.0
MAX_GROWTH_KIB = 200_000

ROW = {"host": "x", "name": "s", "agent": "a", "project": "/p", "worktree": "",
       "agent_user": "u", "launched_by": "u", "island": "user", "status": "idle",
       "idle_seconds": 1, "created": None, "last_activity": None, "attached": 0,
       "cpu_percent": 1.0, "rss_bytes": 1, "pid": 1, "command": "c", "exit_status": None}

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**450), max_value=10**450),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
)
json_values = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                     st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=8)


def _bounded(call: object, *args: object) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    call(*args)  # type: ignore[operator]
    assert time.monotonic() - start < MAX_SECONDS
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < MAX_GROWTH_KIB


def _answer(data: bytes) -> None:
    try:
        rows = validate_answer(data, "peer")
    except InvalidAnswer:
        return
    assert all(r.host == "peer" for r in rows)


@FUZZ
@given(st.dictionaries(st.sampled_from(sorted(ROW)), json_values, max_size=6),
       st.integers(min_value=0, max_value=3), st.binary(max_size=8))
def test_peer_answers(changes: dict[str, object], nesting: int, junk: bytes) -> None:
    row = {**ROW, **changes}
    body = json.dumps({"hosts": [], "sessions": [row]}, allow_nan=True).encode()
    body = b"[" * nesting + body + b"]" * nesting
    _bounded(_answer, body)
    _bounded(_answer, body[: len(body) // 2] + junk)


@FUZZ
@given(st.binary(max_size=300))
def test_peer_answers_raw_bytes(data: bytes) -> None:
    _bounded(_answer, data)


def _config(data: bytes) -> None:
    for parse in (parse_config, parse_project_config):
        with contextlib.suppress(ConfigError):
            parse(data, "fuzz.toml")


toml_keys = st.sampled_from(["hosts", "agent_users", "ledger_path", "record", "agent",
                             "default_agent", "agent_group", "name", "ssh", "timeout", "x"])
toml_values = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str), st.just("1e400"),
    st.just("inf"), st.just("nan"), st.text(max_size=20).map(json.dumps),
    st.sampled_from([1, 2, 40, 3000]).map(lambda n: "[" * n + "]" * n),
    st.just("true"), st.just("{ a = 1 }"), st.just('"\\u0000"'))


@FUZZ
@given(st.lists(st.tuples(toml_keys, toml_values), max_size=5),
       st.booleans(), st.binary(max_size=20))
def test_config_toml(pairs: list[tuple[str, str]], table: bool, junk: bytes) -> None:
    text = "\n".join(f"{k} = {v}" for k, v in pairs)
    if table:
        text = "[[hosts]]\n" + text
    _bounded(_config, text.encode())
    _bounded(_config, text.encode()[:10] + junk)


@FUZZ
@given(st.dictionaries(st.sampled_from(["name", "project_dir", "owner", "cpus", "memory",
                                        "pids", "net", "grants", "base_commits", "other"]),
                       json_values, max_size=8),
       st.sampled_from([0, 1, 3, 1500]), st.binary(max_size=16))
def test_island_meta(meta: dict[str, object], nesting: int, junk: bytes) -> None:
    data = json.dumps(meta, allow_nan=True).encode()
    for candidate in (b"[" * nesting + data + b"]" * nesting, data[:7] + junk):
        start = time.monotonic()
        got = parse_meta(candidate)
        assert time.monotonic() - start < MAX_SECONDS
        assert got is None or isinstance(got, dict)


@FUZZ
@given(st.lists(st.one_of(st.binary(max_size=60), json_values.map(
    lambda v: json.dumps(v, allow_nan=True).encode())), max_size=6))
def test_ledger_lines(lines: list[bytes]) -> None:
    data = b"\n".join(lines)
    for line in lines:
        link = parse_link(line)
        assert link is None or (isinstance(link[0], int) and isinstance(link[1], str))
    _bounded(verify, data)
