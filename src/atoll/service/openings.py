"""Which sessions a human has opened to an AI (``atoll mcp open``), kept by the operator.

An opening names a session as ``atoll ls`` shows it, the tmux server it lives on (the
agent user that owns it, or the operator's own), the tmux session itself (``session_id``
and ``session_created``: a session killed and re-created under the same name is NOT the
one that was opened), and the one Linux user whose ``atoll mcp`` may use it (``for_user``;
the operator by default). Everything else is invisible to the MCP tools.

The file is ``state_dir()/mcp-openings.json``: written atomically, 0600, by the operator
only; read with a size cap, never through a symlink. An agent user never reads it: its
requests reach the operator's bridge (:mod:`atoll.service.bridge`), which does.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import msgspec

from atoll.core.errors import NotFoundError, UsageError
from atoll.core.names import validate_session_name, validate_user_name
from atoll.service.context import Context

#: Openings file cap: far more than a person opens (about 300 bytes an opening).
MAX_FILE = 1 << 20
MAX_OPENINGS = 256


class Opening(msgspec.Struct, frozen=True, kw_only=True):
    """One session opened to one user's AI."""

    name: str
    server_user: str
    session_id: str
    session_created: int
    for_user: str
    opened_by: str
    opened_at: float


class _File(msgspec.Struct):
    openings: list[Opening] = msgspec.field(default_factory=list)


def openings_path() -> Path:
    """``$XDG_STATE_HOME/atoll/mcp-openings.json`` of the operator."""
    from atoll.ledger.store import state_dir

    return state_dir() / "mcp-openings.json"


def load(path: Path | None = None) -> list[Opening]:
    """Every opening; ``[]`` when there is no file. Raises UsageError for a file that is
    not a regular file of ours, too big, or malformed (the operator can fix or remove it)."""
    path = path or openings_path()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        st = os.fstat(fd)
        import stat

        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid():
            raise UsageError(f"{path} is not a regular file owned by you: remove it")
        data = os.read(fd, MAX_FILE + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_FILE:
        raise UsageError(f"{path} is larger than {MAX_FILE} bytes: remove it")
    try:
        return msgspec.json.decode(data, type=_File).openings
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise UsageError(f"{path} is not a valid openings file ({exc}): remove it") from exc


def _save(openings: list[Opening], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600)
    try:
        os.write(fd, msgspec.json.encode(_File(openings)))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def add(ctx: Context, opening: Opening, path: Path | None = None) -> None:
    """Store ``opening``, replacing an earlier opening of the same session for the same
    user. Raises UsageError past :data:`MAX_OPENINGS`."""
    path = path or openings_path()
    kept = [o for o in load(path)
            if not (o.name == opening.name and o.server_user == opening.server_user
                    and o.for_user == opening.for_user)]
    if len(kept) >= MAX_OPENINGS:
        raise UsageError(f"at most {MAX_OPENINGS} sessions can be open to AIs at once")
    _save([*kept, opening], path)


def remove(ctx: Context, name: str, for_user: str | None = None,
           path: Path | None = None) -> list[Opening]:
    """Forget the openings of session ``name`` (for ``for_user`` only, when given);
    returns what was removed. Raises NotFoundError when nothing was open."""
    validate_session_name(name)
    path = path or openings_path()
    every = load(path)
    gone = [o for o in every if o.name == name and for_user in (None, o.for_user)]
    if not gone:
        raise NotFoundError(f"session {name!r} is not open to any AI")
    _save([o for o in every if o not in gone], path)
    return gone


def new_opening(ctx: Context, name: str, server_user: str, session_id: str,
                session_created: int, for_user: str | None) -> Opening:
    """An opening of the session identified by tmux, for ``for_user`` (default: the
    operator). Raises UsageError for a bad user name."""
    user = for_user or ctx.operator
    validate_user_name(user)
    return Opening(name=name, server_user=server_user, session_id=session_id,
                   session_created=session_created, for_user=user, opened_by=ctx.operator,
                   opened_at=time.time())


def for_user(user: str, path: Path | None = None) -> list[Opening]:
    """The openings ``user``'s AI may use."""
    return [o for o in load(path) if o.for_user == user]


def find(user: str, name: str, path: Path | None = None) -> Opening:
    """The opening of session ``name`` for ``user``. Raises NotFoundError (the same words
    whether the session does not exist or was not opened: a closed session is invisible)."""
    hits = [o for o in for_user(user, path) if o.name == name]
    if not hits:
        raise NotFoundError(f"no session {name!r} is open to this AI")
    return hits[-1]
