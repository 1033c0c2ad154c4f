"""What ``atoll admin`` writes, as text: sudoers rules, the person-to-agent-user map, and the
host ledger's redaction of records. Pure: no I/O (the service layer installs the text).

Sudoers files (one per subject, so a change touches one file and a revocation removes one):

- ``/etc/sudoers.d/atoll-person-NAME``: ``NAME ALL=(NAME-agent) NOPASSWD: ALL``;
- ``/etc/sudoers.d/atoll-lead-LEAD``: ``LEAD ALL=(A,B) NOPASSWD: ALL`` with a machine-read
  comment ``# atoll-lead-over: A B`` holding the same list;
- ``/etc/sudoers.d/atoll-ledger``: the host ledger's append rule.

Names cannot hold ``.`` (:func:`atoll.core.names.validate_user_name`), and sudo skips files
whose names hold one (sudoers(5), "#includedir"), which is why temporary files start with it.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Iterable, Mapping

import msgspec

from atoll.core.names import validate_user_name

SUDOERS_DIR = "/etc/sudoers.d"
PERSON_PREFIX = "atoll-person-"
LEAD_PREFIX = "atoll-lead-"
LEDGER_SUDOERS = "atoll-ledger"
LEAD_MARK = "# atoll-lead-over:"
AGENT_GROUP = "atoll-agents"
"""Group every agent user made by ``add-person`` joins (the default of ``agent_group``)."""
OPS_GROUP = "atoll-ops"
"""Group of the people of this host: members may append to, and read, the host ledger."""
LEDGER_USER = "atoll-ledger"
"""System user owning the host ledger file."""
HEADER = "# Written by `atoll admin`; edit with atoll admin (hand edits are overwritten).\n"


def person_file(person: str) -> str:
    return f"{SUDOERS_DIR}/{PERSON_PREFIX}{validate_user_name(person)}"


def lead_file(lead: str) -> str:
    return f"{SUDOERS_DIR}/{LEAD_PREFIX}{validate_user_name(lead)}"


def person_rule(person: str, agent: str) -> str:
    """The sudoers text letting ``person`` act as ``agent`` (and nothing else)."""
    validate_user_name(person)
    validate_user_name(agent)
    return (
        f"{HEADER}"
        f"# {person} may run anything as {agent}, their agent user, without a password.\n"
        f"# This constrains the agent, not the person: {agent} gets none of {person}'s\n"
        f"# rights (files, keys, groups); {person} keeps all of them.\n"
        f"{person} ALL=({agent}) NOPASSWD: ALL\n"
    )


def lead_rule(lead: str, agents: Iterable[str]) -> str:
    """The sudoers text letting ``lead`` act as each of ``agents`` (sorted, deduplicated);
    ValueError when there are none (no rule: the file is removed instead)."""
    validate_user_name(lead)
    over = sorted({validate_user_name(a) for a in agents})
    if not over:
        raise ValueError("a lead rule needs at least one agent user")
    return (
        f"{HEADER}"
        f"# {lead} leads these agent users: sees, attaches to and types into their sessions.\n"
        f"# Revoke on this host with: atoll admin unlead {lead} --over ...\n"
        f"{LEAD_MARK} {' '.join(over)}\n"
        f"{lead} ALL=({','.join(over)}) NOPASSWD: ALL\n"
    )


def lead_over(text: str) -> list[str]:
    """The agent users a lead file written by :func:`lead_rule` names ([] when none)."""
    for line in text.splitlines():
        if line.startswith(LEAD_MARK):
            return sorted(w for w in line[len(LEAD_MARK):].split() if w)
    return []


def ledger_rule(group: str, user: str, command: list[str]) -> str:
    """Members of ``group`` may run exactly ``command`` (no other arguments) as ``user``.

    sudoers(5): a command given with arguments matches only those exact arguments. Raises
    ValueError for an argument sudoers would read specially (``,:=\\`` or white space)."""
    for word in command:
        if not word or any(c in word for c in ",:=\\ \t\n\"'#"):
            raise ValueError(f"cannot put {word!r} in a sudoers command")
    return (
        f"{HEADER}"
        f"# Members of {group} append to the host ledger through exactly this command,\n"
        f"# which sets the actor from SUDO_UID; nobody in {group} can rewrite the file.\n"
        f"%{group} ALL=({user}) NOPASSWD: {' '.join(command)}\n"
    )


def render_agent_map(entries: Mapping[str, str]) -> str:
    """``/etc/atoll/agent-users.toml`` for ``{person: agent_user}`` (sorted by person)."""
    lines = [HEADER.rstrip("\n"), "[agent_users]"]
    for person in sorted(entries):
        lines.append(f'{validate_user_name(person)} = "{validate_user_name(entries[person])}"')
    return "\n".join(lines) + "\n"


def agent_map_from(text: str) -> dict[str, str]:
    """Inverse of :func:`render_agent_map` for files this module wrote (the service reads
    the host's file with :func:`atoll.service.defaultuser.read_agent_map`)."""
    table = tomllib.loads(text).get("agent_users", {})
    return {str(k): str(v) for k, v in table.items()}


# -- the host ledger's redaction --------------------------------------------------------

CLEAR_TARGET_KEYS = frozenset({"agent_user", "session", "island", "host", "user", "person",
                               "lead", "agent", "subject"})
"""Target fields kept in clear in the host ledger: who acted on which session or account."""

CLEAR_DETAIL_KEYS = frozenset({
    "agent", "island", "enter", "read_only", "intent", "signal", "change", "subject",
    "policy", "rule", "flag", "cpus", "memory", "pids", "idle_seconds", "age_seconds",
    "key_id", "over", "kind", "count", "source_seq",
})  # fmt: skip
"""Detail fields kept in clear: enumerations, numbers, names. Every other value (typed text,
paths, commands, error messages) is stored as ``{"sha256": HEX, "bytes": N}``."""

MAX_CLEAR_TEXT = 200


def digest(value: object) -> dict[str, object]:
    """``{"sha256", "bytes"}`` of a string's UTF-8 bytes, or of another value's JSON."""
    raw = (value.encode("utf-8", "surrogateescape") if isinstance(value, str)
           else msgspec.json.encode(value))
    return {"sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw)}


def _clear(value: object) -> bool:
    if value is None or isinstance(value, bool | int | float):
        return True
    if isinstance(value, str):
        return len(value) <= MAX_CLEAR_TEXT and value.isprintable()
    if isinstance(value, list):
        return all(isinstance(v, str) and _clear(v) for v in value) and len(value) <= 64
    return False


def redact(target: Mapping[str, object], details: Mapping[str, object],
           ) -> tuple[dict[str, object], dict[str, object]]:
    """(target, details) as the host ledger stores them: fields outside
    :data:`CLEAR_TARGET_KEYS`/:data:`CLEAR_DETAIL_KEYS`, and clear-listed values that are
    long or hold control characters, become :func:`digest` objects."""
    out_t = {str(k): (v if str(k) in CLEAR_TARGET_KEYS and _clear(v) else digest(v))
             for k, v in target.items()}
    out_d = {str(k): (v if str(k) in CLEAR_DETAIL_KEYS and _clear(v) else digest(v))
             for k, v in details.items()}
    return out_t, out_d
