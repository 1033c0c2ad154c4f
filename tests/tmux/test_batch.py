"""exec.process.Batch: many real commands at once, collected from one thread."""

from __future__ import annotations

from pathlib import Path

from atoll.core.errors import AtollError
from atoll.exec.process import Batch, CommandTimeoutError, Completed, run_argv


def test_results_come_in_argv_order_with_output_and_exit_codes() -> None:
    big = "x" * 100_000  # more than a pipe buffer (64 KiB): the batch must keep reading
    argvs = [["sh", "-c", "sleep 0.3; echo slow"], ["printf", "%s", big],
             ["sh", "-c", "echo err >&2; exit 3"], ["true"]]
    got = Batch(argvs).wait()
    assert all(isinstance(r, Completed) for r in got)
    slow, large, failed, ok = got
    assert isinstance(slow, Completed) and slow.stdout == b"slow\n"
    assert isinstance(large, Completed) and large.stdout == big.encode()
    assert isinstance(failed, Completed) and (failed.returncode, failed.stderr) == (3, "err\n")
    assert isinstance(ok, Completed) and ok.ok and ok.argv == ["true"]


def test_same_result_as_run_argv() -> None:
    argv = ["sh", "-c", 'printf "%s|%s" "$LC_ALL" "${TMUX-unset}"; exit 4']
    (res,) = Batch([argv]).wait()
    assert res == run_argv(argv)
    assert isinstance(res, Completed) and res.stdout == b"C.UTF-8|unset"


def test_commands_run_at_once_and_each_is_reported_as_it_ends() -> None:
    stamp = 'date +%s.%N; sleep "$0"; date +%s.%N'
    order: list[int] = []
    got = Batch([["sh", "-c", stamp, "0.6"], ["sh", "-c", stamp, "0.1"],
                 ["sh", "-c", stamp, "0.6"]]).wait(lambda i, _res: order.append(i))
    spans = [[float(x) for x in r.stdout.split()] for r in got if isinstance(r, Completed)]
    assert len(spans) == 3
    assert max(start for start, _ in spans) < min(end for _, end in spans)  # all overlapped
    assert order[0] == 1 and sorted(order) == [0, 1, 2]  # the short one reported first


def test_missing_program_and_timeout_are_results_not_exceptions(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    missing, slow, ok = Batch([["atoll-no-such-program"],
                               ["sh", "-c", f'echo $$ > {pidfile}; exec sleep 30'],
                               ["echo", "hi"]], timeout=0.5).wait()
    assert isinstance(missing, AtollError) and "program not found" in str(missing)
    assert isinstance(slow, CommandTimeoutError)
    assert isinstance(ok, Completed) and ok.stdout == b"hi\n"
    assert not Path(f"/proc/{pidfile.read_text().strip()}").exists()  # killed and reaped


def test_output_over_the_cap_stops_the_command_and_is_marked() -> None:
    # `yes` never ends by itself: only the cap ends it (a timeout would be an error)
    (res, small) = Batch([["yes"], ["echo", "hi"]], timeout=120, max_stdout=1 << 20).wait()
    assert isinstance(res, Completed) and res.truncated and len(res.stdout) == 1 << 20
    assert res.returncode != 0  # stopped, not finished
    assert isinstance(small, Completed) and small.stdout == b"hi\n" and not small.truncated

