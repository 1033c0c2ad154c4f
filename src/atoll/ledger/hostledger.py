"""The host ledger: one ledger per host that every operator appends to and none can rewrite
(shared/DESIGN.md decision 16; docs/admin.md).

- The file :data:`HOST_LEDGER_PATH` belongs to the system user ``atoll-ledger`` (mode 0640,
  group ``atoll-ops``, so members read it), in a root-owned 0755 directory: no operator may
  write, truncate, rename or replace it.
- ``sudoers`` lets members of ``atoll-ops`` run exactly :func:`append_command` as
  ``atoll-ledger``. That command (:mod:`atoll.ledger.hostappend`) takes no arguments, reads
  one record of at most :data:`MAX_RECORD_BYTES` on stdin, takes the actor from
  ``SUDO_UID`` (set by sudo, not by the caller), stores typed text and paths as SHA-256 and
  length (:func:`atoll.core.admin.redact`) and appends under the ledger's lock.
- Its code must be root's and writable by nobody else (:func:`untrusted_code`); ``atoll
  admin init`` refuses to install the rule otherwise.
- :data:`HOST_LEDGER_CONF` (root's) tells operators' atoll the exact command; when it
  exists every record an operator's atoll writes is also sent there (:class:`Mirror`).
"""

from __future__ import annotations

import os
import pwd
import stat
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path

import msgspec

from atoll.core.admin import LEDGER_USER, OPS_GROUP, redact
from atoll.core.config import ConfigError
from atoll.core.errors import AtollError
from atoll.exec.process import run_argv
from atoll.exec.rootfile import read_root_file, trusted_stat
from atoll.ledger.errors import LedgerWriteError
from atoll.ledger.store import Ledger

HOST_LEDGER_DIR = "/var/lib/atoll"
HOST_LEDGER_PATH = f"{HOST_LEDGER_DIR}/ledger.jsonl"
HOST_LEDGER_CONF = "/etc/atoll/host-ledger.toml"
MAX_RECORD_BYTES = 64 * 1024
APPEND_MODULE = "atoll.ledger.hostappend"
RECORD_KEYS = frozenset({"action", "target", "outcome", "details", "correlation"})


def append_command(python: str | None = None) -> list[str]:
    """The exact argv sudoers allows: this interpreter, isolated (``-I``: no PYTHON*
    variables, no user site, no current directory on sys.path), running the module."""
    return [python or sys.executable, "-I", "-m", APPEND_MODULE]


def render_conf(command: list[str], path: str = HOST_LEDGER_PATH) -> str:
    return (f"# Written by `atoll admin init`.\ncommand = {msgspec.json.encode(command).decode()}\n"
            f'user = "{LEDGER_USER}"\npath = "{path}"\n')


class HostConf(msgspec.Struct, frozen=True):
    command: list[str]
    user: str = LEDGER_USER
    path: str = HOST_LEDGER_PATH


def read_conf(path: str = HOST_LEDGER_CONF) -> HostConf | None:
    """The host ledger settings, or None when this host has none (``admin init`` not run).
    ConfigError when the file is not root's alone or is malformed."""
    data = read_root_file(path, 1 << 16)
    if data is None:
        return None
    try:
        return msgspec.convert(tomllib.loads(data.decode()), HostConf)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, msgspec.ValidationError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def host_record(event: Mapping[str, object], uid: int, user: str, host: str,
                ) -> dict[str, object]:
    """The record the host ledger stores for ``event`` sent by ``uid``/``user``: only
    :data:`RECORD_KEYS` are taken (seq, prev, time and actor are the ledger's own), and the
    target and details are redacted. ValueError for a malformed event."""
    from atoll.ledger.audit import ACTIONS, OUTCOMES

    extra = set(event) - RECORD_KEYS
    if extra:
        raise ValueError(f"unexpected fields {sorted(extra)[:5]}")
    action, outcome = event.get("action"), event.get("outcome")
    target, details = event.get("target", {}), event.get("details", {})
    correlation = event.get("correlation")
    if action not in ACTIONS:  # audit.recover is written by the store alone
        raise ValueError(f"unknown action {str(action)[:64]!r}")
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {str(outcome)[:64]!r}")
    if not isinstance(target, dict) or not isinstance(details, dict):
        raise ValueError("target and details must be objects")
    if correlation is not None and not (isinstance(correlation, str) and len(correlation) <= 64
                                        and correlation.isalnum()):
        raise ValueError("correlation must be a short alphanumeric id")
    clear_target, clear_details = redact(target, details)
    return {"host": host, "actor": {"uid": uid, "user": user, "sudo_user": None,
                                    "ssh_client": None},
            "action": action, "target": clear_target, "outcome": outcome,
            "details": clear_details, "correlation": correlation}


def write_as_root(event: Mapping[str, object], path: str = HOST_LEDGER_PATH) -> None:
    """Append ``event`` directly (root, for ``atoll admin``): the same record shape as the
    append command, with the actor root (and the sudo user, when sudo's SUDO_UID says so)."""
    from atoll.ledger.audit import this_host

    sudo_uid = os.environ.get("SUDO_UID", "")
    uid = int(sudo_uid) if sudo_uid.isdigit() else os.getuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    Ledger(path).append(host_record(event, uid, user, this_host()))


class Mirror:
    """Sends each record to the host ledger through ``sudo -n -u atoll-ledger COMMAND``.

    Fail closed: a record that does not arrive raises LedgerWriteError, so (for an intent)
    the action does not happen, as for the operator's own ledger."""

    def __init__(self, conf: HostConf) -> None:
        self.conf = conf

    def __call__(self, event: Mapping[str, object]) -> None:
        payload = {k: event[k] for k in RECORD_KEYS if k in event}
        data = msgspec.json.encode(payload)
        if os.getuid() == 0:
            try:
                write_as_root(payload, self.conf.path)
            except (AtollError, ValueError) as exc:
                raise LedgerWriteError(f"host ledger: {exc}") from exc
            return
        argv = ["sudo", "-n", "-u", self.conf.user, "--", *self.conf.command]
        try:
            res = run_argv(argv, input=data, timeout=30)
        except AtollError as exc:
            raise LedgerWriteError(f"host ledger: {exc}") from exc
        if not res.ok:
            if res.stderr.startswith("sudo:"):
                raise LedgerWriteError(
                    f"host ledger {self.conf.path}: sudo does not let you append to it (not "
                    f"in group {OPS_GROUP}? ask root: usermod -a -G {OPS_GROUP} YOU, or atoll "
                    "admin add-person YOU); nothing was done")
            why = res.stderr.strip().splitlines()[-1:] or [f"exit {res.returncode}"]
            raise LedgerWriteError(f"host ledger {self.conf.path}: {why[0][:300]} (see atoll "
                                   "admin check)")


def mirror_for_host() -> Mirror | None:
    """The host ledger sink of this host, or None when ``admin init`` has not made one."""
    conf = read_conf()
    return Mirror(conf) if conf is not None else None


# -- the append command's trust check ------------------------------------------------------

_PROBE = ("import sys, json, " + APPEND_MODULE + "\n"
          "print(json.dumps({'path': sys.path, 'files': sorted({m.__file__ for m in "
          "list(sys.modules.values()) if getattr(m, '__file__', None)})}))")


def _bad(path: str, ancestor: bool = False) -> str | None:
    """Why ``path`` is not root's alone (None when it is, or does not exist). An
    ``ancestor`` (a parent of what is run, not itself on sys.path) may also be a root-owned
    sticky directory such as /tmp: others cannot rename or remove root's entries in it."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"{path}: {exc.strerror}"
    if stat.S_ISLNK(st.st_mode):
        if st.st_uid != 0:
            return f"{path} is a symlink owned by uid {st.st_uid}"
        return _bad(os.path.realpath(path), ancestor)
    if ancestor and st.st_uid == 0 and stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX:
        return None
    if not trusted_stat(st):
        return (f"{path} is owned by uid {st.st_uid} with mode {stat.filemode(st.st_mode)} "
                "(must be root's, writable by nobody else)")
    return None


def _parents(path: str) -> list[str]:
    out = []
    cur = Path(os.path.abspath(path)).parent
    while True:
        out.append(str(cur))
        if cur.parent == cur:
            return out
        cur = cur.parent


def untrusted_code(python: str) -> list[str]:
    """Every file or directory the append command run by ``python`` depends on that is not
    root's alone (empty: safe to allow): the interpreter and its real path, each directory
    on its isolated ``sys.path`` with its ``.pth`` files (run at start-up), each module file
    it imports with its ``__pycache__``, and all their parent directories."""
    res = run_argv([python, "-I", "-c", _PROBE], timeout=60)
    if not res.ok:
        return [f"{python} cannot import {APPEND_MODULE}: {res.stderr.strip()[-300:]}"]
    info = msgspec.json.decode(res.stdout.strip().splitlines()[-1])
    strict: set[str] = set()
    for p in (python, os.path.realpath(python)):
        strict.add(p)
    for entry in info["path"]:
        if not entry or not os.path.exists(entry):
            continue
        strict.add(entry)
        if os.path.isdir(entry):
            strict.update(os.path.join(entry, n) for n in os.listdir(entry) if n.endswith(".pth"))
    for file in info["files"]:
        strict.update((file, os.path.dirname(file)))
        cache = os.path.join(os.path.dirname(file), "__pycache__")
        strict.add(cache)
        if os.path.isdir(cache):
            strict.update(os.path.join(cache, n) for n in os.listdir(cache))
    ancestors = {a for p in strict for a in _parents(p)} - strict
    found = [_bad(p) for p in sorted(strict)] + [_bad(p, True) for p in sorted(ancestors)]
    return [bad for bad in found if bad]
