"""Health of this host and of configured hosts, for ``atoll doctor``.

A report is a dict (JSON-ready) of this shape::

    {"host": "local" | NAME, "reachable": bool, "operator": str | None,
     "atoll": {"present": bool, "version": str | None},
     "tmux": {"present": bool, "version": str | None},
     "agent_users": {"candidates": [str], "allowed": [str]},
     "problems": [str], "warnings": [str]}

``allowed`` are the agent users sudoers lets the operator act as without a password (probed
with ``sudo -n -u USER true``, DESIGN decision 4); ``candidates`` are the accounts atoll
considered (configured list, name patterns, group members). ``problems`` make ``atoll
doctor`` exit non-zero; ``warnings`` do not.

- :func:`local_report`: this host (what ``atoll doctor --here --json`` prints; peers are
  asked exactly that over SSH);
- :func:`remote_report`: one configured host over SSH; its answer is validated like a
  listing (size cap, types, no control characters, bounded lists);
- :func:`reports`: local (optional) plus every host, remote ones in parallel.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgspec

from atoll import __version__
from atoll.core.config import Config, HostConfig
from atoll.core.errors import AtollError
from atoll.core.names import has_control_chars
from atoll.exec.runner import Local, current_user
from atoll.fleet.remote import ask_peer, clean
from atoll.fleet.sshctl import ssh_for
from atoll.fleet.users import candidates, visible_agent_users

DOCTOR_ARGV = ["atoll", "doctor", "--here", "--json"]
MAX_REPORT_BYTES = 1 << 20
MAX_USERS = 1000
MAX_TEXT = 512


class Tool(msgspec.Struct, kw_only=True):
    present: bool
    version: str | None = None


class AgentUsers(msgspec.Struct, kw_only=True):
    candidates: list[str] = msgspec.field(default_factory=list)
    allowed: list[str] = msgspec.field(default_factory=list)


class Report(msgspec.Struct, kw_only=True):
    """The report shape (see module docstring)."""

    host: str
    reachable: bool
    operator: str | None = None
    atoll: Tool = msgspec.field(default_factory=lambda: Tool(present=False))
    tmux: Tool = msgspec.field(default_factory=lambda: Tool(present=False))
    agent_users: AgentUsers = msgspec.field(default_factory=AgentUsers)
    problems: list[str] = msgspec.field(default_factory=list)
    warnings: list[str] = msgspec.field(default_factory=list)


def _tmux_version() -> Tool:
    try:
        done = Local().run(["tmux", "-V"], timeout=10)
    except AtollError:
        return Tool(present=False)
    text = done.text().strip()
    return Tool(present=done.ok, version=text.removeprefix("tmux ") if done.ok else None)


def local_report(cfg: Config | None = None) -> dict[str, Any]:
    """This host's report. ``cfg`` gives the agent-user discovery settings (default:
    the operator's config file; a broken config file is a problem, defaults are used)."""
    problems: list[str] = []
    if cfg is None:
        from atoll.config import load_config

        try:
            cfg = load_config()
        except AtollError as exc:
            problems.append(f"config: {exc}")
            cfg = Config()
    tmux = _tmux_version()
    if not tmux.present:
        problems.append("tmux not found (install tmux)")
    cands = candidates(cfg.agent_users, cfg.agent_user_patterns, cfg.agent_group)
    allowed = visible_agent_users(cands)
    operator = current_user()
    report = Report(
        host="local", reachable=True, operator=operator,
        atoll=Tool(present=True, version=__version__), tmux=tmux,
        agent_users=AgentUsers(candidates=cands, allowed=allowed), problems=problems,
        warnings=home_warnings(operator, allowed),
    )
    result: dict[str, Any] = msgspec.to_builtins(report)
    return result


def home_warnings(operator: str, agents: list[str]) -> list[str]:
    """Homes that agent users can look into. An agent user is another account, kept out of
    the operator's files only by their permissions; Debian's ``adduser`` made homes 0755
    before Debian 12 (``DIR_MODE``), and ``useradd`` follows ``HOME_MODE``/``UMASK`` of
    login.defs(5). Warned: the operator's home or an agent user's home open to others (so
    every agent user), or to a group an agent user belongs to."""
    groups: dict[str, set[int]] = {}
    for agent in agents:
        try:
            groups[agent] = {pwd.getpwnam(agent).pw_gid}
        except KeyError:
            continue
        groups[agent].update(g.gr_gid for g in grp.getgrall() if agent in g.gr_mem)
    out = []
    for user in [operator, *agents]:
        try:
            home = pwd.getpwnam(user).pw_dir
            st = os.stat(home)
        except (KeyError, OSError):
            continue
        mode = stat.S_IMODE(st.st_mode)
        whose = "your home" if user == operator else f"agent user {user}'s home"
        if mode & 0o007:
            out.append(f"{whose} {home} is open to every user (mode {mode:04o}): agent users "
                       f"can read what it lets them; chmod 700 {home}")
            continue
        members = sorted(a for a, gids in groups.items() if a != user and st.st_gid in gids)
        if mode & 0o070 and members:
            out.append(f"{whose} {home} is open to its group (mode {mode:04o}), which agent "
                       f"user {members[0]} is in; chmod 700 {home}")
    return out


def _checked(report: Report) -> str | None:
    """Why a peer's report is unacceptable, or None."""
    texts = [report.host, report.operator or "", report.atoll.version or "",
             report.tmux.version or "", *report.problems, *report.warnings,
             *report.agent_users.candidates, *report.agent_users.allowed]
    lists = (report.problems, report.warnings, report.agent_users.candidates,
             report.agent_users.allowed)
    if any(len(x) > MAX_USERS for x in lists):
        return "a list is too long"
    if any(len(t) > MAX_TEXT or has_control_chars(t) for t in texts):
        return "a text field is too long or holds control characters"
    return None


def remote_report(host: HostConfig, timeout: float) -> dict[str, Any]:
    """``host``'s report from ``atoll doctor --here --json`` over SSH (never raises for
    the host's failures: they become problems)."""
    limit = host.timeout or timeout
    try:
        ssh = ssh_for(host.ssh, limit)
        res = ask_peer(ssh, DOCTOR_ARGV, limit, MAX_REPORT_BYTES + 1)
    except AtollError as exc:
        return _down(host.name, clean(str(exc)))
    if res.timed_out:
        return _down(host.name, f"no answer within {limit:g}s")
    if res.returncode == 255:
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        return _down(host.name, clean(lines[-1]) if lines else "ssh failed")
    if res.returncode == 127:
        return _broken(host.name, "atoll not found there (install it on the host)")
    if res.returncode not in (0, 1) or res.truncated:
        detail = clean(res.stderr.strip().splitlines()[-1]) if res.stderr.strip() else ""
        return _broken(host.name, f"atoll doctor failed there (exit {res.returncode}): {detail}")
    try:
        report = msgspec.json.decode(res.stdout, type=Report)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return _broken(host.name, f"rejected doctor answer: {clean(str(exc), 160)}")
    why = _checked(report)
    if why:
        return _broken(host.name, f"rejected doctor answer: {why}")
    report = msgspec.structs.replace(report, host=host.name, reachable=True)
    if report.atoll.version and report.atoll.version != __version__:
        report.warnings.append(f"atoll {report.atoll.version} there, {__version__} here")
    result: dict[str, Any] = msgspec.to_builtins(report)
    return result


def _down(name: str, error: str) -> dict[str, Any]:
    report = Report(host=name, reachable=False, problems=[f"unreachable: {error}"])
    result: dict[str, Any] = msgspec.to_builtins(report)
    return result


def _broken(name: str, problem: str) -> dict[str, Any]:
    report = Report(host=name, reachable=True, problems=[problem])
    result: dict[str, Any] = msgspec.to_builtins(report)
    return result


def reports(hosts: list[HostConfig], timeout: float, *, include_local: bool = True,
            cfg: Config | None = None) -> list[dict[str, Any]]:
    """Local report first (unless excluded), then one per host in input order."""
    out = [local_report(cfg)] if include_local else []
    if hosts:
        with ThreadPoolExecutor(max_workers=min(32, len(hosts))) as pool:
            out += list(pool.map(lambda h: remote_report(h, timeout), hosts))
    return out
