"""``atoll admin check``: every team-administration problem on this host, each with its fix.

A problem is ``{"subject", "problem", "fix"}``; the fix is a command to run (or the edit to
make). What is checked, per agent user (the values of the agent map and the members of
``atoll-agents``): a home others may read, membership of a group that is root in disguise
(:data:`ROOTISH_GROUPS`), a sudo grant to run commands as root, no resource limits (or limits
whose cgroup is gone, as after a reboot), what escapes the limits (cron, at, systemd
lingering), and an ssh-agent socket it can reach. Per person: a home others may read. For
the host: the host ledger, and the policy and map files' ownership.
"""

from __future__ import annotations

import contextlib
import glob
import grp
import os
import pwd

from atoll.core import admin as text
from atoll.core.errors import AtollError
from atoll.exec.process import run_argv
from atoll.exec.runner import Sudo
from atoll.service import admin

ROOTISH_GROUPS = ("sudo", "wheel", "admin", "adm", "docker", "lxd", "disk", "shadow",
                  "libvirt", "kvm")
"""Groups that give root or the operator's data (docker and lxd: root through the daemon)."""

Problem = dict[str, str]


def _problem(subject: str, problem: str, fix: str) -> Problem:
    return {"subject": subject, "problem": problem, "fix": fix}


def agent_users() -> list[str]:
    """Agent users of this host: the map's values and ``atoll-agents`` members."""
    names = set(admin.read_agent_map().values())
    with contextlib.suppress(KeyError):
        names.update(grp.getgrnam(text.AGENT_GROUP).gr_mem)
    return sorted(n for n in names if admin.user_exists(n))


def _home(user: str) -> list[Problem]:
    try:
        home = pwd.getpwnam(user).pw_dir
        mode = os.stat(home).st_mode & 0o777
    except (KeyError, OSError):
        return [_problem(user, "has no home directory", f"atoll admin add-person ... ({user})")]
    if mode & 0o077:
        return [_problem(user, f"home {home} is mode {mode:04o}: others can read it",
                         f"chmod 0700 {home}")]
    return []


def _groups(user: str) -> list[Problem]:
    out = []
    for group in ROOTISH_GROUPS:
        if admin.in_group(user, group):
            out.append(_problem(user, f"agent user is in group {group} (root or other "
                                      "users' data through it)", f"gpasswd -d {user} {group}"))
    return out


def _sudo_as_root(user: str) -> list[Problem]:
    res = run_argv(["sudo", "-n", "-l", "-U", user], timeout=30)
    listing = res.stdout.decode(errors="replace")
    for line in listing.splitlines():
        words = line.strip()
        if words.startswith("(") and ("(ALL" in words or "(root" in words):
            return [_problem(user, f"sudoers lets the agent user run commands as root: "
                                   f"{words[:120]}",
                             f"remove that rule from /etc/sudoers or /etc/sudoers.d "
                             f"(sudo -l -U {user} shows it)")]
    return []


def _limits(user: str) -> list[Problem]:
    from atoll.service import limits

    try:
        state = limits.status(user)
    except AtollError as exc:
        return [_problem(user, f"limits cannot be read: {exc}", "atoll admin limits --restore")]
    if state is None:
        if limits.layout() != "v1":
            return [_problem(user, "no resource limits, and atoll admin limits supports only "
                                   "the cgroup v1/hybrid layout, which this host lacks",
                             "none with atoll yet; use island bwrap/docker --cpus/--memory/"
                             "--pids per session (docs/admin.md, Limits)")]
        return [_problem(user, "no resource limits: its sessions may use the whole host",
                         f"atoll admin limits {user} --cpus 2 --memory 4g --pids 512")]
    if not state.get("applied"):
        return [_problem(user, "limits are configured but their cgroup is missing (reboot?)",
                         "atoll admin limits --restore")]
    return []


def _escapes(user: str) -> list[Problem]:
    out = []
    for tool, deny, allow in (("crontab", "/etc/cron.deny", "/etc/cron.allow"),
                              ("at", "/etc/at.deny", "/etc/at.allow")):
        if not any(os.path.exists(f"{d}/{tool}") for d in ("/usr/bin", "/bin")):
            continue
        allowed = _lines(allow)
        denied = _lines(deny)
        if (allowed is not None and user not in allowed) or user in (denied or []):
            continue
        out.append(_problem(user, f"can start jobs with {tool}, outside its limits and "
                                  "sessions", f"echo {user} >> {deny}"))
    if os.path.exists(f"/var/lib/systemd/linger/{user}"):
        out.append(_problem(user, "systemd lingering is on: its user services run outside "
                                  "its limits", f"loginctl disable-linger {user}"))
    return out


def _lines(path: str) -> list[str] | None:
    try:
        with open(path) as fh:
            return [line.strip() for line in fh]
    except OSError:
        return None


def agent_sockets() -> set[str]:
    """ssh-agent sockets of this host: the usual places and every ``SSH_AUTH_SOCK`` a
    process holds."""
    found = set(glob.glob("/tmp/ssh-*/agent.*")) | set(glob.glob("/run/user/*/ssh-agent*"))
    found |= set(glob.glob("/run/user/*/gnupg/S.gpg-agent.ssh"))
    for env_path in glob.glob("/proc/[0-9]*/environ")[:5000]:
        try:
            with open(env_path, "rb") as fh:
                env = fh.read(1 << 16)
        except OSError:
            continue
        for item in env.split(b"\0"):
            if item.startswith(b"SSH_AUTH_SOCK="):
                found.add(item[len(b"SSH_AUTH_SOCK="):].decode(errors="replace"))
    return {s for s in found if s.startswith("/") and os.path.exists(s)}


def _sockets(user: str, sockets: set[str]) -> list[Problem]:
    out = []
    uid = pwd.getpwnam(user).pw_uid
    for sock in sorted(sockets):
        try:
            if os.stat(sock).st_uid == uid:
                continue  # its own agent
        except OSError:
            continue
        if Sudo(user).run(["test", "-w", sock], timeout=10).ok:
            out.append(_problem(user, f"can reach ssh-agent socket {sock} (another user's "
                                      "keys)", f"chmod 0700 {os.path.dirname(sock)}"))
    return out


def _host() -> list[Problem]:
    from atoll.ledger.hostledger import HOST_LEDGER_CONF, read_conf

    out = []
    try:
        conf = read_conf()
    except AtollError as exc:
        conf = None
        out.append(_problem("host", str(exc), f"rm {HOST_LEDGER_CONF}; atoll admin init"))
    if conf is None and not out:
        out.append(_problem("host", "no host ledger: operators' actions land only in their "
                                    "own ledgers", "atoll admin init"))
    elif conf is not None and not admin._ledger_file_ok():
        out.append(_problem("host", "the host ledger file's owner or mode is wrong",
                            "atoll admin init"))
    from atoll.service.policy import read_policy

    try:
        read_policy()
    except AtollError as exc:
        out.append(_problem("host", str(exc), "chown root: /etc/atoll/policy.toml; "
                                              "chmod 0644 /etc/atoll/policy.toml"))
    return out


def problems() -> list[Problem]:
    """Every problem on this host (module doc), host-wide ones first."""
    out = _host()
    mapping = admin.read_agent_map()
    for person in sorted(mapping):
        if admin.user_exists(person):
            out += _home(person)
            if not admin.in_group(person, text.OPS_GROUP):
                out.append(_problem(person, f"not in group {text.OPS_GROUP}: cannot append to "
                                            "the host ledger, so every atoll action fails",
                                    f"usermod -a -G {text.OPS_GROUP} {person}"))
    sockets = agent_sockets()
    for user in agent_users():
        out += _home(user) + _groups(user) + _sudo_as_root(user) + _limits(user)
        out += _escapes(user) + _sockets(user, sockets)
    return out
