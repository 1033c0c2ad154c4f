"""The ``meta.json`` of a bwrap island, parsed as hostile input (docs/islands.md). Pure.

The file lives in the agent user's home, so the agent can rewrite it at will: it is read
with a byte cap (:data:`MAX_META_BYTES`, by :func:`atoll.exec.files.read_as`) and decoded
here into :class:`IslandMeta` by a typed decoder, so nesting is bounded by the schema (no
field holds arbitrary JSON), every number is range-checked (limits of
:mod:`atoll.core.islands`: the same ones ``atoll new`` accepts) and every text is bounded
and free of control characters. ``base_commits`` must be git object names (40 or 64 hex
digits), since purge passes them to ``git rev-list``.

Errors: :class:`InvalidMetaError` (an :class:`~atoll.core.errors.AtollError`, exit 1), one
line that quotes nothing of the file beyond a bounded decoder message.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

from atoll.core.errors import AtollError
from atoll.core.names import has_control_chars

MAX_META_BYTES = 64 << 10
"""atoll writes a few hundred bytes (1 KiB with 64 grants); more is refused unread."""

_COMMIT_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_Text = Annotated[str, msgspec.Meta(max_length=4096)]
_Name = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class InvalidMetaError(AtollError):
    """An island's ``meta.json`` is not what atoll writes (exit 1)."""


class IslandMeta(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """What a bwrap island was made with; units as in :class:`atoll.core.islands.IslandSpec`
    (``cpus`` cores, ``memory`` bytes, ``created`` Unix seconds)."""

    name: _Name
    project_dir: _Text = ""
    owner: Annotated[str, msgspec.Meta(max_length=64)] = ""
    kind: Annotated[str, msgspec.Meta(max_length=16)] = "bwrap"
    agent_user: Annotated[str, msgspec.Meta(max_length=64)] = ""
    hash8: Annotated[str, msgspec.Meta(max_length=16)] = ""
    net: bool = False
    allow: Annotated[list[_Text], msgspec.Meta(max_length=256)] = []
    cpus: Annotated[float, msgspec.Meta(gt=0, le=4096)] = 2.0
    memory: Annotated[int, msgspec.Meta(gt=0, le=1 << 50)] = 2 << 30
    pids: Annotated[int, msgspec.Meta(gt=0, le=1 << 22)] = 512
    grants: Annotated[list[tuple[_Text, bool]], msgspec.Meta(max_length=256)] = []
    base_commits: Annotated[list[str], msgspec.Meta(max_length=64)] | None = None
    created: Annotated[float, msgspec.Meta(ge=0, le=1e11)] | None = None


def parse_island_meta(data: bytes) -> IslandMeta:
    """Decode ``meta.json`` bytes; InvalidMetaError when they are not a valid meta."""
    if len(data) > MAX_META_BYTES:
        raise InvalidMetaError(f"meta.json larger than {MAX_META_BYTES} bytes")
    try:
        meta = msgspec.json.decode(data, type=IslandMeta)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidMetaError(f"invalid meta.json: {str(exc)[:160]}") from exc
    except RecursionError as exc:  # msgspec's own depth guard (the interpreter's limit)
        raise InvalidMetaError("invalid meta.json: nested too deeply") from exc
    texts = [meta.name, meta.project_dir, meta.owner, meta.kind, meta.agent_user, meta.hash8,
             *(path for path, _ in meta.grants)]
    if any(has_control_chars(t) for t in texts):
        raise InvalidMetaError("invalid meta.json: control characters in a text field")
    for commit in meta.base_commits or ():
        if not _COMMIT_RE.fullmatch(commit):
            raise InvalidMetaError("invalid meta.json: base_commits holds a non-commit")
    return meta
