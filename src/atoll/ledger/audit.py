"""What the service layer calls to record actions: :class:`Actor` and :class:`Audit`.

Every action is written *before* it takes effect::

    audit = Audit(Ledger(ledger_path(None)), host="devbox", actor=Actor.current())
    with audit.action("session.kill", {"session": "local:fix-bug"}, {"signal": "TERM"}):
        tmux.kill_session(...)   # runs only if the "intent" record is durable

The intent append raises :class:`~atoll.ledger.errors.LedgerWriteError` when the ledger cannot
be written, so the block never runs (fail closed). After the block an ``ok`` or ``error``
record refers back to the intent by its seq.

Record fields, in stored order: ``seq, time, host, actor, action, target, outcome, details,
correlation, prev`` (``time`` RFC 3339 UTC; ``actor`` = :meth:`Actor.to_json`; ``target``
string to string; ``correlation`` an id shared by related records, or null).
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import platform
import pwd
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from atoll.core.errors import AtollError
from atoll.ledger.errors import LedgerWriteError
from atoll.ledger.store import Ledger

ACTIONS: frozenset[str] = frozenset(
    {
        "session.new",
        "session.kill",
        "session.resume",
        "session.forget",
        "session.purge-spec",
        "session.reconnect",
        "session.attach",
        "session.detach",
        "session.type",
        "session.peek",
        "session.logs",
        "session.key",
        "island.purge",
        "grant.add",
        "grant.revoke",
        "crossing.read",
        "crossing.write",
        "crossing.intake",
        "crossing.export",
        "crossing.egress",
        "config.change",
        "host.add",
        "transcript.closed",
        "audit.checkpoint",
        "mcp.open",
        "mcp.close",
        "mcp.list_sessions",
        "mcp.read_screen",
        "mcp.type_text",
        "mcp.send_key",
        "mcp.wait_for_screen",
        "mcp.connect",
        "admin.change",
        "policy.refuse",
        "session.reap",
    }
)
"""Action names :class:`Audit` accepts (``audit.recover`` is written by the store itself)."""

OUTCOMES: frozenset[str] = frozenset({"intent", "ok", "error", "denied"})


@dataclass(frozen=True)
class Actor:
    """Who acts: ``uid``/``user`` from the real uid (never ``$USER``); ``sudo_user`` the
    invoking user when running under sudo (``SUDO_USER``/``SUDO_UID``, accepted only when a
    ``sudo`` process with that real uid is an ancestor); ``ssh_client`` the client address
    from ``SSH_CONNECTION``/``SSH_CLIENT`` (as the environment claims it)."""

    uid: int
    user: str
    sudo_user: str | None = None
    ssh_client: str | None = None

    @classmethod
    def current(cls, environ: Mapping[str, str] | None = None) -> Actor:
        """The actor of this process (``environ`` defaults to ``os.environ``)."""
        env = os.environ if environ is None else environ
        uid = os.getuid()
        try:
            user = pwd.getpwuid(uid).pw_name
        except KeyError:
            user = str(uid)
        sudo_user, sudo_env = _verified_sudo(env)
        client = _ssh_client(env)
        if client is None and sudo_env is not None:
            client = _ssh_client(sudo_env)
        return cls(uid=uid, user=user, sudo_user=sudo_user, ssh_client=client)

    def to_json(self) -> dict[str, object]:
        return {
            "uid": self.uid,
            "user": self.user,
            "sudo_user": self.sudo_user,
            "ssh_client": self.ssh_client,
        }


def _ssh_client(env: Mapping[str, str]) -> str | None:
    for var in ("SSH_CONNECTION", "SSH_CLIENT"):
        words = env.get(var, "").split()
        if words:
            try:
                return str(ipaddress.ip_address(words[0]))
            except ValueError:
                continue
    return None


def _verified_sudo(env: Mapping[str, str]) -> tuple[str | None, dict[str, str] | None]:
    """(invoking user, the sudo process's environment if readable), or (None, None) when
    SUDO_* is absent, inconsistent, or no ancestor ``sudo`` was run by that uid."""
    name, uid_text = env.get("SUDO_USER"), env.get("SUDO_UID", "")
    if not name or not uid_text.isdigit():
        return None, None
    uid = int(uid_text)
    import psutil  # not at the top: the host ledger append command imports this module

    try:
        if pwd.getpwuid(uid).pw_name != name:
            return None, None
        for proc in psutil.Process().parents():
            if proc.name() == "sudo" and proc.uids().real == uid:
                try:
                    sudo_env: dict[str, str] = proc.environ()
                except psutil.Error:
                    sudo_env = {}
                return name, sudo_env
    except (KeyError, psutil.Error):
        return None, None
    return None, None


def typed_details(text: str, *, enter: bool) -> dict[str, object]:
    """Details of a ``session.type`` record: the text, its SHA-256 (hex, of the UTF-8
    bytes), its length in bytes, and whether Enter was pressed."""
    raw = text.encode("utf-8", "surrogateescape")
    return {
        "text": text,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "bytes": len(raw),
        "enter": enter,
    }


def this_host() -> str:
    """This machine's hostname (``uname -n``), the ``host`` of every record it writes
    ("localhost" when the kernel has none)."""
    return platform.node() or "localhost"


def new_correlation_id() -> str:
    """A fresh random id (16 hex) for grouping related records."""
    return secrets.token_hex(8)


def _one_line_error(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, AtollError):
        return str(exc)
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Audit:
    """Writes the records of one actor on one host into ``ledger``.

    ``host`` is the name this host goes by in records; ``correlation_id`` (or None) is put in
    every record this object writes. ``mirror``, when set, is given each event after it is
    in ``ledger`` (the host ledger, :mod:`atoll.ledger.hostledger`); its LedgerWriteError
    propagates like the ledger's own.
    """

    def __init__(
        self,
        ledger: Ledger,
        host: str,
        actor: Actor,
        correlation_id: str | None = None,
        mirror: Callable[[Mapping[str, object]], None] | None = None,
    ) -> None:
        self.ledger = ledger
        self.host = host
        self.actor = actor
        self.correlation_id = correlation_id
        self.mirror = mirror

    def event(
        self,
        action: str,
        target: Mapping[str, str],
        outcome: str,
        details: Mapping[str, object] | None = None,
    ) -> dict[str, object]:
        """Append one record and return it as stored (with ``seq``, ``time``, ``prev``).

        Raises ValueError for an unknown action or outcome (a programming error) and
        LedgerWriteError when the record is not durable.
        """
        if action not in ACTIONS:
            raise ValueError(f"unknown ledger action {action!r}")
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown ledger outcome {outcome!r}")
        clear = dict(details or {})
        event = {
            "host": self.host,
            "actor": self.actor.to_json(),
            "action": action,
            "target": {str(k): str(v) for k, v in target.items()},
            "outcome": outcome,
            "details": clear,
            "correlation": self.correlation_id,
        }
        stored = self.ledger.append(event)
        if self.mirror is not None:
            try:
                self.mirror({**event, "details": {**clear, "source_seq": stored["seq"]}})
            except LedgerWriteError as exc:
                if outcome == "intent":  # the action will not happen: say so here too
                    self.ledger.append({**event, "outcome": "error", "details": {
                        "intent": stored["seq"], "error": _one_line_error(exc)}})
                raise
        return stored

    @contextmanager
    def action(
        self,
        action: str,
        target: Mapping[str, str],
        details: Mapping[str, object] | None = None,
    ) -> Iterator[dict[str, object]]:
        """Record ``action`` as ``intent``, run the block, then record ``ok`` or ``error``.

        Yields the stored intent record. If the intent cannot be written, LedgerWriteError
        propagates and the block does not run. The outcome record's details are
        ``{"intent": <intent seq>}`` plus ``"error": <one-line message>`` on failure; the
        block's exception is re-raised unchanged (even if that record cannot be written).
        If the block succeeded but its ``ok`` record cannot be written, LedgerWriteError
        is raised: the action has happened, and its outcome is missing from the ledger.
        """
        intent = self.event(action, target, "intent", details)
        try:
            yield intent
        except BaseException as exc:
            failure = {"intent": intent["seq"], "error": _one_line_error(exc)}
            try:
                self.event(action, target, "error", failure)
            except AtollError as lost:
                exc.add_note(f"atoll: the error record was not written: {lost}")
            raise
        self.event(action, target, "ok", {"intent": intent["seq"]})


def actor_from_json(data: Mapping[str, object]) -> Actor:
    """Inverse of :meth:`Actor.to_json`; raises ValueError on a malformed mapping."""
    uid = data.get("uid")
    user = data.get("user")
    if not isinstance(uid, int) or not isinstance(user, str):
        raise ValueError("actor needs an integer uid and a string user")
    sudo_user = data.get("sudo_user")
    client = data.get("ssh_client")
    return Actor(
        uid=uid,
        user=user,
        sudo_user=sudo_user if isinstance(sudo_user, str) else None,
        ssh_client=client if isinstance(client, str) else None,
    )
