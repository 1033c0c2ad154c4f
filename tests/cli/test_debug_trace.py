"""``ATOLL_DEBUG=1``: every process atoll runs is traced on stderr (argv, exit code,
milliseconds), and stdout keeps its data contract (JSON, screens)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.support.proc import atoll

TRACE = re.compile(r"atoll: debug: exit (\S+) in (\d+\.\d) ms: (.+)")


def traced(stderr: str) -> list[tuple[str, str]]:
    """(exit code, argv) of every trace line; each ``atoll: debug:`` line is well formed."""
    out = []
    for line in stderr.splitlines():
        if line.startswith("atoll: debug:"):
            m = TRACE.fullmatch(line)
            assert m, f"malformed trace line: {line!r}"
            out.append((m.group(1), m.group(3)))
    return out


def test_trace_on_stderr_and_json_intact(tmux_socket: str, tmp_path: Path) -> None:
    env = {"ATOLL_DEBUG": "1", "XDG_STATE_HOME": str(tmp_path / "state")}
    made = atoll("new", "dbg", "--", "cat", socket=tmux_socket, env=env)
    assert made.returncode == 0, made.stderr
    new_calls = traced(made.stderr)
    assert any(argv.startswith("tmux ") and "new-session" in argv and code == "0"
               for code, argv in new_calls), new_calls

    listed = atoll("ls", "--json", socket=tmux_socket, env=env)
    assert listed.returncode == 0
    assert [s["name"] for s in json.loads(listed.stdout)["sessions"]] == ["dbg"]
    ls_calls = traced(listed.stderr)
    assert any("list-panes" in argv and tmux_socket in argv for _, argv in ls_calls), ls_calls

    quiet = atoll("ls", "--json", socket=tmux_socket,
                  env={"XDG_STATE_HOME": env["XDG_STATE_HOME"]})
    assert quiet.returncode == 0 and "atoll: debug:" not in quiet.stderr

    screen = atoll("peek", "dbg", socket=tmux_socket, env=env)
    assert screen.returncode == 0 and "atoll: debug:" not in screen.stdout
    assert any("capture-pane" in argv for _, argv in traced(screen.stderr))

    missing = atoll("kill", "nosuch", socket=tmux_socket, env=env)
    assert missing.returncode == 3
    assert missing.stderr.splitlines()[-1].startswith("atoll: error: ")
    assert traced(missing.stderr), "the failed command's processes are traced too"
