"""The console script ends a listing of this host with os._exit once its output is
flushed (atoll.cli.entry). Nothing may be lost on that path: not the output (also when it
is large or the reader goes away), not the exit code, not a one-line error."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support.proc import atoll, atoll_bin

from atoll.cli.entry import lists_this_host


def test_only_plain_local_listings_take_the_fast_exit() -> None:
    assert lists_this_host(["ls"]) and lists_this_host(["ls", "--json", "--here"])
    for args in ([], ["new", "x"], ["ls", "--all-hosts"], ["ls", "-A"], ["ls", "--host", "b"],
                 ["ls", "-H", "b"], ["lsx"], ["peek", "ls"]):
        assert not lists_this_host(args), args


def test_large_listing_arrives_whole(tmux_socket: str) -> None:
    for i in range(40):
        res = atoll("new", f"s{i:02d}", "--", "sleep", "600", socket=tmux_socket)
        assert res.returncode == 0, res.stderr
    res = atoll("ls", "--json", socket=tmux_socket)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)  # complete JSON: the flush happened before _exit
    assert sorted(s["name"] for s in data["sessions"]) == [f"s{i:02d}" for i in range(40)]


def test_reader_going_away_is_not_an_error(tmux_socket: str) -> None:
    atoll("new", "p00", "--", "sleep", "600", socket=tmux_socket)
    proc = subprocess.Popen([atoll_bin(), "ls", "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            env={"ATOLL_TMUX_SOCKET": tmux_socket, "PATH": "/usr/bin:/bin",
                                 "HOME": str(Path.home())})
    assert proc.stdout is not None
    proc.stdout.close()  # the reader is gone before atoll writes: its write gets EPIPE
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert b"Traceback" not in err


def test_errors_keep_their_exit_code_and_one_line(tmp_path: Path, tmux_socket: str) -> None:
    cfg = tmp_path / "atoll"
    cfg.mkdir()
    (cfg / "config.toml").write_text("no_such_key = 1\n")
    res = atoll("ls", "--json", socket=tmux_socket, env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert res.returncode == 2
    assert res.stdout == ""
    assert len(res.stderr.strip().splitlines()) == 1 and "no_such_key" in res.stderr
