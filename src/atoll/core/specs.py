"""Session specs: what a session was started as, kept apart from its tmux server.

A spec is written by the operator's side before the session starts
(:mod:`atoll.service.specs` stores it) and outlives the session's tmux server. It is the
authority for what a listing shows as BY, AGENT, PROJECT and WORKTREE: the tmux options
carrying the same values live on a server the agent user owns and can rewrite
(shared/DESIGN.md, decision 14). It also says how to start the session again
(:func:`resume_argv`) after the server died.

Pure: bytes in, structs and rows out. Decoding is bounded (:data:`MAX_SPEC_BYTES`, field
caps the same as a peer row's, :mod:`atoll.fleet.remote`), so a spec file that was edited
or planted is refused, never trusted.
"""

from __future__ import annotations

import posixpath
import re
from typing import Literal

import msgspec

from atoll.core.errors import AtollError
from atoll.core.models import SessionRow
from atoll.core.names import validate_session_name, validate_user_name

MAX_SPEC_BYTES = 64 << 10
"""Largest spec file read (a 256-element argv of 4 KiB arguments would not fit; the
command's caps below keep a real one far under this)."""
MAX_ARGV = 256
MAX_ARG = 4096
MAX_PATH = 4096
MAX_GRANTS = 64
SPEC_VERSION = 1

Restart = Literal["always", "never"]
IslandKind = Literal["none", "user", "bwrap", "docker", "podman"]

CONVERSATION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""A conversation id as agents write them (Claude Code and Codex: UUIDs; Gemini: UUIDs
or tags): anything else is refused, so a hostile hook payload cannot become an option
(a leading ``-``) or a path of the agent's resume argument."""
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)")
SOCKET_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}")
"""A tmux socket name (``-L``) a spec may name: one path component, never ``.``/``..``."""
_CONTAINER_USER = re.compile(r"[a-z][a-z0-9_-]{0,31}:[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


class SpecError(AtollError):
    """A spec file is too large, not a spec, or holds a value outside its rules."""


class SessionSpec(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One session's spec (the JSON of a spec file; field names are stable).

    ``agent_user``: the server's user as listed (the operator for island ``none``,
    ``docker:CONTAINER`` for a container island). ``command``: the argv ``new`` ran (a
    resume may run another, :func:`resume_argv`). ``directory``: where it started (the
    worktree when there is one). ``created``/``ended``/``resumed_at``: RFC 3339 UTC.
    ``memory``: bytes; ``cpus``: cores. ``conversation``: the agent's own conversation id,
    learnt from its hooks (:mod:`atoll.service.hook`), used by :func:`resume_argv`.
    ``ended_how``: ``killed`` or ``forgotten`` (killed while lost). ``socket``: the tmux
    socket name (``-L``) of the server it runs on (specs are kept per socket).
    """

    version: int = SPEC_VERSION
    name: str
    agent: str
    command: list[str]
    directory: str
    project: str
    worktree: str = ""
    island: IslandKind
    agent_user: str
    launched_by: str
    created: str
    host: str = "local"
    socket: str = "atoll"
    cpus: float | None = None
    memory: int | None = None
    pids: int | None = None
    net: bool = False
    grants: list[str] = msgspec.field(default_factory=list)
    record: bool = False
    restart: Restart = "never"
    ended: str | None = None
    ended_how: str | None = None
    conversation: str | None = None
    resumes: int = 0
    resumed_at: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        """(agent_user, name): what identifies a session on one host."""
        return (self.agent_user, self.name)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
"""C0, DEL and C1: what :func:`atoll.core.names.has_control_chars` refuses, as one regex
(a spec has a dozen text fields, read on every listing: bench/specs_bench.py)."""


def _text(field: str, value: str, cap: int) -> None:
    if len(value) > cap or _CONTROL.search(value):
        raise SpecError(f"spec field {field} is longer than {cap} or holds control characters")


def _time(field: str, value: str | None) -> None:
    if value is not None and not _RFC3339.fullmatch(value):
        raise SpecError(f"spec field {field} is not an RFC 3339 time")


def validate_spec(spec: SessionSpec) -> SessionSpec:
    """``spec`` if every field keeps its rules; raises SpecError naming the first that
    does not (names as :mod:`atoll.core.names` has them, absolute paths, bounded argv)."""
    try:
        validate_session_name(spec.name)
        validate_user_name(spec.launched_by)
        if not _CONTAINER_USER.fullmatch(spec.agent_user):
            validate_user_name(spec.agent_user)
    except AtollError as exc:
        raise SpecError(f"spec: {exc}") from None
    if not SOCKET_RE.fullmatch(spec.socket):
        raise SpecError("spec field socket is not a tmux socket name")
    if spec.version != SPEC_VERSION:
        raise SpecError(f"spec version {spec.version} is not {SPEC_VERSION}")
    if not spec.command or len(spec.command) > MAX_ARGV:
        raise SpecError(f"spec command must have 1 to {MAX_ARGV} arguments")
    for arg in spec.command:
        if len(arg) > MAX_ARG or "\x00" in arg:
            raise SpecError(f"spec command argument longer than {MAX_ARG} or holding NUL")
    if not spec.command[0]:
        raise SpecError("spec command is empty")
    _text("agent", spec.agent, 128)
    for field in ("directory", "project"):
        value = getattr(spec, field)
        _text(field, value, MAX_PATH)
        if value and not posixpath.isabs(value):
            raise SpecError(f"spec field {field} is not an absolute path")
    _text("worktree", spec.worktree, 200)
    _text("host", spec.host, 253)
    if len(spec.grants) > MAX_GRANTS:
        raise SpecError(f"spec has more than {MAX_GRANTS} grants")
    for grant in spec.grants:
        _text("grants", grant, MAX_PATH)
    for field in ("created", "ended", "resumed_at"):
        _time(field, getattr(spec, field))
    if spec.ended_how is not None and spec.ended_how not in ("killed", "forgotten"):
        raise SpecError("spec field ended_how is not killed or forgotten")
    if spec.conversation is not None and not CONVERSATION_RE.fullmatch(spec.conversation):
        raise SpecError("spec field conversation is not a conversation id")
    for field, low, high in (("cpus", 0.0, 4096.0), ("memory", 0, 1 << 50),
                             ("pids", 0, 1 << 22)):
        value = getattr(spec, field)
        if value is not None and not low <= value <= high:
            raise SpecError(f"spec field {field} out of range")
    if not 0 <= spec.resumes <= 1 << 31:
        raise SpecError("spec field resumes out of range")
    return spec


def encode_spec(spec: SessionSpec) -> bytes:
    """JSON bytes of ``spec`` (validated first; raises SpecError)."""
    return msgspec.json.encode(validate_spec(spec)) + b"\n"


def decode_spec(data: bytes) -> SessionSpec:
    """The spec in ``data``; raises SpecError when it is over :data:`MAX_SPEC_BYTES`, not
    JSON of this shape, or any field breaks :func:`validate_spec`."""
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(f"spec is larger than {MAX_SPEC_BYTES} bytes")
    try:
        spec = msgspec.json.decode(data, type=SessionSpec)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise SpecError(f"not a session spec: {exc}") from None
    return validate_spec(spec)


def spec_file_name(agent_user: str, name: str) -> str:
    """The store's file name of a spec: ``AGENTUSER@NAME.json`` (both validated, so the
    name is one path component: no ``/``, never ``.`` or ``..``)."""
    return f"{agent_user}@{name}.json"


ENDED_KEEP_DAYS = 30
"""Days an ended spec is kept for ``ls --all`` before a later ``kill`` removes it (so a
store does not grow with every session ever killed; ``purge`` removes one at once)."""


def expired(specs: list[SessionSpec], now: float,
            keep_days: float = ENDED_KEEP_DAYS) -> list[SessionSpec]:
    """The ended specs among ``specs`` that ended more than ``keep_days`` before ``now``
    (seconds since the epoch)."""
    from atoll.core.timefmt import parse_rfc3339

    out = []
    for spec in specs:
        when = parse_rfc3339(spec.ended) if spec.ended else None
        if when is not None and now - when > keep_days * 86400:
            out.append(spec)
    return out


# -- a spec against the tmux session it describes ------------------------------------------

_COMPARED = (("launched_by", "BY"), ("agent", "AGENT"), ("project", "PROJECT"),
             ("worktree", "WORKTREE"))
MAX_MISMATCH = 256


def disagreement(spec: SessionSpec, row: SessionRow) -> str | None:
    """One line naming what the session's own tmux options claim against its spec
    (``BY alice (spec: bob)``), or None when they agree. At most :data:`MAX_MISMATCH`
    characters."""
    diffs = []
    for field, label in _COMPARED:
        claimed, true = getattr(row, field), getattr(spec, field)
        if field == "agent" and claimed == "-":
            claimed = ""
        if claimed != true:
            diffs.append(f"{label} {claimed or '-'} (spec: {true or '-'})")
    if not diffs:
        return None
    line = "tmux options say " + ", ".join(diffs)
    return line if len(line) <= MAX_MISMATCH else line[: MAX_MISMATCH - 3] + "..."


def with_spec(row: SessionRow, spec: SessionSpec) -> SessionRow:
    """``row`` with BY, AGENT, PROJECT and WORKTREE from ``spec`` (the authority), and
    ``mismatch`` saying what its tmux options claimed instead."""
    return msgspec.structs.replace(
        row, launched_by=spec.launched_by, agent=spec.agent, project=spec.project,
        worktree=spec.worktree, mismatch=disagreement(spec, row))


NO_SPEC = "no spec: BY, AGENT, PROJECT are the session's own tmux options"


def spec_row(spec: SessionSpec, host: str, status: str, reason: str | None) -> SessionRow:
    """The row of a session that only its spec knows of: ``lost`` (no tmux session),
    ``unknown`` (its server did not answer) or, for ``ls --all``, an ended one (status
    ``exited``, ``ended`` set)."""
    from atoll.core.display import command_label

    return SessionRow(
        host=host, name=spec.name, agent=spec.agent, project=spec.project,
        worktree=spec.worktree, agent_user=spec.agent_user, launched_by=spec.launched_by,
        island=spec.island, status=status, idle_seconds=None,  # type: ignore[arg-type]
        created=spec.created, last_activity=None, attached=0, cpu_percent=None,
        rss_bytes=None, pid=None, command=command_label(spec.command), exit_status=None,
        reason=reason, ended=spec.ended,
    )


# -- resuming ----------------------------------------------------------------------------

ResumeHow = Literal["conversation", "latest", "restart"]


def resume_argv(spec: SessionSpec) -> tuple[list[str], ResumeHow]:
    """The argv that starts ``spec``'s session again, and how it continues:

    - ``conversation``: the agent's own conversation ``spec.conversation`` is resumed by
      its native flag: ``claude ... --resume ID`` (Claude Code ``--help``: "-r, --resume
      [value] Resume a conversation by session ID"), ``codex resume ID ...`` (Codex
      ``resume --help``: "[SESSION_ID] Session id (UUID) or session name");
    - ``latest``: no id was learnt; the agent continues its most recent conversation in
      the session's directory: ``claude ... --continue`` ("Continue the most recent
      conversation in the current directory"), ``codex resume --last ...`` ("Continue the
      most recent session", filtered by the working directory unless ``--all``);
    - ``restart``: any other program, or a command with arguments that are not all flags
      (a prompt given at start must not be sent again): the command runs again as it was.
    """
    argv = list(spec.command)
    # npm's Claude Code package ships its native binary as bin/claude.exe, on Linux too
    prog, rest = posixpath.basename(argv[0]).removesuffix(".exe"), argv[1:]
    flags_only = all(a.startswith("-") and a != "-" and a != "--" for a in rest)
    if prog != spec.agent or not flags_only:
        return argv, "restart"
    conv = spec.conversation
    if prog == "claude":
        if conv:
            return [argv[0], *rest, "--resume", conv], "conversation"
        return [argv[0], *rest, "--continue"], "latest"
    if prog == "codex":
        if conv:
            return [argv[0], "resume", conv, *rest], "conversation"
        return [argv[0], "resume", "--last", *rest], "latest"
    return argv, "restart"
