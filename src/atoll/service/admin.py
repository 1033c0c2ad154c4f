"""``atoll admin``: people, agent users, leads and the host ledger, as plain OS config
(shared/DESIGN.md decision 16; README "Set up a team").

Every command first *plans*: it compares what is there with what should be and returns the
:class:`Change` list (empty when the host already matches, so commands are idempotent and
``--dry-run`` prints exactly that list). Applying a change writes an ``admin.change`` intent
to the host ledger, makes the change, then writes its outcome.

Sudoers files are written to a temporary file in ``/etc/sudoers.d`` (its name starts with
``.``, which sudo skips), checked with ``visudo -c -f``, renamed over the old one atomically
(mode 0440), and then the whole configuration is checked with ``visudo -c``; if that fails
the previous file is put back. So a broken sudoers is never left installed.

Errors: PermissionDeniedError (exit 4) when not root, NotFoundError (3) for a missing
account, UsageError (2) for bad names, AtollError (1) when a system command fails.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from atoll.core import admin as text
from atoll.core.errors import AtollError, NotFoundError, PermissionDeniedError, UsageError
from atoll.core.names import validate_user_name
from atoll.exec.process import run_argv
from atoll.ledger.hostledger import HOST_LEDGER_DIR, HOST_LEDGER_PATH, write_as_root

AGENT_MAP_PATH = "/etc/atoll/agent-users.toml"
ETC_DIR = "/etc/atoll"


@dataclass(frozen=True)
class Change:
    """One change to this host: ``kind`` (``user.create``, ``sudoers.write``, ...), the
    account or file it is about, a one-line ``summary``, and how to make it."""

    kind: str
    subject: str
    summary: str
    apply: Callable[[], None] = field(compare=False, repr=False)

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "subject": self.subject, "summary": self.summary}


def require_root() -> None:
    if os.geteuid() != 0:
        raise PermissionDeniedError("atoll admin changes users and sudoers: run it as root "
                                    "(sudo atoll admin ...)")


def _run(argv: list[str]) -> None:
    run_argv(argv, timeout=120).check()


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def in_group(user: str, group: str) -> bool:
    try:
        g = grp.getgrnam(group)
        return user in g.gr_mem or pwd.getpwnam(user).pw_gid == g.gr_gid
    except KeyError:
        return False


def _read(path: str) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as fh:
        return fh.read(1 << 20).decode("utf-8", "replace")


def _fsync_dir(path: str) -> None:
    dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _write_tmp(path: str, content: str, mode: int) -> str:
    directory, name = os.path.split(path)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    tmp = os.path.join(directory, f".{name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        os.write(fd, content.encode())
        os.fchown(fd, 0, 0)
        os.fchmod(fd, mode)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    return tmp


def write_root_file(path: str, content: str, mode: int = 0o644) -> None:
    """Replace ``path`` atomically with a root-owned file holding ``content``."""
    tmp = _write_tmp(path, content, mode)
    os.replace(tmp, path)
    _fsync_dir(os.path.dirname(path))


def install_sudoers(path: str, content: str) -> None:
    """Install a sudoers file, never leaving a broken configuration (module doc)."""
    tmp = _write_tmp(path, content, 0o440)
    check = run_argv(["visudo", "-c", "-q", "-f", tmp], timeout=60)
    if not check.ok:
        os.unlink(tmp)
        why = (check.stdout.decode(errors="replace") + check.stderr).strip().splitlines()
        raise AtollError(f"visudo rejected {path}, nothing installed: {(why or ['?'])[-1]}")
    old = _read(path)
    os.replace(tmp, path)
    _fsync_dir(os.path.dirname(path))
    whole = run_argv(["visudo", "-c", "-q"], timeout=60)
    if not whole.ok:
        if old is None:
            os.unlink(path)
        else:
            os.replace(_write_tmp(path, old, 0o440), path)
        raise AtollError(f"sudoers failed `visudo -c` with {path}; the previous state is back")


def remove_file(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
    _fsync_dir(os.path.dirname(path))


# -- planning --------------------------------------------------------------------------


def _ensure_group(name: str, system: bool = False) -> list[Change]:
    if group_exists(name):
        return []
    argv = ["groupadd", *(["--system"] if system else []), name]
    return [Change("group.create", name, f"create group {name}", lambda: _run(argv))]


def _ensure_member(user: str, group: str) -> list[Change]:
    if user_exists(user) and in_group(user, group):
        return []
    return [Change("group.member", user, f"add {user} to group {group}",
                   lambda: _run(["usermod", "-a", "-G", group, user]))]


def _ensure_user(name: str, groups: Iterable[str] = ()) -> list[Change]:
    changes: list[Change] = []
    if not user_exists(name):
        argv = ["useradd", "-m", "-s", "/bin/bash", "-K", "UMASK=077", name]
        changes.append(Change("user.create", name, f"create user {name} (private home)",
                              lambda: _run(argv)))
    for group in groups:
        changes += _ensure_member(name, group)
    changes.append(Change("home.private", name, f"make {name}'s home private (0700)",
                          lambda: _private_home(name)))
    if user_exists(name) and _home_private(name):
        changes.pop()
    return changes


def _home_private(name: str) -> bool:
    try:
        st = os.stat(pwd.getpwnam(name).pw_dir)
    except (KeyError, OSError):
        return False
    return not st.st_mode & 0o077


def _private_home(name: str) -> None:
    pw = pwd.getpwnam(name)
    if not os.path.isdir(pw.pw_dir):
        os.makedirs(pw.pw_dir, mode=0o700)
        os.chown(pw.pw_dir, pw.pw_uid, pw.pw_gid)
    os.chmod(pw.pw_dir, 0o700)


def _sudoers(path: str, content: str | None, subject: str) -> list[Change]:
    current = _read(path)
    if content is None:
        if current is None:
            return []
        return [Change("sudoers.remove", subject, f"remove {path}", lambda: remove_file(path))]
    if current == content:
        return []
    return [Change("sudoers.write", subject, f"write {path} (visudo-checked)",
                   lambda: install_sudoers(path, content))]


def read_agent_map() -> dict[str, str]:
    from atoll.service.defaultuser import read_agent_map as read_map

    return read_map(AGENT_MAP_PATH)


def _map_change(person: str, agent: str) -> list[Change]:
    current = read_agent_map()
    if current.get(person) == agent:
        return []
    wanted = {**current, person: agent}
    return [Change("map.write", person, f"map {person} -> {agent} in {AGENT_MAP_PATH}",
                   lambda: write_root_file(AGENT_MAP_PATH, text.render_agent_map(wanted)))]


def ledger_base() -> list[Change]:
    """The host ledger's group, owner, directory and file (before any record can be kept)."""
    changes = _ensure_group(text.OPS_GROUP, system=True)
    if not user_exists(text.LEDGER_USER):
        argv = ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                "--shell", "/usr/sbin/nologin", "--user-group", text.LEDGER_USER]
        changes.append(Change("user.create", text.LEDGER_USER,
                              f"create system user {text.LEDGER_USER} (owns the host ledger)",
                              lambda: _run(argv)))
    if not _ledger_file_ok():
        changes.append(Change("ledger.create", text.LEDGER_USER,
                              f"make {HOST_LEDGER_PATH} ({text.LEDGER_USER}'s, 0640, group "
                              f"{text.OPS_GROUP}, in a root-owned 0755 directory)",
                              _make_ledger_file))
    return changes


def _ledger_file_ok() -> bool:
    try:
        d, f = os.lstat(HOST_LEDGER_DIR), os.lstat(HOST_LEDGER_PATH)
        owner, ops = pwd.getpwnam(text.LEDGER_USER).pw_uid, grp.getgrnam(text.OPS_GROUP).gr_gid
    except (OSError, KeyError):
        return False
    return (stat.S_ISDIR(d.st_mode) and d.st_uid == 0 and stat.S_IMODE(d.st_mode) == 0o755
            and stat.S_ISREG(f.st_mode) and f.st_uid == owner and f.st_gid == ops
            and stat.S_IMODE(f.st_mode) == 0o640)


def _make_ledger_file() -> None:
    owner = pwd.getpwnam(text.LEDGER_USER).pw_uid
    ops = grp.getgrnam(text.OPS_GROUP).gr_gid
    os.makedirs(HOST_LEDGER_DIR, mode=0o755, exist_ok=True)
    if os.path.islink(HOST_LEDGER_DIR):
        raise AtollError(f"{HOST_LEDGER_DIR} is a symlink; refusing")
    os.chown(HOST_LEDGER_DIR, 0, 0, follow_symlinks=False)
    os.chmod(HOST_LEDGER_DIR, 0o755)  # noqa: S103 - members read it; only root writes
    fd = os.open(HOST_LEDGER_PATH, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o640)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise AtollError(f"{HOST_LEDGER_PATH} is not a regular file")
        os.fchown(fd, owner, ops)
        os.fchmod(fd, 0o640)
        os.fsync(fd)
    finally:
        os.close(fd)


def plan_person(person: str, agent: str | None = None) -> list[Change]:
    """Changes making ``person`` a user with a private home, ``agent`` (default
    ``PERSON-agent``) an agent user in ``atoll-agents``, and the rule between them."""
    validate_user_name(person)
    agent = validate_user_name(agent or f"{person}-agent")
    if agent == person:
        raise UsageError("the agent user must be another account than the person")
    if person in (text.LEDGER_USER, "root"):
        raise UsageError(f"{person} cannot be a person of the team")
    changes = _ensure_group(text.AGENT_GROUP)
    changes += _ensure_user(person, [text.OPS_GROUP])
    changes += _ensure_user(agent, [text.AGENT_GROUP])
    changes += _sudoers(text.person_file(person), text.person_rule(person, agent), person)
    changes += _map_change(person, agent)
    return changes


def current_leads() -> dict[str, list[str]]:
    """``{lead: [agent users]}`` from the lead files ``atoll admin`` wrote."""
    out: dict[str, list[str]] = {}
    try:
        names = sorted(os.listdir(text.SUDOERS_DIR))
    except OSError:
        return out
    for name in names:
        if name.startswith(text.LEAD_PREFIX) and "." not in name:
            content = _read(os.path.join(text.SUDOERS_DIR, name)) or ""
            out[name[len(text.LEAD_PREFIX):]] = text.lead_over(content)
    return out


def plan_lead(lead: str, over: list[str], *, remove: bool = False) -> list[Change]:
    """Changes giving ``lead`` (or with ``remove``, taking from it) sudo over ``over``."""
    validate_user_name(lead)
    agents = [validate_user_name(a) for a in over]
    if not agents:
        raise UsageError("name at least one agent user with --over")
    if not remove and not user_exists(lead):  # a removed account's grant can still go
        raise NotFoundError(f"no user {lead} on this host (atoll admin add-person {lead})")
    current = set(current_leads().get(lead, []))
    if remove:
        wanted = current - set(agents)
    else:
        for agent in agents:
            if not user_exists(agent):
                raise NotFoundError(f"no agent user {agent} on this host")
            if agent == lead:
                raise UsageError(f"{lead} cannot lead itself")
        wanted = current | set(agents)
    content = text.lead_rule(lead, wanted) if wanted else None
    changes = [] if remove else _ensure_member(lead, text.OPS_GROUP)
    return changes + _sudoers(text.lead_file(lead), content, lead)


def apply(changes: list[Change], *, dry_run: bool, report: Callable[[Change], None]) -> None:
    """Make ``changes`` in order (or only report them with ``dry_run``). The host ledger
    gets an intent before each change and its outcome after it; changes to the ledger's own
    base (which must exist before any record) are recorded once it does."""
    pending: list[Change] = []
    for change in changes:
        report(change)
        if dry_run:
            continue
        if not _ledger_file_ok():
            change.apply()
            pending.append(change)
            continue
        for done in pending:
            _record(done, "ok")
        pending.clear()
        _record(change, "intent")
        try:
            change.apply()
        except BaseException as exc:
            _record(change, "error", str(exc)[:300])
            raise
        _record(change, "ok")
    for done in pending:
        if _ledger_file_ok():
            _record(done, "ok")


def _record(change: Change, outcome: str, error: str | None = None) -> None:
    details: dict[str, object] = {"change": change.kind, "summary": change.summary}
    if error:
        details["error"] = error
    write_as_root({"action": "admin.change", "target": {"subject": change.subject},
                   "outcome": outcome, "details": details})


def plan_policy(data: bytes | None) -> list[Change]:
    """Changes installing ``data`` as ``/etc/atoll/policy.toml`` after it parsed (None:
    remove the file, leaving no restrictions). ConfigError (exit 2) for an invalid policy."""
    from atoll.core.policy import parse_policy
    from atoll.service.policy import POLICY_PATH

    current = _read(POLICY_PATH)
    if data is None:
        if current is None:
            return []
        return [Change("policy.remove", "policy", f"remove {POLICY_PATH}",
                       lambda: remove_file(POLICY_PATH))]
    parse_policy(data, "the new policy")
    content = data.decode()
    if current == content:
        return []
    return [Change("policy.write", "policy", f"write {POLICY_PATH}",
                   lambda: write_root_file(POLICY_PATH, content))]


def team() -> dict[str, object]:
    """This host's team as ``atoll admin`` manages it: ``people`` ({person: agent user}),
    ``leads`` ({lead: [agent users]}), ``limits`` ({agent user: values})."""
    from atoll.service import limits

    return {"people": read_agent_map(), "leads": current_leads(),
            "limits": limits.read_config()}
