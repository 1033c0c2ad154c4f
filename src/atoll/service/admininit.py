"""``atoll admin init``: the host ledger and the reaper's schedule.

Plans (like every ``atoll admin`` command, see :mod:`atoll.service.admin`):

1. the host ledger's base: group ``atoll-ops``, system user ``atoll-ledger``, the file;
2. the trust check of the append command (:func:`atoll.ledger.hostledger.untrusted_code`):
   when any file or directory it runs from is not root's alone, init refuses (exit 4) and
   installs no rule, since an operator who can edit that code can rewrite the ledger;
3. ``/etc/sudoers.d/atoll-ledger`` (visudo-checked) and ``/etc/atoll/host-ledger.toml``;
4. the schedule of ``atoll reap`` and ``atoll admin limits --restore``: a systemd timer and
   service when systemd is PID 1 (``/run/systemd/system`` exists, sd_booted(3)), else
   ``/etc/cron.d/atoll`` (every 5 minutes, and ``@reboot``).
"""

from __future__ import annotations

import os
import shlex
import sys

from atoll.core import admin as text
from atoll.core.errors import PermissionDeniedError
from atoll.ledger.hostledger import (
    HOST_LEDGER_CONF,
    append_command,
    render_conf,
    untrusted_code,
)
from atoll.service.admin import Change, _read, _run, _sudoers, ledger_base, write_root_file

CRON_PATH = "/etc/cron.d/atoll"
UNIT_DIR = "/etc/systemd/system"
REAP_EVERY_MINUTES = 5


def atoll_program() -> str:
    """The ``atoll`` console script of this installation (next to its interpreter)."""
    argv0 = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if os.path.basename(argv0) == "atoll":
        return argv0
    return os.path.join(os.path.dirname(sys.executable), "atoll")


def cron_text(program: str) -> str:
    prog = shlex.quote(program)
    return (f"# Written by `atoll admin init`: the host policy's max_idle/max_age, and the\n"
            f"# agent users' cgroups after a reboot.\n"
            f"*/{REAP_EVERY_MINUTES} * * * * root {prog} reap --quiet\n"
            f"@reboot root {prog} admin limits --restore\n")


def units(program: str) -> dict[str, str]:
    """systemd unit files (name -> text) running the same two commands."""
    return {
        "atoll-reap.service": ("[Unit]\nDescription=atoll: stop sessions past the host "
                               f"policy's limits\n\n[Service]\nType=oneshot\nExecStart={program}"
                               " reap --quiet\n"),
        "atoll-reap.timer": (f"[Unit]\nDescription=atoll reap every {REAP_EVERY_MINUTES} "
                             f"minutes\n\n[Timer]\nOnBootSec=5min\nOnUnitActiveSec="
                             f"{REAP_EVERY_MINUTES}min\n\n[Install]\nWantedBy=timers.target\n"),
        "atoll-limits.service": ("[Unit]\nDescription=atoll: agent users' cgroups\n\n"
                                 f"[Service]\nType=oneshot\nExecStart={program} admin limits "
                                 "--restore\n\n[Install]\nWantedBy=multi-user.target\n"),
    }


def systemd_booted() -> bool:
    return os.path.isdir("/run/systemd/system")


def _file(path: str, content: str, kind: str, mode: int = 0o644) -> list[Change]:
    if _read(path) == content:
        return []
    return [Change(kind, os.path.basename(path), f"write {path}",
                   lambda: write_root_file(path, content, mode))]


def plan_init(python: str | None = None) -> list[Change]:
    """The changes of ``atoll admin init`` (module doc). PermissionDeniedError (exit 4)
    naming the first offending paths when the append command's code is not root's alone."""
    python = python or sys.executable
    bad = untrusted_code(python)
    if bad:
        more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
        raise PermissionDeniedError(
            "refusing to let operators run the host ledger's append command: its code is not "
            f"root's alone, so an operator could rewrite the ledger: {'; '.join(bad[:3])}{more}"
            " (install atoll in a root-owned venv, e.g. /opt/atoll)")
    command = append_command(python)
    changes = ledger_base()
    changes += _sudoers(f"{text.SUDOERS_DIR}/{text.LEDGER_SUDOERS}",
                        text.ledger_rule(text.OPS_GROUP, text.LEDGER_USER, command), "ledger")
    changes += _file(HOST_LEDGER_CONF, render_conf(command), "ledger.conf")
    program = atoll_program()
    if systemd_booted():
        wrote = []
        for name, content in units(program).items():
            wrote += _file(os.path.join(UNIT_DIR, name), content, "systemd.unit")
        changes += wrote
        if wrote:
            changes.append(Change("systemd.enable", "atoll-reap.timer",
                                  "systemctl enable --now atoll-reap.timer atoll-limits.service",
                                  _enable_units))
    else:
        changes += _file(CRON_PATH, cron_text(program), "cron.write")
    return changes


def _enable_units() -> None:
    _run(["systemctl", "daemon-reload"])
    _run(["systemctl", "enable", "--now", "atoll-reap.timer"])
    _run(["systemctl", "enable", "atoll-limits.service"])
