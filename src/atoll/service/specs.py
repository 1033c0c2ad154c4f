"""The session spec store, and what a listing learns from it (issue 18).

Where specs live (:func:`store_dir`, the one place that decides):

- the host store ``/var/lib/atoll/sessions`` when it exists and the operator may write it
  (``atoll admin init`` of the administration issue sets it up, owned by atoll's system
  user); every operator allowed to see a session reads its spec there;
- otherwise the launching operator's own state directory,
  ``platformdirs.user_state_path("atoll")/sessions`` (``$XDG_STATE_HOME/atoll/sessions``,
  ``~/.local/state/atoll/sessions``), a 0700 directory: there **only that operator sees
  their lost and ended sessions**; another operator allowed to see the same agent user
  sees its live sessions with their tmux options (flagged as having no spec).

Either way an agent user cannot write a spec: it is not the directory's owner.

Files: ``AGENTUSER@NAME.json`` (:func:`atoll.core.specs.spec_file_name`), mode 0600,
written atomically (temporary file created with ``O_NOFOLLOW``, then renamed:
:func:`atoll.rundir.replace_private`), read with :func:`atoll.exec.files.read_regular`
(no symlink, a size cap) and decoded with bounds (:func:`atoll.core.specs.decode_spec`);
a file that fails is skipped and named in the listing's host error, never trusted.

Lifecycle: ``new`` writes the spec before the session starts (and removes it when the
start fails); ``kill`` marks it ended (``ls --all`` still lists it; ``new`` may reuse the
name, which replaces it); ``kill`` of a lost session marks it ended as ``forgotten``;
``purge`` removes it. A spec not ended whose tmux session is missing from a server that
answered is listed as ``lost`` (:func:`reconcile`).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable
from pathlib import Path

import msgspec
import platformdirs

from atoll.core.errors import AtollError
from atoll.core.models import Listing, SessionRow
from atoll.core.sessionref import is_atoll_name
from atoll.core.specs import (
    CONVERSATION_RE,
    MAX_SPEC_BYTES,
    NO_SPEC,
    SOCKET_RE,
    SessionSpec,
    SpecError,
    decode_spec,
    encode_spec,
    expired,
    spec_file_name,
    spec_row,
    with_spec,
)
from atoll.core.timefmt import rfc3339
from atoll.exec.files import read_regular
from atoll.rundir import private_dir, replace_private
from atoll.tmux.client import DEFAULT_SOCKET

HOST_STORE = "/var/lib/atoll/sessions"
MAX_SPECS = 10_000
"""Spec files read per listing at most (the limit of a server's panes,
:data:`atoll.core.tmuxfmt.MAX_PANES`)."""


def host_store() -> str:
    """The host store's path: ``$ATOLL_HOST_STORE`` when set to an absolute path (where
    ``atoll admin init`` put it, and what tests use), else :data:`HOST_STORE`."""
    env = os.environ.get("ATOLL_HOST_STORE", "")
    return env if os.path.isabs(env) else HOST_STORE


def store_base() -> Path:
    """The directory specs are kept under (see the module docstring): the host store when
    present and writable by this operator, else the operator's own state directory."""
    host = host_store()
    if os.path.isdir(host) and os.access(host, os.W_OK | os.X_OK):
        return Path(host)
    return platformdirs.user_state_path("atoll") / "sessions"


def store_dir(socket: str = DEFAULT_SOCKET) -> Path:
    """The directory of the specs of sessions on tmux socket ``socket`` (``-L``):
    ``store_base()/SOCKET``. A session lives on the server of one user and one socket, so
    a throwaway socket's specs (tests) never show in another socket's listing."""
    if not SOCKET_RE.fullmatch(socket):
        raise AtollError(f"tmux socket name {socket!r} cannot name a spec directory")
    return store_base() / socket


def is_host_store(path: Path) -> bool:
    return str(path) == host_store()


def file_owner(spec: SessionSpec) -> int | None:
    """The uid owning ``spec``'s file (None when it is gone). In a host store whose
    directory is sticky, only that user (or root) can have written it: a start at boot
    run by root trusts a spec only when its owner is its ``launched_by``."""
    try:
        return os.lstat(store_dir(spec.socket) / spec_file_name(spec.agent_user,
                                                                  spec.name)).st_uid
    except OSError:
        return None


def _writable_dir(socket: str) -> Path:
    base = store_base()
    path = base / socket
    if is_host_store(base):
        # sticky and open to every operator, like /tmp: each spec file stays its writer's
        # (0600), and nobody else can replace it (the owner check of a start at boot)
        if not path.is_dir():
            with contextlib.suppress(FileExistsError):
                path.mkdir()
                os.chmod(path, 0o1777)  # noqa: S103 - sticky, files 0600, owner checked
        return path
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    if private_dir(str(base)) is None or private_dir(str(path)) is None:
        raise AtollError(f"cannot use {path} for session specs: not a directory of yours")
    return path


def save(spec: SessionSpec) -> Path:
    """Write ``spec`` (atomically, 0600, never through a symlink); returns its path.
    Raises SpecError for a spec that breaks its rules, AtollError when it cannot be
    written."""
    data = encode_spec(spec)
    path = _writable_dir(spec.socket) / spec_file_name(spec.agent_user, spec.name)
    try:
        replace_private(str(path), data)
    except OSError as exc:
        raise AtollError(f"cannot write session spec {path}: {exc.strerror}") from None
    return path


def load(socket: str, agent_user: str, name: str) -> SessionSpec | None:
    """The spec of session ``name`` of ``agent_user`` on ``socket``, or None (absent or
    refused)."""
    try:
        path = store_dir(socket) / spec_file_name(agent_user, name)
        spec = decode_spec(read_regular(path, MAX_SPEC_BYTES))
    except (OSError, AtollError):
        return None
    return spec if spec.key == (agent_user, name) and spec.socket == socket else None


def load_all(socket: str = DEFAULT_SOCKET) -> tuple[list[SessionSpec], list[str]]:
    """Every readable spec of sessions on ``socket``, and one line per file refused
    (name: why)."""
    directory = store_dir(socket)
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".json"))
    except OSError:
        return [], []
    specs: list[SessionSpec] = []
    problems: list[str] = []
    shared = is_host_store(directory.parent)
    base = str(directory)
    for fname in names[:MAX_SPECS]:
        try:
            spec = decode_spec(read_regular(os.path.join(base, fname), MAX_SPEC_BYTES))
        except FileNotFoundError:
            continue  # removed meanwhile
        except (OSError, AtollError) as exc:
            problems.append(f"spec {fname}: {exc}")
            continue
        if spec_file_name(spec.agent_user, spec.name) != fname or spec.socket != socket:
            problems.append(f"spec {fname}: names another session")
            continue
        if shared and file_owner(spec) not in (0, _uid(spec.launched_by)):
            # anyone may create files in the shared directory, an agent user too: a spec
            # counts only when written by the operator it names as its launcher
            problems.append(f"spec {fname}: not written by {spec.launched_by}")
            continue
        specs.append(spec)
    return specs, problems


def _uid(user: str) -> int | None:
    import pwd

    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return None


def remove(spec: SessionSpec) -> None:
    """Delete ``spec``'s file (``purge``; a failed start); absent is fine."""
    with contextlib.suppress(FileNotFoundError):
        (store_dir(spec.socket) / spec_file_name(spec.agent_user, spec.name)).unlink()


def mark_ended(spec: SessionSpec, how: str = "killed") -> SessionSpec:
    """Record that ``spec``'s session ended by ``kill`` (``how``: killed, forgotten)."""
    ended = msgspec.structs.replace(spec, ended=rfc3339(time.time()), ended_how=how)
    save(ended)
    with contextlib.suppress(AtollError, OSError):
        for old in expired(load_all(spec.socket)[0], time.time()):
            remove(old)
    return ended


def end_session(socket: str, agent_user: str, name: str) -> SessionSpec | None:
    """Mark the spec of a killed session ended (None when it has none); a failure to
    write is reported to the caller as AtollError."""
    spec = load(socket, agent_user, name)
    if spec is None or spec.ended:
        return spec
    return mark_ended(spec)


def visible_to(spec: SessionSpec, operator: str, users: Iterable[str]) -> bool:
    """In the host store an operator sees the specs they launched and those of the agent
    users they may see (``users``); their own store holds only their own."""
    return spec.launched_by == operator or spec.agent_user in set(users)


def lost_specs(specs: list[SessionSpec], operator: str) -> list[SessionSpec]:
    """The not-ended specs ``operator`` launched (``resume --all`` candidates)."""
    return [s for s in specs if not s.ended and s.launched_by == operator]


# -- a listing against the specs ---------------------------------------------------------

_SERVER_GONE = "tmux session gone"
_NOT_ANSWERED = "its server did not answer"


def _learn(spec: SessionSpec, conversation: str) -> SessionSpec:
    """``spec`` with the conversation id its agent's hooks reported (saved when new)."""
    if not conversation or conversation == spec.conversation:
        return spec
    if not CONVERSATION_RE.fullmatch(conversation):
        return spec
    learnt = msgspec.structs.replace(spec, conversation=conversation)
    with contextlib.suppress(AtollError):
        save(learnt)
    return learnt


def reconcile(
    listing: Listing, specs: list[SessionSpec], *, operator: str, host: str,
    answered: set[str], failed: set[str], conversations: dict[tuple[str, str], str],
    host_store: bool, include_ended: bool = False,
) -> Listing:
    """``listing`` with the specs applied (issue 18, point 1):

    - a listed session with a spec shows the spec's BY/AGENT/PROJECT/WORKTREE, and
      ``mismatch`` when its tmux options claim otherwise (:func:`with_spec`);
    - a listed session atoll named, without a spec, that claims to be launched by this
      operator (or by anyone, where the host store holds every spec) is flagged
      :data:`NO_SPEC`: nobody wrote a spec for it;
    - a spec not ended, whose session is missing: ``lost`` when its server answered
      (a server that is not running answers with no sessions), ``unknown`` when it did
      not answer (``failed``); nothing when sudo refuses its agent user (not visible);
    - ``include_ended``: ended specs as rows too (status ``exited``, ``ended`` set).

    ``conversations`` maps (user, session) to the conversation id the pane's hooks set;
    a new one is saved into the spec (:func:`_learn`).
    """
    by_key = {s.key: s for s in specs if s.host in ("local", host)}
    rows: list[SessionRow] = []
    seen: set[tuple[str, str]] = set()
    for row in listing.sessions:
        key = (row.agent_user, row.name)
        spec = by_key.get(key)
        if spec is not None and spec.ended is None and row.status != "unknown":
            seen.add(key)
            _learn(spec, conversations.get(key, ""))
            rows.append(with_spec(row, spec))
            continue
        if (spec is None or spec.ended) and is_atoll_name(row.name) and row.launched_by \
                and (host_store or row.launched_by == operator):
            row = msgspec.structs.replace(row, mismatch=NO_SPEC)
        if spec is not None:
            # an ended spec's name reused by a new session; or a row whose tmux answer
            # broke a bound (shown as unknown, with only what identifies it)
            seen.add(key)
        rows.append(row)
    for spec in specs:
        if spec.key in seen or spec.host not in ("local", host):
            continue
        if spec.ended:
            if include_ended:
                rows.append(spec_row(spec, host, "exited", f"ended: {spec.ended_how}"))
            continue
        if spec.agent_user in failed:
            rows.append(spec_row(spec, host, "unknown", _NOT_ANSWERED))
        elif spec.agent_user in answered or ":" in spec.agent_user:
            rows.append(spec_row(spec, host, "lost", _SERVER_GONE))
        # else: sudo refuses its agent user now (or the user is gone): not visible, like
        # every session of a user sudoers does not grant (DESIGN, visibility), not lost
    return Listing(hosts=listing.hosts, sessions=rows)


# -- writing the spec of a session about to start -----------------------------------------

def starting(
    *, operator: str, socket: str, name: str, agent: str, argv: list[str], directory: str,
    project: str, worktree: str, island: str, agent_user: str, limits: dict[str, object],
    record: bool, restart: str, previous: SessionSpec | None = None,
) -> tuple[SessionSpec, SessionSpec | None]:
    """Write the spec of a session about to start; return it and the spec it replaced
    (for :func:`failed_start`). Call before tmux (or the island) starts anything.
    ``previous``: the lost spec a resume starts again (its command, created time,
    conversation and restart policy are kept; ``resumes`` counts up). A new session under
    the name of an ended or lost one replaces its spec (the operator chose the name;
    ``session.new`` in the ledger says so). Raises AtollError when the spec cannot be
    written: the session is then not started (its spec is what makes it survive)."""
    replaced = previous or load(socket, agent_user, name)
    now = rfc3339(time.time()) or ""
    if previous is not None:
        spec = msgspec.structs.replace(previous, ended=None, ended_how=None,
                                       resumes=previous.resumes + 1, resumed_at=now)
    else:
        spec = SessionSpec(
            name=name, agent=agent, command=list(argv), directory=directory,
            project=project, worktree=worktree, island=island,  # type: ignore[arg-type]
            agent_user=agent_user, launched_by=operator, created=now, record=record,
            socket=socket,
            restart=restart,  # type: ignore[arg-type]
            cpus=limits.get("cpus"), memory=limits.get("memory"),  # type: ignore[arg-type]
            pids=limits.get("pids"), net=bool(limits.get("net")),  # type: ignore[arg-type]
            grants=list(limits.get("grants") or []),  # type: ignore[call-overload]
        )
    try:
        save(spec)
    except SpecError as exc:
        raise AtollError(f"cannot record session {name!r}: {exc}") from None
    return spec, replaced


def failed_start(spec: SessionSpec, replaced: SessionSpec | None) -> None:
    """Undo :func:`starting` after the start failed: the spec it replaced is put back as
    it was (a resumed one still lost; a running one's, when the name was taken after
    all), or the new one removed."""
    with contextlib.suppress(AtollError, OSError):
        if replaced is None:
            remove(spec)
        else:
            save(replaced)
