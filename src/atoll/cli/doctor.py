"""``atoll doctor``: is every host ready (reachable, atoll and tmux present, which agent
users this operator may act as)? Exit 0 when no host has a problem, 1 otherwise.

``--here`` checks only this host (what peers are asked over SSH); ``--host H`` (repeatable)
limits the check to configured hosts (or SSH aliases) H, ``local`` meaning this one.
``--json`` prints ``{"hosts": [report, ...]}`` (report shape: :mod:`atoll.fleet.doctor`);
with ``--here`` the report itself. Otherwise an aligned table on stdout.
"""

from __future__ import annotations

import sys
from typing import Any

import click
import msgspec

from atoll.core.config import HostConfig
from atoll.core.names import validate_host_name
from atoll.fleet.doctor import local_report, reports

COLUMNS = ("HOST", "REACHABLE", "ATOLL", "TMUX", "AGENT USERS", "PROBLEMS")


def _select(wanted: tuple[str, ...], configured: tuple[HostConfig, ...]
            ) -> tuple[bool, list[HostConfig]]:
    """(include local?, hosts) for ``--host`` values; all configured hosts by default."""
    if not wanted:
        return True, list(configured)
    by_name = {h.name: h for h in configured}
    local, hosts = False, []
    for name in dict.fromkeys(wanted):
        if name == "local":
            local = True
        elif name in by_name:
            hosts.append(by_name[name])
        else:
            hosts.append(HostConfig(name=validate_host_name(name), ssh=name))
    return local, hosts


def _cells(report: dict[str, Any]) -> list[str]:
    def tool(key: str) -> str:
        info = report.get(key) or {}
        if not report.get("reachable"):
            return "-"
        return str(info.get("version") or "-") if info.get("present") else "missing"

    allowed = (report.get("agent_users") or {}).get("allowed") or []
    problems = report.get("problems") or []
    return [
        str(report.get("host")),
        "yes" if report.get("reachable") else "no",
        tool("atoll"),
        tool("tmux"),
        ",".join(allowed) or "-",
        "; ".join(problems) or "-",
    ]


def table(all_reports: list[dict[str, Any]]) -> str:
    """Aligned text table, one row per host; warnings listed below it."""
    rows = [list(COLUMNS), *(_cells(r) for r in all_reports)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    lines = ["  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]])
             for row in rows]
    for report in all_reports:
        for user, state in sorted((report.get("caps") or {}).items()):
            from atoll.service.limits import describe

            lines.append(f"caps: {report.get('host')}: {describe(str(user), state)}")
        for warning in report.get("warnings") or []:
            lines.append(f"warning: {report.get('host')}: {warning}")
    return "\n".join(line.rstrip() for line in lines)


def _add_caps(report: dict[str, Any]) -> dict[str, Any]:
    """Add ``caps``: ``{agent user: limits status}`` (:func:`atoll.service.limits.status`)
    of the agent users this operator may act as that have limits (``atoll admin limits``)."""
    if "caps" not in report:
        from atoll.service.limits import caps_of

        allowed = (report.get("agent_users") or {}).get("allowed") or []
        report["caps"] = caps_of([str(u) for u in allowed])
    return report


@click.command("doctor")
@click.option("--host", "hosts", multiple=True, metavar="HOST",
              help="Check only HOST (a configured name or an SSH alias; 'local' for this "
                   "host). Repeatable.")
@click.option("--json", "as_json", is_flag=True, help="Print the reports as JSON.")
@click.option("--here", is_flag=True, help="Check only this host (what peers are asked).")
@click.option("--timeout", type=click.FloatRange(0.1, 600), default=10.0, show_default=True,
              help="Seconds to wait for each host.")
@click.pass_context
def doctor_cmd(ctx: click.Context, hosts: tuple[str, ...], as_json: bool, here: bool,
               timeout: float) -> None:
    """Check every host: reachable, atoll and tmux present, agent users you may act as.

    Exits 1 when any host has a problem.
    """
    if here:
        found = [_add_caps(local_report())]
        if as_json:
            sys.stdout.buffer.write(msgspec.json.encode(found[0]) + b"\n")
    else:
        from atoll.config import load_config

        cfg = load_config()
        include_local, selected = _select(hosts, cfg.hosts)
        found = reports(selected, timeout, include_local=include_local, cfg=cfg)
        if as_json:
            sys.stdout.buffer.write(msgspec.json.encode({"hosts": found}) + b"\n")
    for report in found:
        if report.get("host") == "local" and report.get("reachable"):
            _add_caps(report)
    if not as_json:
        click.echo(table(found))
    if any(r.get("problems") for r in found):
        ctx.exit(1)
