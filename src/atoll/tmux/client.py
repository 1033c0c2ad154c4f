"""TmuxClient: every tmux command atoll issues, as argv through a Runner.

All untrusted text passes :func:`atoll.core.tmuxfmt.escape_arg` (and ``escape_format`` where
tmux expands formats). Targets are exact: ``=NAME`` for sessions, ``=NAME:`` for the
session's current window/pane (tmux(1) "COMMANDS", target-session); a session atoll did
not name is addressed by its id, ``$N`` (:func:`session_target`).
"""

from __future__ import annotations

import contextlib
import re

import msgspec

from atoll.core.errors import AtollError, NotFoundError
from atoll.core.operator import PANE_INFO_FORMAT, PaneInfo, parse_pane_info
from atoll.core.text import MAX_ENVIRON, environ_is_utf8, foreground_pgid, stty_strips_bit8
from atoll.core.tmuxfmt import (
    MAX_ANSWER_BYTES,
    PaneList,
    PaneRecord,
    escape_arg,
    escape_format,
    list_panes_format,
    parse_panes,
)
from atoll.exec.process import Batch, Completed
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


def session_target(name: str) -> str:
    """tmux target of a session: ``$N`` (a session id, see atoll.core.sessionref) as is,
    any other name exact (``=NAME``)."""
    return name if name.startswith("$") else f"={name}"


def pane_target(name: str) -> str:
    """tmux target of a session's current pane (``=NAME:`` or ``$N:``)."""
    return f"{session_target(name)}:"


def _is_no_server(stderr: str) -> bool:
    return any(s in stderr for s in _NO_SERVER)


def _is_no_session(stderr: str) -> bool:
    return any(s in stderr for s in _NO_SESSION)


_PTS = re.compile(r"/dev/pts/[0-9]{1,7}")

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
    """tmux on named socket ``socket`` (``-L``), reached through ``runner``; or, with
    ``socket_path``, the server at that exact path (``-S``: a pane's own ``$TMUX`` server)."""

    runner: Runner
    socket: str = DEFAULT_SOCKET
    timeout: float = 15.0
    socket_path: str | None = None

    # -- argv building -------------------------------------------------------------------
    def argv(self, *commands: list[str]) -> list[str]:
        """``tmux -L SOCKET cmd1 args ; cmd2 args``, every argument escaped."""
        out = ["tmux", "-S", self.socket_path] if self.socket_path else ["tmux", "-L", self.socket]
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
        (res,) = Batch([self.list_panes_argv()], timeout=self.timeout,
                       max_stdout=MAX_ANSWER_BYTES).wait()
        if isinstance(res, AtollError):
            raise res
        return self.panes_from(res)

    def list_panes_argv(self) -> list[str]:
        """The full argv of :meth:`list_panes`, to run elsewhere (a batch, the benchmark's
        raw floor); its result goes to :meth:`panes_from`."""
        return self.runner.wrap(self.argv(_list_panes_command()))

    @staticmethod
    def panes_from(res: Completed) -> list[PaneRecord]:
        """The panes in a finished ``list-panes`` call (see :meth:`pane_list_from`)."""
        return TmuxClient.pane_list_from(res).panes

    @staticmethod
    def pane_list_from(res: Completed) -> PaneList:
        """The panes in a finished ``list-panes`` call (its stdout cut at MAX_ANSWER_BYTES
        when ``res.truncated``); no panes when no server runs. Raises ExternalCommandError
        for any other failure (a sudo refusal among them), FormatParseError for output
        that is not tmux's."""
        if res.truncated:
            return parse_panes(res.stdout[:MAX_ANSWER_BYTES], truncated=True)
        if not res.ok:
            # "no current target": a server whose last session just ended, still exiting
            if _is_no_server(res.stderr) or "no current target" in res.stderr:
                return PaneList([])
            res.check()
        return parse_panes(res.stdout)

    def has_session(self, name: str) -> bool:
        return self._run(["has-session", "-t", session_target(name)]).ok

    def capture(self, name: str, lines: int | None = None) -> str:
        """Visible screen of session ``name`` as text (``-S -lines`` adds scrollback)."""
        cmd = ["capture-pane", "-p", "-J", "-t", pane_target(name)]
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
            cmds.append(["set-option", "-t", pane_target(name), f"@{key}", val])
        if pipe_command is not None:
            cmds.append(["pipe-pane", "-O", "-t", pane_target(name), pipe_command])
        res = self._run(*cmds)
        if not res.ok:
            if "duplicate session" in res.stderr:
                raise AtollError(f"session {name!r} already exists")
            res.check()

    def session_option(self, name: str, option: str) -> str | None:
        """The value of user option ``option`` (``@...``) as seen from session ``name``'s
        current pane, stripped: empty when it is unset or the session is gone (tmux 3.3a's
        display-message answers a missing target with nothing), None when tmux fails."""
        res = self._run(["display-message", "-p", "-t", f"={name}:", f"#{{{option}}}"])
        return res.text().strip() if res.ok else None

    def set_pane_options(self, pane: str, values: dict[str, str | None]) -> None:
        """Set each user option of ``values`` on pane ``pane`` (``%N``), or unset it for None,
        in one tmux call. Raises ExternalCommandError when tmux refuses."""
        cmds = [["set-option", "-p", "-u", "-t", pane, key] if value is None
                else ["set-option", "-p", "-t", pane, key, value]
                for key, value in values.items()]
        self._run(*cmds).check()

    def kill_session(self, name: str) -> None:
        """Kill session ``name``; killing the last one ends the server, which tmux's client
        may report as "server exited unexpectedly": that is success here."""
        res = self._run(["kill-session", "-t", session_target(name)])
        if res.ok or "server exited unexpectedly" in res.stderr:
            return
        if _is_no_server(res.stderr) or _is_no_session(res.stderr):
            raise NotFoundError(f"no session {name!r}")
        res.check()

    def send_literal(self, name: str, text: str) -> None:
        """Type ``text`` literally (``send-keys -l``); the caller has sanitised it."""
        if text:
            self._checked(name, ["send-keys", "-t", pane_target(name), "-l", "--", text])

    def eight_bit_safe(self, name: str) -> bool:
        """Whether bytes >= 0x80 typed into session ``name`` arrive as text: the pane's
        foreground process has a UTF-8 locale and its tty keeps bit 8 (see
        :func:`atoll.core.text.check_typable`). Read with the server owner's rights
        (``/proc/PID/stat``, ``/proc/TPGID/environ``, ``stty -a -F TTY``); every answer
        that cannot be read or does not look right means False (the safe side)."""
        res = self._checked(name, ["display-message", "-p", "-t", f"={name}:",
                                   "#{pane_pid} #{pane_tty}"])
        pid, _, tty = res.text().strip().partition(" ")
        if not (pid.isdigit() and len(pid) <= 10 and _PTS.fullmatch(tty)):
            return False
        stat = self.runner.run(["head", "-c", "4096", f"/proc/{pid}/stat"], timeout=10)
        pgid = foreground_pgid(stat.stdout) if stat.ok else None
        if pgid is None:
            return False
        env = self.runner.run(["head", "-c", str(MAX_ENVIRON), f"/proc/{pgid}/environ"],
                              timeout=10)
        if not env.ok or not environ_is_utf8(env.stdout):
            return False
        stty = self.runner.run(["stty", "-a", "-F", tty], timeout=10)
        return stty.ok and not stty_strips_bit8(stty.text())

    def send_keys(self, name: str, keys: list[str]) -> None:
        """Press tmux key names ``keys`` (the caller chose them from a closed list)."""
        if keys:
            self._checked(name, ["send-keys", "-t", f"={name}:", *keys])

    def send_enter(self, name: str) -> None:
        self._checked(name, ["send-keys", "-t", pane_target(name), "Enter"])

    def attach_argv(self, name: str, *, read_only: bool = False) -> list[str]:
        """Full argv that attaches the current terminal to session ``name``."""
        cmd = ["attach-session", "-t", session_target(name)]
        if read_only:
            cmd.append("-r")
        return self.runner.wrap(self.argv(cmd))

    def switch_argv(self, name: str, *, read_only: bool = False) -> list[str]:
        """Argv for ``switch-client`` from inside tmux (same server only)."""
        cmd = ["switch-client", "-t", session_target(name)]
        if read_only:
            cmd.append("-r")
        return self.runner.wrap(self.argv(cmd))

    # -- operator mode (atoll mcp) -------------------------------------------------------
    def pane_info(self, name: str) -> PaneInfo:
        """Identity, size and cursor of session ``name``'s active pane (one call).
        Raises NotFoundError when it is gone, UsageError for an answer out of shape."""
        res = self._checked(name, ["display-message", "-p", "-t", f"={name}:",
                                   PANE_INFO_FORMAT])
        return parse_pane_info(res.text())

    def capture_visible(self, name: str) -> str:
        """The visible screen line by line as drawn (no ``-J``: a wrapped line stays two
        lines, so line N is the cursor's row N)."""
        return self._checked(name, ["capture-pane", "-p", "-t", f"={name}:"]).text()

    def send_key(self, name: str, key: str) -> None:
        """Press one named key (tmux(1) KEY BINDINGS) in session ``name``. The caller has
        checked it against its closed list; it is never sent with ``-l``."""
        self._checked(name, ["send-keys", "-t", f"={name}:", key])


def display_on_client(socket_path: str, pane: str, text: str) -> None:
    """Show ``text`` for 5 s in the status line of the operator's own tmux client that
    shows ``pane`` (server at ``socket_path``, from ``$TMUX`` and ``$TMUX_PANE``). Best
    effort: a failure is ignored (the same line is on stderr too)."""
    from atoll.exec.process import run_argv

    argv = ["tmux", "-S", socket_path, "display-message", "-t", escape_arg(pane), "-d", "5000",
            escape_arg(escape_format(text))]
    with contextlib.suppress(AtollError):
        run_argv(argv, timeout=5)


def set_hook_state(socket_path: str, pane: str, state: str | None) -> None:
    """Set an agent's hook-reported ``state`` (``waiting``, ``running``, ``idle``; None
    clears it) on pane ``pane`` (``%N``) of the server at ``socket_path``, with the time it
    was reported: ``@atoll_state`` and ``@atoll_state_time`` (RFC 3339), in one tmux call.
    Raises ExternalCommandError when tmux refuses."""
    import time

    from atoll.core.timefmt import rfc3339
    from atoll.exec.runner import Local

    values: dict[str, str | None] = {"@atoll_state": state}
    if state is not None:
        values["@atoll_state_time"] = rfc3339(time.time()) or ""
    TmuxClient(Local(), timeout=5, socket_path=socket_path).set_pane_options(pane, values)
