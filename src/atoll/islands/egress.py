"""Where an island's egress proxy lives and how the island reaches it.

Layout on the operator's side (docs: README "Network"):

- ``/tmp/atoll-egress-{UID}/`` (UID: the operator's), mode 0711, owned by the operator:
  others may pass through it but not list it; refused if it is anything else (a symlink,
  someone else's);
- ``{island_id}.{token}/`` in it, mode 0711, one per island (``token``: 16 random hex, so
  the path cannot be guessed from the island's name), holding ``proxy.sock`` (the proxy's
  Unix socket, 0666: who may connect is decided by these directories and by the proxy's
  ``SO_PEERCRED`` check), ``proxy.pid`` and ``proxy.log`` (0600).

That directory is bound into the island, read-only, at :data:`ISLAND_DIR` (bwrap
``--ro-bind``, container ``-v ...:ro``); nothing else of it is visible there. Inside, the
forwarder (:mod:`atoll.islands.egress_forwarder`) listens on ``127.0.0.1:`` :data:`PORT`,
and :func:`proxy_env` names it in ``HTTPS_PROXY``/``HTTP_PROXY``. The island has no other
network: bwrap unshares the network namespace, containers run with ``--network none``.

The proxy runs as the operator (``atoll egress-serve``, started detached by
:func:`start_proxy`) until :func:`stop_proxy` (purge).
"""

from __future__ import annotations

import contextlib
import glob
import os
import posixpath
import secrets
import signal
import stat
import sys
import time
from importlib import resources

from atoll.core.egress import Allow
from atoll.core.errors import AtollError
from atoll.core.islands import AGENT_UID, EGRESS_MOUNT, IslandSpec
from atoll.exec.process import spawn_detached

PORT = 3128
ISLAND_DIR = EGRESS_MOUNT
SOCKET_NAME = "proxy.sock"
PID_NAME = "proxy.pid"
START_TIMEOUT = 15.0


class EgressError(AtollError):
    """The egress proxy cannot be set up (exit 1)."""


def base_dir(uid: int | None = None) -> str:
    """``/tmp/atoll-egress-{uid}`` (created 0711 when missing; EgressError if unsafe)."""
    uid = os.getuid() if uid is None else uid
    path = f"/tmp/atoll-egress-{uid}"
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o711)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid:
        raise EgressError(f"{path} is not a directory owned by you: remove it")
    if stat.S_IMODE(st.st_mode) != 0o711:
        os.chmod(path, 0o711)  # noqa: S103 -- passable, not listable (module doc)
    return path


def proxy_dir(island_id: str) -> str | None:
    """The proxy directory of ``island_id``, or None when it has none."""
    hits = sorted(glob.glob(posixpath.join(glob.escape(base_dir()), glob.escape(island_id)
                                           + ".*")))
    return hits[0] if hits else None


def new_proxy_dir(island_id: str) -> str:
    """Make a fresh proxy directory for ``island_id`` (EgressError when one exists)."""
    if proxy_dir(island_id) is not None:
        raise EgressError(f"island {island_id} already has an egress proxy: purge it first")
    path = posixpath.join(base_dir(), f"{island_id}.{secrets.token_hex(8)}")
    os.mkdir(path, 0o711)
    os.chmod(path, 0o711)  # noqa: S103 -- whatever the umask; passable, not listable
    return path


def proxy_env() -> dict[str, str]:
    """The environment an island with an allow-list gets: both spellings of the proxy
    variables (curl reads lower case, most others upper case) and NO_PROXY naming only
    the island's own loopback."""
    url = f"http://127.0.0.1:{PORT}"
    no_proxy = "localhost,127.0.0.1,::1"
    return {"HTTPS_PROXY": url, "HTTP_PROXY": url, "https_proxy": url, "http_proxy": url,
            "NO_PROXY": no_proxy, "no_proxy": no_proxy}


def forwarder_source() -> str:
    """The forwarder's source text (run inside the island by ``python3 -c``)."""
    return resources.files("atoll.islands").joinpath("egress_forwarder.py").read_text()


def forwarder_argv(command: list[str], python: str = "/usr/bin/python3") -> list[str]:
    """``python3 -c FORWARDER PORT SOCKET -- COMMAND...`` (see the forwarder's docstring)."""
    return [python, "-c", forwarder_source(), str(PORT),
            posixpath.join(ISLAND_DIR, SOCKET_NAME), "--", *command]


def egress_wrap(spec: IslandSpec) -> tuple[dict[str, str], list[str]]:
    """``(env, argv prefix)`` that a pane of ``spec`` runs with: the proxy variables and
    the forwarder, or nothing for an island without an allow-list."""
    if not spec.allow:
        return {}, []
    if not spec.egress_dir:
        raise EgressError(f"island {spec.island_id} has an allow-list but no egress proxy "
                          "(its proxy is gone: purge it and start it again)")
    return proxy_env(), forwarder_argv([])


def peer_uid(spec: IslandSpec) -> int:
    """The uid the proxy sees for the island's processes (``SO_PEERCRED``): the agent user
    of a bwrap island; uid 1000 of a container as the host sees it (rootless podman maps it
    through ``/etc/subuid``: start + 999)."""
    import pwd

    if spec.kind == "bwrap":
        assert spec.agent_user is not None
        return pwd.getpwnam(spec.agent_user).pw_uid
    if spec.kind == "podman" and os.getuid() != 0:
        me = pwd.getpwuid(os.getuid()).pw_name
        try:
            with open("/etc/subuid") as fh:
                for line in fh:
                    user, _, rest = line.strip().partition(":")
                    if user in (me, str(os.getuid())):
                        return int(rest.split(":")[0]) + AGENT_UID - 1
        except (OSError, ValueError):
            pass
        raise EgressError("rootless podman: no /etc/subuid range for you")
    return AGENT_UID


def island_key(spec: IslandSpec) -> str:
    """The island as ledger records name it (the grant broker's key, so that ``atoll audit
    crossings ISLAND`` shows file and network crossings together): ``bwrap:AGENT:ID`` or
    ``ENGINE:CONTAINER``."""
    if spec.kind == "bwrap":
        return f"bwrap:{spec.agent_user}:{spec.island_id}"
    return f"{spec.kind}:{spec.island_id}"


def start_proxy(island_id: str, kind: str, owner: str, rules: tuple[Allow, ...],
                peer_uid: int | None, ledger_path: str | None, key: str = "") -> str:
    """Start the proxy of ``island_id`` and return its directory once it listens.

    Raises EgressError when it did not come up within START_TIMEOUT seconds (its log's
    last line says why); the directory is removed then.
    """
    path = new_proxy_dir(island_id)
    argv = [sys.executable, "-m", "atoll.cli.egress_serve", "--dir", path,
            "--island", island_id, "--kind", kind, "--owner", owner, "--key", key or island_id]
    for rule in rules:
        argv += ["--allow", rule.text()]
    if peer_uid is not None:
        argv += ["--peer-uid", str(peer_uid)]
    if ledger_path:
        argv += ["--ledger", ledger_path]
    env = {k: v for k, v in os.environ.items()
           if k in ("PATH", "HOME", "LANG", "XDG_STATE_HOME", "XDG_CONFIG_HOME",
                    "ATOLL_DEBUG", "PYTHONPATH")}
    log = posixpath.join(path, "proxy.log")
    pid = spawn_detached(argv, env=env, log_path=log)
    sock = posixpath.join(path, SOCKET_NAME)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if os.path.exists(posixpath.join(path, PID_NAME)) and os.path.exists(sock):
            return path
        try:
            done, _status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            break
        time.sleep(0.05)
    why = _last_line(log)
    _kill(pid)
    _remove(path)
    raise EgressError(f"the egress proxy of {island_id} did not start: {why}")


def _last_line(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            lines = fh.read()[-4096:].decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1] if lines else "no output"


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(100):
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
        except ChildProcessError:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _remove(path: str) -> None:
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(posixpath.join(path, name))
    os.rmdir(path)


def proxy_pid(path: str) -> int | None:
    """The pid in ``path``'s pid file when that process is the proxy of that directory."""
    try:
        with open(posixpath.join(path, PID_NAME)) as fh:
            pid = int(fh.read().strip() or "0")
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmdline = fh.read().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if b"atoll.cli.egress_serve" in cmdline and path.encode() in cmdline else None


def stop_proxy(island_id: str) -> None:
    """Stop the proxy of ``island_id`` and remove its directory (nothing when none)."""
    path = proxy_dir(island_id)
    if path is None:
        return
    pid = proxy_pid(path)
    if pid is not None:
        _kill(pid)
    _remove(path)
