"""Host policy (``/etc/atoll/policy.toml``), parsed and applied. Pure.

    islands = ["user", "bwrap"]        # allowed island kinds ("none": sessions as yourself)
    forbid_flags = ["--dangerously-skip-permissions", "--yolo"]
    max_idle = "4h"                    # stopped by `atoll reap` after this long idle
    max_age = "3d"                     # ... or this long after it started
    allow = ["api.anthropic.com"]      # islands' egress only to these (narrows --allow)

Every key is optional; no file means no restrictions. ``allow`` narrows only: an island
may allow a subset of it, and ``--net`` is refused while it is set
(:func:`atoll.core.egress.narrow`). ``forbid_flags`` is a guard against
mistakes, not a boundary: it sees only the argv ``atoll new`` starts, so ``sh -c``, the
agent's own config files and text typed later get around it. It applies outside container
and bubblewrap islands (those confine the agent whatever its flags).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from atoll.core.config import ConfigError, _load_toml
from atoll.core.egress import Allow, parse_allow_list
from atoll.core.errors import UsageError
from atoll.core.names import has_control_chars

ISLAND_KINDS = ("none", "user", "bwrap", "docker", "podman")
KEYS = ("islands", "forbid_flags", "max_idle", "max_age", "allow")
CONFINING = frozenset({"bwrap", "docker", "podman"})
"""Island kinds ``forbid_flags`` does not apply to."""
MAX_FLAGS = 256
_DURATION = re.compile(r"(?:([0-9]{1,6})([smhdw]))+")
_PART = re.compile(r"([0-9]{1,6})([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class Policy:
    """``islands``: allowed kinds (None: all); ``forbid_flags``: refused argv elements;
    ``max_idle``/``max_age``: seconds (None: no limit); ``allow``: the egress entries an
    island may be given (None: the policy sets no list)."""

    islands: tuple[str, ...] | None = None
    forbid_flags: tuple[str, ...] = ()
    max_idle: int | None = None
    max_age: int | None = None
    allow: tuple[Allow, ...] | None = None

    @property
    def empty(self) -> bool:
        return self == Policy()


NO_POLICY = Policy()


def parse_duration(text: str, key: str = "duration", source: str = "policy") -> int:
    """Seconds from ``90s``, ``30m``, ``4h``, ``2d``, ``1w`` or sums like ``1h30m``.
    Raises ConfigError naming ``key`` and ``source``."""
    value = text.strip()
    if not _DURATION.fullmatch(value):
        raise ConfigError(f"{source}: {key} {text[:32]!r} is not a duration like 30m, 4h, 2d")
    seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(value))
    if seconds <= 0:
        raise ConfigError(f"{source}: {key} must be longer than 0s")
    return seconds


def parse_policy(data: bytes, source: str) -> Policy:
    """The policy in ``data``; ConfigError (exit 2) naming ``source`` and the key."""
    raw = _load_toml(data, source)
    for key in raw:
        if key not in KEYS:
            raise ConfigError(f"{source}: unknown key {key[:64]!r} (known: {', '.join(KEYS)})")
    islands = raw.get("islands")
    if islands is not None:
        if not isinstance(islands, list) or not all(i in ISLAND_KINDS for i in islands):
            raise ConfigError(f"{source}: islands must be a list of {', '.join(ISLAND_KINDS)}")
        islands = tuple(dict.fromkeys(islands))
    flags = raw.get("forbid_flags", [])
    if (not isinstance(flags, list) or len(flags) > MAX_FLAGS
            or not all(isinstance(f, str) and f.startswith("-") and 1 < len(f) <= 200
                       and not has_control_chars(f) and "=" not in f for f in flags)):
        raise ConfigError(f"{source}: forbid_flags must be a list of at most {MAX_FLAGS} "
                          "flags such as \"--yolo\" (no '=value')")
    durations: dict[str, int | None] = {}
    for key in ("max_idle", "max_age"):
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{source}: {key} must be a string such as \"4h\"")
        durations[key] = parse_duration(value, key, source) if value is not None else None
    return Policy(islands=islands, forbid_flags=tuple(flags), max_idle=durations["max_idle"],
                  max_age=durations["max_age"], allow=_allow(raw.get("allow"), source))


def _allow(value: object, source: str) -> tuple[Allow, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
        raise ConfigError(f"{source}: allow must be a list of \"HOST[:PORT]\" strings")
    try:
        return parse_allow_list(value)
    except UsageError as exc:
        raise ConfigError(f"{source}: allow: {exc}") from exc


def forbidden_flag(argv: list[str], flags: tuple[str, ...]) -> str | None:
    """The first flag of ``flags`` that ``argv`` holds as a whole element or as
    ``FLAG=value``, or None. The program itself (``argv[0]``) is not an argument."""
    wanted = set(flags)
    for word in argv[1:]:
        head = word.split("=", 1)[0] if word.startswith("--") else word
        if word in wanted or head in wanted:
            return head
    return None


def refusal(policy: Policy, island: str, argv: list[str]) -> tuple[str, str] | None:
    """(rule, one-line reason) when ``policy`` refuses a session in ``island`` running
    ``argv``; None when it is allowed."""
    if policy.islands is not None and island not in policy.islands:
        allowed = ", ".join(policy.islands) or "none at all"
        return "islands", f"island {island!r} is not allowed here (allowed: {allowed})"
    if island not in CONFINING:
        flag = forbidden_flag(argv, policy.forbid_flags)
        if flag is not None:
            return "forbid_flags", (f"the agent argument {flag} is forbidden outside bwrap and "
                                    "container islands (a guard against mistakes)")
    return None


def due(policy: Policy, idle_seconds: float | None, age_seconds: float | None) -> str | None:
    """``max_idle``/``max_age`` when a session this idle and this old must be stopped."""
    if policy.max_age is not None and age_seconds is not None and age_seconds >= policy.max_age:
        return "max_age"
    if (policy.max_idle is not None and idle_seconds is not None
            and idle_seconds >= policy.max_idle):
        return "max_idle"
    return None
