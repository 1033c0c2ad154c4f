"""Which sessions a human has opened to an AI (``atoll mcp open``), kept by the operator.

An opening names a session as ``atoll ls`` shows it, the tmux server it lives on (the
agent user that owns it, or the operator's own), the tmux session itself (``session_id``
and ``session_created``: a session killed and re-created under the same name is NOT the
one that was opened), and the one Linux user whose ``atoll mcp`` may use it (``for_user``;
the operator by default). Everything else is invisible to the MCP tools.

A session on another host (``HOST:NAME``) is opened on both sides: the peer's atoll keeps
an opening of its own (to the operator's account there, bound to the tmux session on that
host), and this side keeps one with ``host`` set, naming the local user whose AI may use
it. Every tool call on it goes through the peer's atoll over SSH (:mod:`atoll.service.
operator`), so the peer's opening decides there, and its ledger records the call too.

The file is ``state_dir()/mcp-openings.json``: written atomically, 0600, by the operator
only; read with a size cap, never through a symlink. An agent user never reads it: its
requests reach the operator's bridge (:mod:`atoll.service.bridge`), which does.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec

from atoll.core.errors import AtollError, NotFoundError, UsageError
from atoll.core.models import Listing, SessionRow
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
    #: what the AI typed last (sanitised), so the listing can show the prepared line
    last_typed: str = ""
    #: the configured host (or SSH alias) the session lives on; "" for this host
    host: str = ""
    #: on another host: the user the peer's own opening is for (the operator's account
    #: there), so closing here closes exactly that one there
    peer_for: str = ""

    @property
    def label(self) -> str:
        """The session as the AI names it: ``NAME``, or ``HOST:NAME`` on another host."""
        return f"{self.host}:{self.name}" if self.host else self.name


class _File(msgspec.Struct):
    openings: list[Opening] = msgspec.field(default_factory=list)


def openings_path() -> Path:
    """``$XDG_STATE_HOME/atoll/mcp-openings.json`` of the operator (beside the ledger).
    platformdirs directly: importing the ledger package would cost every ``atoll ls``
    its cryptography imports."""
    import platformdirs

    return platformdirs.user_state_path("atoll") / "mcp-openings.json"


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


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Changes are read-modify-write by the CLI and the bridge at once: one at a time."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path.with_name(f".{path.name}.lock"),
                 os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _same(a: Opening, b: Opening) -> bool:
    return ((a.host, a.name, a.server_user, a.for_user)
            == (b.host, b.name, b.server_user, b.for_user))


def add(ctx: Context, opening: Opening, path: Path | None = None) -> None:
    """Store ``opening``, replacing an earlier opening of the same session for the same
    user. Raises UsageError past :data:`MAX_OPENINGS`."""
    path = path or openings_path()
    with _locked(path):
        kept = [o for o in load(path) if not _same(o, opening)]
        if len(kept) >= MAX_OPENINGS:
            raise UsageError(f"at most {MAX_OPENINGS} sessions can be open to AIs at once")
        _save([*kept, opening], path)


def note_typed(opening: Opening, text: str, path: Path | None = None) -> None:
    """Remember ``text`` as what the AI typed last into ``opening``'s session."""
    path = path or openings_path()
    with _locked(path):
        every = load(path)
        _save([msgspec.structs.replace(o, last_typed=text[:512]) if _same(o, opening) else o
               for o in every], path)


def remove(ctx: Context, name: str, for_user: str | None = None,
           path: Path | None = None, host: str = "") -> list[Opening]:
    """Forget the openings of session ``name`` on ``host`` ("" for this one; for
    ``for_user`` only, when given); returns what was removed. Raises NotFoundError when
    nothing was open."""
    validate_session_name(name)
    path = path or openings_path()
    with _locked(path):
        every = load(path)
        gone = [o for o in every if (o.host, o.name) == (host, name)
                and for_user in (None, o.for_user)]
        if not gone:
            label = f"{host}:{name}" if host else name
            raise NotFoundError(f"session {label!r} is not open to any AI")
        _save([o for o in every if o not in gone], path)
    return gone


def new_opening(ctx: Context, name: str, server_user: str, session_id: str,
                session_created: int, for_user: str | None, host: str = "") -> Opening:
    """An opening of the session identified by tmux (on ``host``, "" for this one), for
    ``for_user`` (default: the operator). Raises UsageError for a bad user name."""
    user = for_user or ctx.operator
    validate_user_name(user)
    return Opening(name=name, server_user=server_user, session_id=session_id,
                   session_created=session_created, for_user=user, opened_by=ctx.operator,
                   opened_at=time.time(), host=host)


def for_user(user: str, path: Path | None = None) -> list[Opening]:
    """The openings ``user``'s AI may use."""
    return [o for o in load(path) if o.for_user == user]


def find(user: str, name: str, path: Path | None = None) -> Opening:
    """The opening of session ``name`` (``HOST:NAME`` for another host's) for ``user``.
    Raises NotFoundError (the same words whether the session does not exist or was not
    opened: a closed session is invisible)."""
    hits = [o for o in for_user(user, path) if o.label == name]
    if not hits:
        raise NotFoundError(f"no session {name!r} is open to this AI")
    return hits[-1]


def _rows_typed_line(ctx: Context, opening: Opening) -> bool:
    """Whether the session's cursor line (and the rows the text may wrap over) still
    holds what the AI typed last: the prepared line waits for the human's Enter."""
    from atoll.fleet.servers import runner_for
    from atoll.tmux.client import TmuxClient

    client = TmuxClient(runner_for(opening.server_user, ctx.operator), ctx.socket,
                        timeout=2.0)
    try:
        info = client.pane_info(opening.name)
        if (info.session_id, info.session_created) != (opening.session_id,
                                                        opening.session_created):
            return False
        rows = client.capture_visible(opening.name).split("\n")
    except AtollError:
        return False
    span = len(opening.last_typed) // max(info.width, 1) + 1
    around = "".join(rows[max(0, info.cursor_y - span): info.cursor_y + 1])
    # whitespace aside: a wrapped row loses its trailing space in the capture (tmux trims)
    return "".join(opening.last_typed.split()) in "".join(around.split())


def annotate(ctx: Context, listing: Listing) -> Listing:
    """Mark the listed sessions that are open to an AI (``opened_to``; for another host's
    rows, the users this side opened them to are added to the peer's own list), and show a
    session on this host (``ctx.host``)
    whose cursor line still holds what the AI typed last as ``waiting`` with reason
    ``ai-typed``. Costs one failed ``open`` when nothing is open (the usual case), and a
    tmux call per session with text the AI typed."""
    try:
        every = load()
    except AtollError:
        return listing
    if not every:
        return listing
    here = ctx.host
    by_row: dict[tuple[str, str, str], list[Opening]] = {}
    for o in every:
        by_row.setdefault((o.host or here, o.server_user, o.name), []).append(o)
    rows: list[SessionRow] = []
    for row in listing.sessions:
        hits = by_row.get((row.host, row.agent_user, row.name))
        if not hits:
            rows.append(row)
            continue
        if row.host != here:  # the peer's own listing says whether the AI's line waits
            opened = sorted({*row.opened_to, *(o.for_user for o in hits)})
            rows.append(msgspec.structs.replace(row, opened_to=opened))
            continue
        changes: dict[str, object] = {"opened_to": sorted({o.for_user for o in hits})}
        typed = [o for o in hits if o.last_typed.strip()]
        if typed and row.status not in ("exited", "unknown") and _rows_typed_line(ctx, typed[-1]):
            changes.update(status="waiting", reason="ai-typed")
        rows.append(msgspec.structs.replace(row, **changes))
    return msgspec.structs.replace(listing, sessions=rows)
