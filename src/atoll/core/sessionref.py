"""Session names as listed and as targets, including sessions atoll did not make.

An agent user owns its tmux server and may create sessions there by hand, with names atoll
would refuse (:func:`atoll.core.names.validate_session_name`): look-alikes such as Cyrillic
``ѕ1``, spaces, very long names, escapes. Such a session is listed under a *label* that
cannot pass for an atoll name and is safe on any terminal:

- a valid atoll name is its own label;
- any other name is shown quoted, every character outside ``[A-Za-z0-9._ -]`` escaped as
  ``\\xNN``, ``\\uNNNN`` or ``\\UNNNNNNNN`` (so ``ѕ1`` is ``'\\u04551'``); a label longer than
  :data:`MAX_LABEL` is cut and ends with the session's tmux id, ``'aaaa...'$7``, which keeps
  it unique on its server.

A label is also a target: ``atoll kill "'\\u04551'" --as USER`` finds the session whose
label it is, and the action then addresses it by its tmux session id (``-t $N``), never by
its name. ``$N`` alone is a target too.

A listed row also carries its session's *key* (:class:`SessionKey`): the tmux server it
lives on (that server's pid, since tmux restarts its ids at ``$0`` on every new server),
its tmux id and its creation time. An action given a key acts on that very session or on
none: a session killed and made again under the same name has another id (or another
server, or another creation time), so it is never the one acted on.
"""

from __future__ import annotations

import re

import msgspec

from atoll.core.errors import UsageError
from atoll.core.names import validate_session_name

MAX_LABEL = 80
_KEEP = 56  # characters of the escaped name kept in a cut label
_ATOLL_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}")
_PLAIN = re.compile(r"[A-Za-z0-9._ -]")
_LABEL = re.compile(rf"'[ -~]{{0,{MAX_LABEL}}}'(\$[0-9]{{1,10}})?")
_SESSION_ID = re.compile(r"\$[0-9]{1,10}")


def is_atoll_name(name: str) -> bool:
    """True when atoll itself would accept ``name`` for a new session."""
    return _ATOLL_NAME.fullmatch(name) is not None


def _escape(ch: str) -> str:
    if _PLAIN.fullmatch(ch):
        return ch
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def session_label(name: str, session_id: str = "") -> str:
    """The label of a session named ``name`` (raw, as tmux keeps it) with tmux id
    ``session_id`` (``$N``): printable ASCII, at most MAX_LABEL + 13 characters."""
    if is_atoll_name(name):
        return name
    escaped = "".join(_escape(c) for c in name[: MAX_LABEL + 1])
    if len(escaped) <= MAX_LABEL and len(name) <= MAX_LABEL:
        return f"'{escaped}'"
    return f"'{escaped[:_KEEP]}...'{session_id}"


def is_label(target: str) -> bool:
    """True for a quoted label or a ``$N`` session id (not an atoll name)."""
    return bool(_LABEL.fullmatch(target) or _SESSION_ID.fullmatch(target))


def validate_session_target(target: str) -> str:
    """``target`` if it is an atoll session name, a label or a ``$N`` id; else UsageError
    (the message of :func:`validate_session_name`)."""
    if is_label(target):
        return target
    return validate_session_name(target)


def matches(target: str, name: str, session_id: str) -> bool:
    """Whether ``target`` (validated) addresses the session ``name``/``session_id``."""
    if _SESSION_ID.fullmatch(target):
        return target == session_id
    if is_atoll_name(target):
        return name == target
    return session_label(name, session_id) == target


_KEY = re.compile(r"([0-9]{1,7})/(\$[0-9]{1,10})/([0-9]{1,12})")


class SessionKey(msgspec.Struct, frozen=True):
    """The identity of one tmux session: ``server_pid`` (the tmux server's pid, as tmux
    reports it in ``#{pid}``; inside a container, the pid in its namespace), ``session_id``
    (``$N``) and ``created`` (``session_created``, seconds since the epoch). Text form
    ``PID/$N/CREATED`` (:meth:`text`, :func:`parse_session_key`)."""

    server_pid: int
    session_id: str
    created: int

    def text(self) -> str:
        return f"{self.server_pid}/{self.session_id}/{self.created}"


def parse_session_key(text: str) -> SessionKey:
    """The key written as ``PID/$N/CREATED``; UsageError for anything else."""
    m = _KEY.fullmatch(text)
    if m is None:
        raise UsageError(f"invalid session key {text[:40]!r} (PID/$N/CREATED)")
    return SessionKey(int(m.group(1)), m.group(2), int(m.group(3)))


def key_of(server_pid: int | None, session_id: str, created: int | None) -> SessionKey | None:
    """The key of a listed session, or None when tmux did not report all three parts (a
    peer's row from before keys were listed, or a pane whose answer broke a bound)."""
    if server_pid is None or created is None or not _SESSION_ID.fullmatch(session_id):
        return None
    return SessionKey(server_pid, session_id, created)
