"""TmuxClient: every tmux command atoll issues, as argv through a Runner.

All untrusted text passes :func:`atoll.core.tmuxfmt.escape_arg` (and ``escape_format`` where
tmux expands formats). Targets are exact: ``=NAME`` for sessions, ``=NAME:`` for the
session's current window/pane (tmux(1) "COMMANDS", target-session).
"""

from __future__ import annotations

import msgspec

from atoll.core.errors import AtollError, NotFoundError
from atoll.core.tmuxfmt import (
    PaneRecord,
    escape_arg,
    escape_format,
    list_panes_format,
    parse_list_panes,
)
from atoll.exec.process import Completed
from atoll.exec.runner import Runner

DEFAULT_SOCKET = "atoll"

# The pane runs this constant script with the agent's argv as positional parameters ("$@":
# never parsed by the shell). It records the exit status on the pane, because tmux 3.3a
# loses pane_dead_status when the pty's EOF is handled before SIGCHLD (seen here in about
# one exit in three; tests/tmux/test_tmux_client.py::test_crashed_command...).
EXIT_WRAPPER = (
    '"$@"; s=$?; tmux set-option -p -t "$TMUX_PANE" @atoll_exit "$s" 2>/dev/null; exit "$s"'
)

# "server exited unexpectedly": the server was shutting down (its last session just ended)
_NO_SERVER = ("no server running", "error connecting to", "failed to connect to server",
              "server exited unexpectedly")
_NO_SESSION = ("can't find session", "can't find pane", "can't find window", "no such session",
               "no current target")


class NoServerError(AtollError):
    """The tmux server on this socket is not running."""


def _is_no_server(stderr: str) -> bool:
    return any(s in stderr for s in _NO_SERVER)


def _is_no_session(stderr: str) -> bool:
    return any(s in stderr for s in _NO_SESSION)


_MARKER = "\x1eatoll-pane\x1e"


def _list_panes_command() -> list[str]:
    return ["list-panes", "-a", "-F", list_panes_format()]


def _capture_commands(pane_ids: list[str]) -> list[list[str]]:
    cmds: list[list[str]] = []
    for pid in pane_ids:
        cmds.append(["display-message", "-p", "-t", pid, f"{_MARKER}#{{pane_id}}"])
        cmds.append(["capture-pane", "-p", "-t", pid])
    return cmds


class TmuxClient(msgspec.Struct, frozen=True):
    """tmux on named socket ``socket`` (``-L``), reached through ``runner``."""

    runner: Runner
    socket: str = DEFAULT_SOCKET
    timeout: float = 15.0

    # -- argv building -------------------------------------------------------------------
    def argv(self, *commands: list[str]) -> list[str]:
        """``tmux -L SOCKET cmd1 args ; cmd2 args``, every argument escaped."""
        out = ["tmux", "-L", self.socket]
        for i, cmd in enumerate(commands):
            if i:
                out.append(";")
            out.append(cmd[0])
            out.extend(escape_arg(a) for a in cmd[1:])
        return out

    def _run(self, *commands: list[str], input: bytes | None = None) -> Completed:
        return self.runner.run(self.argv(*commands), input=input, timeout=self.timeout)

    def _checked(self, target: str, *commands: list[str]) -> Completed:
        res = self._run(*commands)
        if res.ok:
            return res
        if _is_no_server(res.stderr) or _is_no_session(res.stderr):
            raise NotFoundError(f"no session {target!r}")
        return res.check()

    # -- queries -------------------------------------------------------------------------
    def list_panes(self) -> list[PaneRecord]:
        """Every pane of the server in ONE call; ``[]`` when no server runs."""
        return self.panes_from(self._run(_list_panes_command()))

    def list_panes_argv(self) -> list[str]:
        """The full argv of :meth:`list_panes`, to run elsewhere (a batch, the benchmark's
        raw floor); its result goes to :meth:`panes_from`."""
        return self.runner.wrap(self.argv(_list_panes_command()))

    @staticmethod
    def panes_from(res: Completed) -> list[PaneRecord]:
        """The panes in a finished ``list-panes`` call; ``[]`` when no server runs.
        Raises ExternalCommandError for any other failure (a sudo refusal among them)."""
        if not res.ok:
            # "no current target": a server whose last session just ended, still exiting
            if _is_no_server(res.stderr) or "no current target" in res.stderr:
                return []
            res.check()
        return parse_list_panes(res.stdout)

    def has_session(self, name: str) -> bool:
        return self._run(["has-session", "-t", f"={name}"]).ok

    def capture(self, name: str, lines: int | None = None) -> str:
        """Visible screen of session ``name`` as text (``-S -lines`` adds scrollback)."""
        cmd = ["capture-pane", "-p", "-J", "-t", f"={name}:"]
        if lines is not None:
            cmd += ["-S", f"-{lines}"]
        return self._checked(name, cmd).text()

    def capture_many(self, pane_ids: list[str]) -> dict[str, str]:
        """Screens of many panes in ONE tmux call, split by markers atoll prints between."""
        if not pane_ids:
            return {}
        return self.screens_from(self._run(*_capture_commands(pane_ids)))

    def capture_many_argv(self, pane_ids: list[str]) -> list[str]:
        """The full argv of :meth:`capture_many` (non-empty ``pane_ids``), to run elsewhere;
        its result goes to :meth:`screens_from`."""
        return self.runner.wrap(self.argv(*_capture_commands(pane_ids)))

    @staticmethod
    def screens_from(res: Completed) -> dict[str, str]:
        """pane id -> screen text from a finished :meth:`capture_many` call (panes that were
        gone by then are missing)."""
        out: dict[str, str] = {}
        current: str | None = None
        buf: list[str] = []
        for line in res.text().split("\n"):
            if line.startswith(_MARKER):
                if current is not None:
                    out[current] = "\n".join(buf)
                current, buf = line[len(_MARKER) :], []
            else:
                buf.append(line)
        if current is not None:
            out[current] = "\n".join(buf)
        return out

    # -- changes -------------------------------------------------------------------------
    def new_session(
        self,
        name: str,
        command: list[str],
        *,
        cwd: str,
        options: dict[str, str],
        env: dict[str, str] | None = None,
        width: int = 200,
        height: int = 50,
        pipe_command: str | None = None,
        first: list[str] | None = None,
    ) -> None:
        """Create detached session ``name`` running ``command`` (argv, no shell).

        The pane runs ``env -- K=V... sh -c EXIT_WRAPPER atoll-agent ARGV...``: more than
        one word, so tmux execs it directly (a single word would go through ``sh -c``,
        spawn.c); ``env`` sets the variables (tmux's ``-e`` cannot set PATH: tmux gives new
        panes the client's PATH); the wrapper records the exit status (see EXIT_WRAPPER)
        and passes ARGV to exec untouched. ``pipe_command`` (a shell command tmux runs with
        ``sh -c``, built by atoll with shlex) starts ``pipe-pane`` in the same call, before
        the server reads the pane's first output, so a transcript misses nothing.
        ``remain-on-exit`` is set server-wide before the session exists, so even a command
        that dies at once is kept as an exited pane. Options are set in the same call.
        ``first``, when given, is an argv prefix the pane runs before ``sh`` (the process
        reaper of :mod:`atoll.exec.reaper`).
        """
        if command and "=" in command[0]:
            raise AtollError(f"refusing command {command[0]!r}: '=' in a program name")
        new = ["new-session", "-d", "-s", name, "-c", escape_format(cwd)]
        new += ["-x", str(width), "-y", str(height)]
        assigns = [f"{key}={val}" for key, val in (env or {}).items()]
        new += ["--", "env", "--", *assigns, *(first or []), "sh", "-c", EXIT_WRAPPER,
                "atoll-agent", *command]
        cmds: list[list[str]] = [
            ["start-server"],
            ["set-option", "-g", "remain-on-exit", "on"],
            ["set-option", "-g", "history-limit", "5000"],
            new,
        ]
        for key, val in options.items():
            cmds.append(["set-option", "-t", f"={name}:", f"@{key}", val])
        if pipe_command is not None:
            cmds.append(["pipe-pane", "-O", "-t", f"={name}:", pipe_command])
        res = self._run(*cmds)
        if not res.ok:
            if "duplicate session" in res.stderr:
                raise AtollError(f"session {name!r} already exists")
            res.check()

    def set_option(self, name: str, key: str, value: str) -> None:
        self._checked(name, ["set-option", "-t", f"={name}:", f"@{key}", value])

    def kill_session(self, name: str) -> None:
        """Kill session ``name``; killing the last one ends the server, which tmux's client
        may report as "server exited unexpectedly": that is success here."""
        res = self._run(["kill-session", "-t", f"={name}"])
        if res.ok or "server exited unexpectedly" in res.stderr:
            return
        if _is_no_server(res.stderr) or _is_no_session(res.stderr):
            raise NotFoundError(f"no session {name!r}")
        res.check()

    def send_literal(self, name: str, text: str) -> None:
        """Type ``text`` literally (``send-keys -l``); the caller has sanitised it."""
        if text:
            self._checked(name, ["send-keys", "-t", f"={name}:", "-l", "--", text])

    def send_keys(self, name: str, keys: list[str]) -> None:
        """Press tmux key names ``keys`` (the caller chose them from a closed list)."""
        if keys:
            self._checked(name, ["send-keys", "-t", f"={name}:", *keys])

    def send_enter(self, name: str) -> None:
        self._checked(name, ["send-keys", "-t", f"={name}:", "Enter"])

    def pipe_pane(self, name: str, shell_command: str) -> None:
        """Pipe the pane's output to ``shell_command`` (tmux runs it with ``sh -c``)."""
        self._checked(name, ["pipe-pane", "-O", "-t", f"={name}:", shell_command])

    def attach_argv(self, name: str, *, read_only: bool = False) -> list[str]:
        """Full argv that attaches the current terminal to session ``name``."""
        cmd = ["attach-session", "-t", f"={name}"]
        if read_only:
            cmd.append("-r")
        return self.runner.wrap(self.argv(cmd))

    def switch_argv(self, name: str, *, read_only: bool = False) -> list[str]:
        """Argv for ``switch-client`` from inside tmux (same server only)."""
        cmd = ["switch-client", "-t", f"={name}"]
        if read_only:
            cmd.append("-r")
        return self.runner.wrap(self.argv(cmd))
