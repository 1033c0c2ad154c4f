"""Islands, the pure part: specs, names, labels, grant text, and the argv of a sandbox.

Rules (shared/DESIGN.md decision 8, docs/islands.md):
- a container island is named ``atoll-{hash8}-{name}``, where ``hash8`` is the first 8 hex
  digits of the SHA-256 of the absolute project path (UTF-8), and ``name`` is a valid
  session name (:func:`atoll.core.names.validate_session_name`); its workspace volume is
  ``atoll-{hash8}-{name}-ws``; both carry the labels of :func:`island_labels`;
- a bwrap island lives in ``~AGENT/.atoll/islands/{hash8}-{name}/`` on the host;
- grants are ``PATH`` (read-only) or ``PATH:rw``; a grant path is absolute, normalised (no
  ``.``/``..`` components, no ``//``), free of control characters, ``,`` and ``:`` (they
  would be read as separators by ``docker -v``), and never ``/`` or a system directory;
  the checks that need the file system (symlinks, directories, the operator's home) are in
  :mod:`atoll.islands.grants`;
- sizes are bytes; ``parse_size`` reads ``512m``/``2g``/``1024k``/``4096`` (binary units,
  as ``docker run --memory`` does).

Nothing here does I/O, reads the environment or the clock.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from atoll.core.egress import Allow
from atoll.core.errors import UsageError
from atoll.core.names import has_control_chars, validate_session_name, validate_user_name

IslandKindName = str
"""An island kind's registered name (atoll.islands.registry holds the known ones)."""
CONTAINER_KINDS: tuple[IslandKindName, ...] = ("docker", "podman")
_KIND_NAME = re.compile(r"[a-z][a-z0-9-]{0,31}")

IMAGE = "atoll-island:latest"
AGENT_UID = 1000
CONTAINER_WORKSPACE = "/workspace"
CONTAINER_HOME = "/home/agent"
PREFIX = "atoll-"
VOLUME_SUFFIX = "-ws"
ISLANDS_SUBDIR = ".atoll/islands"

LABEL_HASH = "atoll.project-hash"
LABEL_DIR = "atoll.project-dir"
LABEL_NAME = "atoll.name"
LABEL_OWNER = "atoll.owner"
LABEL_KIND = "atoll.kind"
LABEL_BASE = "atoll.base-commits"
LABEL_ALLOW = "atoll.allow"
EGRESS_MOUNT = "/run/atoll-egress"
"""Where an island sees its egress proxy's directory (atoll.islands.egress.ISLAND_DIR)."""

DEFAULT_CPUS = 2.0
DEFAULT_MEMORY = 2 << 30
DEFAULT_PIDS = 512
DEFAULT_TMP = 512 << 20
MAX_BASE_COMMITS = 64

# Directories a grant may never be (or be inside of): the system, devices, kernel views and
# runtime sockets. ``/home`` itself is refused (it holds every user's home).
_SYSTEM_DIRS = (
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/run",
    "/sbin", "/sys", "/usr", "/var/run", "/var/lib/docker", "/var/lib/containers",
    "/var/lib/atoll", "/var/log",
)
_NOT_EXACTLY = ("/", "/home", "/var", "/tmp", "/srv", "/opt", "/mnt", "/media")

_HASH_RE = re.compile(r"[0-9a-f]{8}")
_SIZE_RE = re.compile(r"([0-9]{1,30})([kmgt]?)(i?b)?", re.IGNORECASE)  # 30 digits: int() cheap
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


@dataclass(frozen=True)
class Grant:
    """A host directory made visible to an island at the same path; read-only unless rw."""

    path: str
    rw: bool = False

    def text(self) -> str:
        return f"{self.path}:rw" if self.rw else self.path


@dataclass(frozen=True)
class IslandSpec:
    """What an island is asked to be.

    ``name``: the island's (and its first session's) name. ``project_dir``: absolute path
    of the project copied in ("" for an empty workspace). ``kind``: user, bwrap, docker,
    podman. ``cpus``: cores (float); ``memory``: bytes; ``pids``: max processes;
    ``net``: all network access; ``allow``: the egress allow-list (only through the
    proxy whose host directory is ``egress_dir``; exclusive with ``net``); ``grants``:
    host directories bound in. ``agent_user``: the
    Linux account of user/bwrap islands (ignored by containers, which run uid 1000).
    ``operator``: who owns it (label ``atoll.owner``), from the real uid.
    """

    name: str
    project_dir: str
    kind: IslandKindName
    operator: str
    cpus: float = DEFAULT_CPUS
    memory: int = DEFAULT_MEMORY
    pids: int = DEFAULT_PIDS
    net: bool = False
    grants: tuple[Grant, ...] = field(default_factory=tuple)
    agent_user: str | None = None
    image: str = IMAGE
    tmp_size: int = DEFAULT_TMP
    allow: tuple[Allow, ...] = field(default_factory=tuple)
    egress_dir: str = ""

    def __post_init__(self) -> None:
        validate_spec(self)

    @property
    def net_mode(self) -> str:
        """``net`` (everything), ``allow`` (an allow-list through the proxy) or ``none``."""
        return "net" if self.net else "allow" if self.allow else "none"

    @property
    def hash8(self) -> str:
        return project_hash(self.project_dir)

    @property
    def island_id(self) -> str:
        """Container name for container kinds, directory name for bwrap/user."""
        if self.kind in CONTAINER_KINDS:
            return container_name(self.project_dir, self.name)
        return f"{self.hash8}-{self.name}"

    def project_granted(self) -> Grant | None:
        """The grant that is the project directory itself (bound instead of copied)."""
        for g in self.grants:
            if self.project_dir and g.path == self.project_dir:
                return g
        return None


def validate_spec(spec: IslandSpec) -> None:
    """Raise UsageError when a spec field is out of range (limits documented above)."""
    validate_session_name(spec.name)
    if not _KIND_NAME.fullmatch(spec.kind):  # which kinds exist: atoll.islands.registry
        raise UsageError(f"invalid island kind {spec.kind[:40]!r}")
    if spec.project_dir:
        check_abs_path(spec.project_dir, "project directory")
    if not 0 < spec.cpus <= 1024:
        raise UsageError(f"--cpus must be in (0, 1024], got {spec.cpus:g}")
    if not 16 << 20 <= spec.memory <= 1 << 44:
        raise UsageError("--memory must be between 16m and 16t")
    if not 16 <= spec.pids <= 1 << 22:
        raise UsageError(f"--pids must be between 16 and {1 << 22}, got {spec.pids}")
    if spec.kind in ("user", "none", "bwrap"):
        if not spec.agent_user:
            raise UsageError(f"a {spec.kind} island needs an agent user (--as USER)")
        validate_user_name(spec.agent_user)
    for g in spec.grants:
        validate_grant_path(g.path)
    if spec.allow and spec.net:
        raise UsageError("--allow and --net exclude each other: --net already lets "
                         "everything through")
    if spec.allow and spec.kind == "user":
        raise UsageError("--allow needs --island bwrap, docker or podman (a user island "
                         "shares the host's network)")
    if spec.egress_dir:
        check_abs_path(spec.egress_dir, "egress directory")


def project_hash(project_dir: str) -> str:
    """First 8 hex digits of SHA-256 of the absolute project path ("" allowed)."""
    import hashlib  # loads OpenSSL: ~20 ms that a listing without islands should not pay

    return hashlib.sha256(project_dir.encode("utf-8", "surrogateescape")).hexdigest()[:8]


def container_name(project_dir: str, name: str) -> str:
    """``atoll-{hash8}-{name}``."""
    validate_session_name(name)
    return f"{PREFIX}{project_hash(project_dir)}-{name}"


def volume_name(container: str) -> str:
    """The workspace volume of a container island."""
    return container + VOLUME_SUFFIX


def parse_container_name(container: str) -> tuple[str, str] | None:
    """``(hash8, name)`` of an ``atoll-{hash8}-{name}`` container name, else None."""
    if not container.startswith(PREFIX):
        return None
    rest = container[len(PREFIX):]
    hash8, sep, name = rest[:8], rest[8:9], rest[9:]
    if sep != "-" or not _HASH_RE.fullmatch(hash8) or not name:
        return None
    try:
        validate_session_name(name)
    except UsageError:
        return None
    return hash8, name


def parse_island_dir_name(dirname: str) -> tuple[str, str] | None:
    """``(hash8, name)`` of a bwrap island directory name ``{hash8}-{name}``, else None."""
    return parse_container_name(PREFIX + dirname)


def island_labels(spec: IslandSpec, base_commits: list[str] | None = None) -> dict[str, str]:
    """Labels of a container island and its volume (keys: the LABEL_* constants)."""
    labels = {
        LABEL_HASH: spec.hash8,
        LABEL_DIR: spec.project_dir,
        LABEL_NAME: spec.name,
        LABEL_OWNER: spec.operator,
        LABEL_KIND: spec.kind,
    }
    if spec.allow:
        labels[LABEL_ALLOW] = " ".join(a.text() for a in spec.allow)
    if base_commits is not None and len(base_commits) <= MAX_BASE_COMMITS:
        labels[LABEL_BASE] = " ".join(base_commits)
    return labels


def parse_size(text: str) -> int:
    """Bytes from ``512m``, ``2g``, ``2GiB``, ``1024k`` or a plain number; UsageError else."""
    m = _SIZE_RE.fullmatch(text.strip())
    if not m:
        raise UsageError(f"invalid size {text[:64]!r}: use a number with k, m, g or t (e.g. 2g)")
    return int(m.group(1)) * _UNITS[m.group(2).lower()]


def check_abs_path(path: str, what: str) -> str:
    """Absolute, normalised, without control characters; return it or raise UsageError."""
    if not path or has_control_chars(path):
        raise UsageError(f"invalid {what} {path!r}: empty or holds control characters")
    if not path.startswith("/"):
        raise UsageError(f"{what} {path!r} must be an absolute path")
    parts = path.split("/")
    if ".." in parts:
        raise UsageError(f"{what} {path!r} holds '..'")
    if posixpath.normpath(path) != path or "//" in path:
        raise UsageError(f"{what} {path!r} is not normalised (use {posixpath.normpath(path)!r})")
    return path


def validate_grant_path(path: str) -> str:
    """Pure checks of a grant path (see the module rules); return it or raise UsageError."""
    check_abs_path(path, "grant")
    if "," in path or ":" in path:
        raise UsageError(f"grant {path!r}: ',' and ':' are not allowed in granted paths")
    if path in _NOT_EXACTLY:
        raise UsageError(f"grant {path!r} is too wide: grant a project directory")
    for sysdir in _SYSTEM_DIRS:
        if path == sysdir or path.startswith(sysdir + "/"):
            raise UsageError(f"grant {path!r} is inside the system directory {sysdir}")
    return path


def parse_grant(text: str) -> Grant:
    """``PATH`` or ``PATH:rw`` (``PATH:ro`` is also read-only) into a validated Grant."""
    path, rw = text, False
    if text.endswith(":rw"):
        path, rw = text[:-3], True
    elif text.endswith(":ro"):
        path = text[:-3]
    return Grant(validate_grant_path(path), rw)


def is_within(path: str, top: str) -> bool:
    """True if normalised absolute ``path`` is ``top`` or below it."""
    return path == top or path.startswith(top.rstrip("/") + "/")


def container_run_argv(
    spec: IslandSpec,
    *,
    volume: str,
    labels: dict[str, str],
    ulimits: dict[str, tuple[int, int]] | None = None,
    command: tuple[str, ...] = ("sleep", "infinity"),
    env: dict[str, str] | None = None,
    broker_mount: str = "",
    hook_shim: str | None = None,
) -> list[str]:
    """Arguments after ``ENGINE`` for ``run`` (docker and podman share them).

    Defaults (DESIGN decision 8): ``--init``, every capability dropped,
    ``no-new-privileges``, read-only root with tmpfs ``/tmp`` and ``/home/agent``,
    ``--pids-limit``, ``--memory`` (= ``--memory-swap``: no swap), ``--cpus``, no network
    unless ``spec.net``, uid 1000, the workspace volume at ``/workspace``; grants are bound
    at their own paths, read-only unless rw; with an allow-list, the egress proxy's
    directory is bound read-only at ``EGRESS_MOUNT`` and ``env`` (the proxy variables)
    is set. ``hook_shim``: the island's ``atoll`` (only ``atoll hook EVENT``, which sets
    the state on the container's own tmux server), bound read-only at
    ``/usr/local/bin/atoll``. ``broker_mount``: the host mountpoint of the island's grant
    broker (:mod:`atoll.islands.brokermount`), bound at ``/grants``. Nothing else from the
    host is mounted.
    """
    env = env or {}
    if spec.kind not in CONTAINER_KINDS:
        raise UsageError(f"{spec.kind} is not a container kind")
    argv = ["run", "-d", "--name", spec.island_id, "--hostname", "island"]
    for key, val in labels.items():
        argv += ["--label", f"{key}={val}"]
    argv += [
        "--init",
        "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges",
        "--read-only",
        "--tmpfs", f"/tmp:rw,nosuid,nodev,size={spec.tmp_size}",
        "--tmpfs", f"{CONTAINER_HOME}:rw,nosuid,nodev,size={spec.tmp_size},mode=0700"
        + (",U" if spec.kind == "podman" else f",uid={AGENT_UID},gid={AGENT_UID}"),
        "--pids-limit", str(spec.pids),
        "--memory", str(spec.memory),
        "--memory-swap", str(spec.memory),
        "--cpus", f"{spec.cpus:g}",
        "--network", "bridge" if spec.net else "none",
        "--user", f"{AGENT_UID}:{AGENT_UID}",
        "--workdir", CONTAINER_WORKSPACE,
        "--env", f"HOME={CONTAINER_HOME}",
    ]
    for key, val in sorted(env.items()):
        argv += ["--env", f"{key}={val}"]
    if spec.egress_dir:
        argv += ["-v", f"{spec.egress_dir}:{EGRESS_MOUNT}:ro"]
    for name, (soft, hard) in sorted((ulimits or {}).items()):
        argv += ["--ulimit", f"{name}={soft}:{hard}"]
    argv += ["-v", f"{volume}:{CONTAINER_WORKSPACE}"]
    if hook_shim is not None:
        check_abs_path(hook_shim, "hook shim")
        argv += ["-v", f"{hook_shim}:/usr/local/bin/atoll:ro"]
    for g in spec.grants:
        argv += ["-v", f"{g.path}:{g.path}:{'rw' if g.rw else 'ro'}"]
    if broker_mount:
        check_abs_path(broker_mount, "broker mount")
        argv += ["--mount", f"type=bind,source={broker_mount},destination=/grants"]
    return [*argv, spec.image, *command]


@dataclass(frozen=True)
class HookChannel:
    """Host paths of a bwrap pane's hook channel: its FIFO (made by the relay, in the
    island's directory) and the ``atoll`` shim shipped with atoll (hookshim.sh)."""

    fifo: str
    shim: str


def bwrap_argv(
    spec: IslandSpec,
    workspace: str,
    command: list[str],
    *,
    home: str | None = None,
    new_session: bool = True,
    env: dict[str, str] | None = None,
    wrap: list[str] | None = None,
    broker_mount: str | None = None,
    hook: HookChannel | None = None,
) -> list[str]:
    """The argv that runs ``command`` in a bubblewrap sandbox for ``spec``.

    The sandbox starts from an empty root (bwrap(1)): system directories are bound
    read-only, ``/proc``, ``/dev`` and ``/tmp`` are private, ``workspace`` (and ``home``,
    which becomes ``$HOME``) are the only writable host paths, grants are bound at their
    own paths. Every namespace is unshared (the network is shared only with ``spec.net``),
    the command runs in a new session (no TIOCSTI into the caller's terminal,
    CVE-2017-5226) and dies with its parent; nested user namespaces are disabled.
    With ``hook``, the island's hook channel (:mod:`atoll.islands.hookrelay`) is bound in:
    the FIFO at ``/run/atoll/hook`` (``$ATOLL_HOOK_FIFO``) and the ``atoll`` shim, read-only,
    at ``/run/atoll/bin/atoll``. Inside, ``prlimit`` caps processes (``RLIMIT_NPROC`` =
    ``spec.pids``, counted in the sandbox's user namespace) and each process's data size
    (``RLIMIT_DATA`` = ``spec.memory``); bwrap has no cgroup, so there is no total memory
    or CPU cap.
    With an allow-list, the egress proxy's directory is bound read-only at
    ``EGRESS_MOUNT``, ``env`` (the proxy variables) is set, and ``wrap`` (the forwarder's
    argv prefix) runs before ``command``.
    ``broker_mount``: the host mountpoint of the island's grant broker, bound at ``/grants``
    when it exists (``--bind-try``; :mod:`atoll.islands.brokermount`).
    """
    check_abs_path(workspace, "workspace")
    if home is not None:
        check_abs_path(home, "home")
    if not command or not command[0]:
        raise UsageError("empty command")
    argv = [
        "bwrap",
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
    ]
    if spec.net:
        argv.append("--share-net")
    if new_session:
        argv.append("--new-session")
    argv += [
        "--die-with-parent",
        "--cap-drop", "ALL",
        "--hostname", "island",
        "--ro-bind", "/usr", "/usr",
        "--ro-bind-try", "/bin", "/bin",
        "--ro-bind-try", "/sbin", "/sbin",
        "--ro-bind-try", "/lib", "/lib",
        "--ro-bind-try", "/lib64", "/lib64",
        "--ro-bind-try", "/lib32", "/lib32",
        "--ro-bind", "/etc", "/etc",
        "--proc", "/proc",
        "--dev", "/dev",
        "--tmpfs", "/tmp",
        "--tmpfs", "/var/tmp",
        "--tmpfs", "/run",
    ]
    if hook is not None:
        check_abs_path(hook.fifo, "hook FIFO")
        check_abs_path(hook.shim, "hook shim")
        argv += ["--ro-bind-try", hook.shim, "/run/atoll/bin/atoll",
                 "--bind-try", hook.fifo, "/run/atoll/hook",
                 "--setenv", "ATOLL_HOOK_FIFO", "/run/atoll/hook"]
    if spec.net:
        argv += ["--ro-bind-try", "/run/systemd/resolve", "/run/systemd/resolve"]
    ws_grant: Grant | None = None
    for g in spec.grants:
        if g.path == workspace:
            ws_grant = g
            continue
        argv += ["--bind" if g.rw else "--ro-bind", g.path, g.path]
    # A granted project is the workspace itself: it keeps the grant's mode.
    ws_rw = ws_grant is None or ws_grant.rw
    argv += ["--bind" if ws_rw else "--ro-bind", workspace, workspace]
    if home is not None:
        argv += ["--bind", home, home, "--setenv", "HOME", home]
    if spec.egress_dir:
        argv += ["--ro-bind", spec.egress_dir, EGRESS_MOUNT]
    for key, val in sorted((env or {}).items()):
        argv += ["--setenv", key, val]
    if broker_mount is not None:
        check_abs_path(broker_mount, "broker mount")
        argv += ["--bind-try", broker_mount, "/grants"]
    argv += [
        "--setenv", "ATOLL_ISLAND", spec.island_id,
        "--unsetenv", "SSH_AUTH_SOCK",
        "--unsetenv", "DBUS_SESSION_BUS_ADDRESS",
        "--chdir", workspace,
        "--",
        "/usr/bin/prlimit",
        f"--nproc={spec.pids}:{spec.pids}",
        f"--data={spec.memory}:{spec.memory}",
        "--",
        *(wrap or []),
        *command,
    ]
    return argv


def island_dir(agent_home: str, spec: IslandSpec) -> str:
    """Host directory of a bwrap island: ``AGENT_HOME/.atoll/islands/{hash8}-{name}``."""
    return posixpath.join(agent_home, ISLANDS_SUBDIR, spec.island_id)
