"""Data shapes of the CLI/JSON contract (shared/DESIGN.md, "CLI surface").

``Listing`` is exactly what ``atoll ls --json`` prints. Times are RFC 3339 UTC strings,
sizes are bytes, CPU is percent of one core. Field names are stable: renaming one breaks
every peer that parses ``atoll ls --json --here`` over SSH.

``schema_version`` (:data:`SCHEMA_VERSION`) is the listing's major version: fields may be
added without changing it (a reader ignores fields it does not know and defaults the ones
a peer does not send); a rename, a removal or a change of meaning raises it, and a reader
refuses a listing of a newer major than its own (atoll.fleet.remote). An answer without
the field is from an atoll before versioning: major 0, read as such.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import msgspec

Status = Literal["running", "waiting", "error", "idle", "exited", "lost", "unknown"]
STATUSES: tuple[Status, ...] = ("running", "waiting", "error", "idle", "exited", "lost",
                                "unknown")
SCHEMA_VERSION = 1
"""The major version of ``atoll ls --json`` (1: rows carry tmux's ids and their server)."""


class SessionRow(msgspec.Struct, kw_only=True):
    """One session as listed. ``agent_user`` is the Linux user the tmux server runs as.

    ``name`` is the session's label (:func:`atoll.core.sessionref.session_label`: the name
    itself for names atoll makes, quoted and escaped otherwise); ``launched_by`` is empty
    for a session atoll did not make. ``reason`` is one line for a status that needs one
    (``unknown``: which field of the tmux answer broke which rule)."""

    host: str
    name: str
    agent: str
    project: str
    worktree: str
    agent_user: str
    launched_by: str
    island: str
    status: Status
    idle_seconds: int | None
    created: str | None
    last_activity: str | None
    attached: int
    cpu_percent: float | None
    rss_bytes: int | None
    pid: int | None
    command: str
    exit_status: int | None
    #: why a session is ``waiting`` or ``error`` (permission, question, plan, sign-in,
    #: trust, login, rate-limit, model-unavailable, ai-typed, ...; atoll.core.patterns)
    reason: str | None = None
    #: Linux users whose AI the session is opened to (``atoll mcp open``; operator's view)
    opened_to: list[str] = msgspec.field(default_factory=list)
    #: tmux's own ids of the session (``$N``) and of its first pane (``%N``), the pid of
    #: the tmux server they live on (ids restart at ``$0``/``%0`` on every new server) and
    #: the session's creation time (seconds since the epoch): together its key
    #: (:class:`atoll.core.sessionref.SessionKey`). Empty/None from a peer of schema 0.
    session_id: str = ""
    pane_id: str = ""
    server_pid: int | None = None
    session_created: int | None = None
    #: where the session's tmux options disagree with its spec (atoll.core.specs): the
    #: row shows the spec's BY/AGENT/PROJECT, this line what the options claimed
    mismatch: str | None = None
    #: when ``kill`` ended it (RFC 3339); only ``ls --all`` lists ended sessions
    ended: str | None = None
    #: the island's network: ``none``, ``allow`` (an allow-list through atoll's egress
    #: proxy) or ``net`` (everything; also user islands, which share the host's network);
    #: empty when the session did not record it
    net: str = ""


class HostRow(msgspec.Struct, kw_only=True):
    """Reachability of one host in a listing; ``stale`` marks a cached answer."""

    host: str
    reachable: bool
    error: str | None = None
    stale: bool = False
    age_seconds: float | None = None


class Listing(msgspec.Struct, kw_only=True):
    """The object ``atoll ls --json`` prints."""

    hosts: list[HostRow]
    sessions: list[SessionRow]
    schema_version: int = SCHEMA_VERSION


class PeerListing(Listing, kw_only=True):
    """A listing as a peer sent it: without ``schema_version`` it is of major 0."""

    schema_version: int = 0


def encode_listing(listing: Listing) -> bytes:
    """JSON bytes of ``listing`` (no trailing newline)."""
    return msgspec.json.encode(listing)


def decode_listing(data: bytes) -> PeerListing:
    """Parse and validate a listing (a missing ``schema_version`` is 0); raises
    ``msgspec.ValidationError``/``DecodeError``."""
    return msgspec.json.decode(data, type=PeerListing)


def filter_sessions(listing: Listing, statuses: Iterable[str] = (),
                    users: Iterable[str] = ()) -> Listing:
    """``listing`` with only the sessions whose status is one of ``statuses`` and whose
    agent user or launcher is one of ``users`` (an empty filter keeps every session)."""
    want_status, want_users = set(statuses), set(users)
    kept = [r for r in listing.sessions
            if (not want_status or r.status in want_status)
            and (not want_users or r.agent_user in want_users or r.launched_by in want_users)]
    return Listing(hosts=listing.hosts, sessions=kept, schema_version=listing.schema_version)
