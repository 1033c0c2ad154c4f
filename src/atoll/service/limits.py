"""Resource limits per agent user, enforced by the kernel (cgroups), on the sum of all its
sessions (``atoll admin limits``; mechanism in :mod:`atoll.exec.cgjoin`).

Supported: the cgroup v1 (or hybrid) layout, with the ``cpu``, ``memory`` and ``pids``
controllers mounted under ``/sys/fs/cgroup`` (this project's CI machines). Refused, with a
message saying so: a pure cgroup v2 host (Debian 12 with systemd), where moving a process
needs write access to the common ancestor of both cgroups, which only root has; that needs a
root-owned helper and is not written yet.

State: ``/etc/atoll/limits.toml`` (root's; ``[agent_users.NAME]`` with ``cpus`` in cores,
``memory`` in bytes, ``pids`` a count) is what should be; the cgroup directories are what
is (they vanish at reboot: ``atoll admin limits --restore``, run by the ``@reboot`` line
``admin init`` installs, makes them again). v1 files written: ``cpu.cfs_period_us`` (100000
us) and ``cpu.cfs_quota_us`` (cpus x period), ``memory.limit_in_bytes``, ``pids.max``
(cgroup-v1 docs: Documentation/admin-guide/cgroup-v1/{memory,pids}.rst, scheduler/
sched-bwc.rst).
"""

from __future__ import annotations

import os
import pwd
import tomllib
from typing import TYPE_CHECKING, cast

import msgspec

from atoll.core.config import ConfigError
from atoll.core.errors import AtollError, NotFoundError, UsageError
from atoll.core.names import validate_user_name
from atoll.exec.cgjoin import Joined
from atoll.exec.rootfile import read_root_file
from atoll.tmux.client import TmuxClient

if TYPE_CHECKING:
    from atoll.islands.base import Island
    from atoll.service.admin import Change
    from atoll.service.context import Context

LIMITS_PATH = "/etc/atoll/limits.toml"
CONTROLLERS = ("cpu", "memory", "pids")
PERIOD_US = 100_000
SUBTREE = "atoll"


def layout(mounts_path: str = "/proc/self/mounts") -> str:
    """``v1`` (every controller of :data:`CONTROLLERS` on a v1 hierarchy), ``v2`` (a unified
    hierarchy at /sys/fs/cgroup) or ``none``."""
    return "v1" if len(v1_mounts(mounts_path)) == len(CONTROLLERS) else (
        "v2" if _is_v2(mounts_path) else "none")


def _mounts(path: str) -> list[list[str]]:
    with open(path) as fh:
        return [line.split() for line in fh if line.strip()]


def v1_mounts(mounts_path: str = "/proc/self/mounts") -> dict[str, str]:
    """``{controller: mount point}`` of the v1 hierarchies holding :data:`CONTROLLERS`."""
    out: dict[str, str] = {}
    for fields in _mounts(mounts_path):
        if len(fields) >= 4 and fields[2] == "cgroup":
            opts = fields[3].split(",")
            for ctrl in CONTROLLERS:
                if ctrl in opts and ctrl not in out:
                    out[ctrl] = fields[1]
    return out


def _is_v2(mounts_path: str) -> bool:
    return any(len(f) >= 3 and f[1] == "/sys/fs/cgroup" and f[2] == "cgroup2"
               for f in _mounts(mounts_path))


def cgroup_dirs(user: str) -> dict[str, str]:
    """``{controller: directory}`` of ``user``'s cgroups (whether they exist or not)."""
    return {c: os.path.join(m, SUBTREE, user) for c, m in v1_mounts().items()}


def read_config(path: str = LIMITS_PATH) -> dict[str, dict[str, float | int]]:
    """``{agent user: {"cpus"?, "memory"?, "pids"?}}``; {} without a file."""
    data = read_root_file(path, 1 << 20)
    if data is None:
        return {}
    try:
        table = tomllib.loads(data.decode()).get("agent_users", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    out: dict[str, dict[str, float | int]] = {}
    for user, values in table.items():
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: agent_users.{user[:32]} must be a table")
        out[validate_user_name(user)] = {k: v for k, v in values.items()
                                         if k in ("cpus", "memory", "pids")
                                         and isinstance(v, int | float)}
    return out


def render_config(entries: dict[str, dict[str, float | int]]) -> str:
    lines = ["# Written by `atoll admin limits`.", ""]
    for user in sorted(entries):
        lines.append(f'[agent_users."{validate_user_name(user)}"]')
        lines += [f"{k} = {entries[user][k]}" for k in ("cpus", "memory", "pids")
                  if k in entries[user]]
        lines.append("")
    return "\n".join(lines)


def _files(values: dict[str, float | int]) -> dict[str, dict[str, str]]:
    """``{controller: {file: value}}`` to write for ``values`` (unset ones: no limit)."""
    cpus = values.get("cpus")
    return {
        "cpu": {"cpu.cfs_period_us": str(PERIOD_US),
                "cpu.cfs_quota_us": str(int(cpus * PERIOD_US)) if cpus else "-1"},
        "memory": {"memory.limit_in_bytes": str(int(values["memory"]))
                   if "memory" in values else "-1"},
        "pids": {"pids.max": str(int(values["pids"])) if "pids" in values else "max"},
    }


def require_v1() -> None:
    found = layout()
    if found == "v1":
        return
    if found == "v2":
        raise AtollError("this host has cgroup v2 only (systemd); atoll admin limits supports "
                         "the cgroup v1/hybrid layout so far (v2 needs a root-owned helper to "
                         "move the agent's processes; not written yet): no limit was set")
    raise AtollError("no cgroup cpu, memory and pids controllers are mounted under "
                     "/sys/fs/cgroup: no limit was set")


def _write(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def apply_cgroups(user: str, values: dict[str, float | int]) -> None:
    """Make ``user``'s cgroups with ``values``, give it their ``cgroup.procs``/``tasks``,
    and move every process it runs now into them (so a server started before the limit is
    capped too). Raises AtollError when the kernel refuses."""
    require_v1()
    pw = pwd.getpwnam(user)
    files = _files(values)
    try:
        for ctrl, directory in cgroup_dirs(user).items():
            os.makedirs(directory, mode=0o755, exist_ok=True)
            for name, value in files[ctrl].items():
                _write(os.path.join(directory, name), value)
            for name in ("cgroup.procs", "tasks"):
                os.chown(os.path.join(directory, name), pw.pw_uid, pw.pw_gid)
            for pid in _pids_of(pw.pw_uid):
                try:
                    _write(os.path.join(directory, "cgroup.procs"), str(pid))
                except (ProcessLookupError, OSError):
                    continue  # it ended meanwhile, or is a kernel thread
    except OSError as exc:
        raise AtollError(f"cannot set limits for {user}: {exc.strerror} ({exc.filename})"
                         ) from exc


def _pids_of(uid: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    out.append(int(name))
            except OSError:
                continue
    return out


def _read_value(path: str) -> str | None:
    try:
        with open(path) as fh:
            return fh.read(256).strip()
    except OSError:
        return None


def _matches(found: str | None, wanted: str) -> bool:
    """A limit file reads back as written; memory is rounded down to whole pages, and an
    unset one (-1) reads as the largest page-aligned value."""
    if found is None:
        return False
    if found == wanted:
        return True
    if found.isdigit() and wanted.lstrip("-").isdigit():
        if wanted == "-1":
            return int(found) >= 1 << 62
        return 0 <= int(wanted) - int(found) < 1 << 16
    return False


def status(user: str) -> dict[str, object] | None:
    """``user``'s limits and use, or None when none are configured: ``{"cpus", "memory",
    "pids"}`` as configured, ``applied`` (the cgroups exist with those values),
    ``pids_current`` and ``memory_bytes`` (now, None when unknown)."""
    values = read_config().get(user)
    if values is None:
        return None
    out: dict[str, object] = dict(values)
    dirs = cgroup_dirs(user) if layout() == "v1" else {}
    applied = len(dirs) == len(CONTROLLERS) and all(os.path.isdir(d) for d in dirs.values())
    for ctrl, wanted in _files(values).items():
        for name, value in wanted.items():
            if applied and not _matches(_read_value(os.path.join(dirs[ctrl], name)), value):
                applied = False
    out["applied"] = applied
    pids = _read_value(os.path.join(dirs["pids"], "pids.current")) if "pids" in dirs else None
    mem = (_read_value(os.path.join(dirs["memory"], "memory.usage_in_bytes"))
           if "memory" in dirs else None)
    out["pids_current"] = int(pids) if pids and pids.isdigit() else None
    out["memory_bytes"] = int(mem) if mem and mem.isdigit() else None
    return out


def join_dirs(user: str) -> list[str]:
    """The cgroup directories a new tmux server of ``user`` must join ([] when ``user`` has
    no limits). Raises AtollError when limits are configured but their cgroups are missing,
    so that a capped agent never starts uncapped."""
    if user not in read_config():
        return []
    dirs = cgroup_dirs(user) if layout() == "v1" else {}
    if len(dirs) != len(CONTROLLERS) or not all(os.path.isdir(d) for d in dirs.values()):
        raise AtollError(f"{user} has resource limits in {LIMITS_PATH} but their cgroups are "
                         "missing; ask root to run: atoll admin limits --restore")
    return [dirs[c] for c in CONTROLLERS]


def check_agent(user: str) -> None:
    validate_user_name(user)
    if user == "root":
        raise UsageError("root cannot be limited")
    try:
        pwd.getpwnam(user)
    except KeyError:
        raise NotFoundError(f"no user {user} on this host") from None


def joined_client(client: TmuxClient, user: str, operator: str) -> TmuxClient:
    """``client``, or for an agent user with limits a client whose tmux calls first join
    that user's cgroups (:mod:`atoll.exec.cgjoin`), for the call that may start its server.
    Raises AtollError when the limits' cgroups are missing (see :func:`join_dirs`)."""
    if user == operator:
        return client
    dirs = join_dirs(user)
    if not dirs:
        return client
    return msgspec.structs.replace(client, runner=Joined(client.runner, dirs))


class _StartedJoined:
    """``island`` whose :meth:`tmux` is the joined client: what
    :func:`atoll.islands.base.start_session` gets, so only the call that may start the
    agent's tmux server pays for joining. Everything else is the island's own."""

    def __init__(self, island: Island, client: TmuxClient) -> None:
        self._island = island
        self._client = client

    def tmux(self, socket: str = "") -> TmuxClient:
        return self._client

    def __getattr__(self, name: str) -> object:
        return getattr(self._island, name)


def joined_island(island: Island, ctx: Context) -> Island:
    """``island``, or for a ``user`` or ``bwrap`` island (both live on the agent user's own
    tmux server) of an agent user with limits, the same island starting its session
    through :func:`joined_client`. AtollError as there."""
    user = getattr(island, "agent_user", None)
    if island.kind not in ("user", "bwrap") or not isinstance(user, str):
        return island
    client = island.tmux(ctx.socket)
    joined = joined_client(client, user, ctx.operator)
    if joined is client:
        return island
    return cast("Island", _StartedJoined(island, joined))


def plan_limits(user: str, cpus: float | None, memory: int | None, pids: int | None,
                *, clear: bool = False) -> list[Change]:
    """Changes capping ``user`` (values given replace the configured ones; ``clear`` drops
    them all): the config file, then the cgroups. AtollError on a host without cgroup v1."""
    from atoll.service.admin import Change, write_root_file

    check_agent(user)
    require_v1()
    if cpus is not None and not 0.01 <= cpus <= 4096:
        raise UsageError("--cpus must be between 0.01 and 4096 cores")
    if memory is not None and memory < 1 << 22:
        raise UsageError("--memory must be at least 4m")
    if pids is not None and not 1 <= pids <= 4_194_304:
        raise UsageError("--pids must be between 1 and 4194304")
    entries = read_config()
    old = entries.get(user)
    if clear:
        values: dict[str, float | int] = {}
    else:
        values = dict(old or {})
        for key, value in (("cpus", cpus), ("memory", memory), ("pids", pids)):
            if value is not None:
                values[key] = value
        if not values:
            raise UsageError("give --cpus, --memory or --pids (or --clear)")
    changes: list[Change] = []
    if clear:
        if old is not None:
            rest = {u: v for u, v in entries.items() if u != user}
            changes.append(Change("limits.write", user, f"drop {user}'s limits from "
                                  f"{LIMITS_PATH}",
                                  lambda: write_root_file(LIMITS_PATH, render_config(rest))))
    elif old != values:
        wanted = {**entries, user: values}
        shown = ", ".join(f"{k} {v}" for k, v in values.items())
        changes.append(Change("limits.write", user, f"cap {user}: {shown} in {LIMITS_PATH}",
                              lambda: write_root_file(LIMITS_PATH, render_config(wanted))))
    current = status(user)
    if clear or not (current and current.get("applied")) or old != values:
        changes.append(Change("cgroup.apply", user,
                              f"set {user}'s cgroups ({', '.join(cgroup_dirs(user).values())})"
                              " and move its processes in",
                              lambda: apply_cgroups(user, values)))
    return changes


def plan_restore() -> list[Change]:
    """Changes making every configured agent user's cgroups again (after a reboot)."""
    from atoll.service.admin import Change

    out = []
    for user, values in sorted(read_config().items()):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue  # an account removed since; its entry does nothing
        current = status(user)
        if not (current and current.get("applied")):
            out.append(Change("cgroup.apply", user, f"restore {user}'s cgroups",
                              lambda u=user, v=values: apply_cgroups(u, v)))  # type: ignore[misc]
    if out:
        require_v1()
    return out


def caps_of(users: list[str]) -> dict[str, dict[str, object]]:
    """``{agent user: status}`` for those of ``users`` with limits (see :func:`status`);
    an unreadable limits file gives {} (``atoll admin check`` reports it)."""
    out: dict[str, dict[str, object]] = {}
    for user in users:
        try:
            found = status(user)
        except AtollError:
            return {}
        if found is not None:
            out[user] = found
    return out


def describe(user: str, state: dict[str, object]) -> str:
    """One line: ``wes-agent: cpus 2, memory 4.0 GiB, pids 512 (now 12 pids, 1.1 GiB)``."""
    parts = []
    if "cpus" in state:
        parts.append(f"cpus {state['cpus']:g}" if isinstance(state["cpus"], float | int)
                     else "cpus ?")
    memory, used = state.get("memory"), state.get("memory_bytes")
    if isinstance(memory, int):
        parts.append(f"memory {memory / (1 << 30):.1f} GiB")
    if "pids" in state:
        parts.append(f"pids {state['pids']}")
    now = []
    if isinstance(state.get("pids_current"), int):
        now.append(f"{state['pids_current']} pids")
    if isinstance(used, int):
        now.append(f"{used / (1 << 30):.1f} GiB")
    tail = f" (now {', '.join(now)})" if now else ""
    if not state.get("applied"):
        tail += " NOT APPLIED (atoll admin limits --restore)"
    return f"{user}: {', '.join(parts) or 'no cap'}{tail}"
