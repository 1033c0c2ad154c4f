"""Islands with an allow-list, through the real CLI: bwrap, docker and podman islands whose
only way out is their egress proxy, attacked from inside (issue 20 point 4), with a real web
host in a network namespace and the real ledger. Heavy: run under /tmp/atoll-heavy.lock."""

from __future__ import annotations

import glob
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from atoll.exec.runner import Sudo
from atoll.islands.bwrap import list_bwrap_islands
from tests.support.proc import atoll
from tests.support.users import UserFactory
from tests.support.webhost import PORT, WebHost, ledger_lines

PROBE = (Path(__file__).with_name("egress_probe.py")).read_text()
BORROW = """
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(30)
try:
    s.connect(sys.argv[1])
    s.sendall(b"CONNECT " + sys.argv[2].encode() + b" HTTP/1.1\\r\\n\\r\\n")
    got = s.recv(100)
except (BrokenPipeError, ConnectionResetError):
    got = b""
print("closed unanswered" if got == b"" else repr(got))
"""


@pytest.fixture(scope="module")
def web() -> Iterator[WebHost]:
    host = WebHost("egi").start()
    yield host
    host.stop()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    tmp_path.chmod(0o755)
    proj = tmp_path / "proj"
    proj.mkdir(mode=0o755)
    (proj / "README").write_text("project file\n")
    subprocess.run(["git", "init", "-q", str(proj)], check=True)
    return proj


def rows(socket: str, env: dict[str, str]) -> list[dict[str, Any]]:
    res = atoll("ls", "--json", socket=socket, env=env)
    assert res.returncode == 0, res.stderr
    out: list[dict[str, Any]] = json.loads(res.stdout)["sessions"]
    return out


def proxy_dirs() -> list[str]:
    return glob.glob(f"/tmp/atoll-egress-{os.getuid()}/*")


def check_probe(out: dict[str, Any], web: WebHost) -> None:
    """What every island kind must show from inside."""
    url = "http://127.0.0.1:3128"
    assert out["env"] == {"HTTPS_PROXY": url, "HTTP_PROXY": url, "https_proxy": url,
                          "NO_PROXY": "localhost,127.0.0.1,::1",
                          "no_proxy": "localhost,127.0.0.1,::1"}
    assert out["http_via_proxy"] == "ok:hello from web\n"
    assert out["connect_allowed"].startswith("ok:HTTP/1.1 200")
    assert "hello from web" in out["connect_allowed"]
    assert out["direct"].startswith("fail:"), out["direct"]
    assert out["dns_lookup"].startswith("fail:gaierror"), out["dns_lookup"]
    assert out["dns_udp"].startswith("fail:"), out["dns_udp"]
    for key in ("connect_other_port", "connect_other_host", "connect_own",
                "connect_loopback", "connect_metadata"):
        assert out[key].startswith("ok:HTTP/1.1 403"), (key, out[key])
    for key in ("connect_decimal", "connect_octal", "connect_mapped", "host_header_trick",
                "userinfo_trick"):
        assert out[key].startswith("ok:HTTP/1.1 400"), (key, out[key])
    assert out["egress_dir"].startswith("fail:PermissionError")  # passable, not listable
    assert out["other_islands"].startswith("fail:FileNotFoundError")
    assert out["flood"] == "ok:HTTP/1.1 503 Service Unavailable | HTTP/1.1 200 Connection " \
                           "established", out["flood"]
    paths = web.requests()
    assert "GET /allowed " + f"{web.address}:{PORT}" in paths
    assert any(p.startswith("GET /tunnel ") for p in paths)
    assert any(p.startswith("GET /after-flood ") for p in paths)
    assert not any("/trick" in p for p in paths)
    assert web.own_requests() == []


def check_ledger(env: dict[str, str], island_id: str, web: WebHost) -> None:
    ledger = Path(env["XDG_STATE_HOME"]) / "atoll" / "ledger.jsonl"
    recs = [r for r in ledger_lines(ledger) if r["action"] == "crossing.egress"
            and r["target"]["island_id"] == island_id]  # type: ignore[index]
    allowed = [r for r in recs if r["outcome"] == "intent"]
    denied = [r for r in recs if r["outcome"] == "denied"]
    closed = [r for r in recs if r["outcome"] == "ok"]
    assert allowed and all(r["details"]["address"] == web.address  # type: ignore[index]
                           for r in allowed)
    assert {r["details"]["host"] for r in denied} >= {  # type: ignore[index]
        "refused.example.com", web.own, "127.0.0.1", "169.254.169.254"}
    assert all(r["details"]["allowed"] is False for r in denied)  # type: ignore[index]
    assert closed and all(r["details"]["bytes_down"] >= 0 for r in closed)  # type: ignore[index]
    audit = atoll("audit", "verify", env=env)
    assert audit.returncode == 0, audit.stderr
    shown = atoll("audit", "crossings", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    rows = [r for r in json.loads(shown.stdout)["crossings"]
            if r["action"] == "crossing.egress"]
    assert {r["state"] for r in rows} == {"closed", "denied"}
    assert any(r["path"] == f"{web.address}:{PORT}" and r["bytes"] > 0 for r in rows)


def test_bwrap_island_with_an_allow_list(bwrap_ready: None, tmux_socket: str, project: Path,
                                         tmp_path: Path, web: WebHost) -> None:
    users = UserFactory()
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    try:
        agent = users.user(users.name("eg", "-agent"))
        other = users.user(users.name("eo", "-agent"))
        res = atoll("new", "eg1", "--island", "bwrap", "--as", agent, "--dir", str(project),
                    "--allow", f"{web.address}:{PORT}", "--", "bash", "--norc",
                    socket=tmux_socket, env=env)
        assert res.returncode == 0, res.stderr
        (row,) = [r for r in rows(tmux_socket, env) if r["name"] == "eg1"]
        assert row["net"] == "allow"
        (isl,) = [i for i in list_bwrap_islands(agent) if i.spec.name == "eg1"]
        assert isl.spec.egress_dir and [isl.spec.egress_dir] == [
            d for d in proxy_dirs() if isl.island_id in d]
        probe = Sudo(agent).run(isl.pane_command(
            ["/usr/bin/python3", "-c", PROBE, web.address, str(PORT), web.own]), timeout=120)
        assert probe.ok, probe.stderr
        check_probe(json.loads(probe.stdout), web)
        check_ledger(env, isl.island_id, web)
        # another user of this host cannot borrow the island's proxy
        sock = f"{isl.spec.egress_dir}/proxy.sock"
        borrow = subprocess.run(
            ["runuser", "-u", other, "--", "python3", "-c",
             BORROW, sock, f"{web.address}:{PORT}"], capture_output=True, text=True, timeout=60)
        assert borrow.stdout.strip() == "closed unanswered", borrow
    finally:
        purged = atoll("purge", "eg1", "--yes", "--force", socket=tmux_socket, env=env)
        users.cleanup()
    assert purged.returncode == 0, purged.stderr
    assert not [d for d in proxy_dirs() if "-eg1." in d]


def test_container_island_with_an_allow_list(engine: str, tmux_socket: str, project: Path,
                                             tmp_path: Path, web: WebHost) -> None:
    env = {"XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CACHE_HOME": str(tmp_path / "c")}
    name = f"eg-{engine}"
    res = atoll("new", name, "--island", engine, "--dir", str(project), "--allow",
                f"{web.address}:{PORT}", "--", "bash", "--norc", socket=tmux_socket, env=env)
    assert res.returncode == 0, res.stderr
    try:
        (row,) = [r for r in rows(tmux_socket, env) if r["name"] == name]
        assert row["net"] == "allow"
        container = row["agent_user"].split(":", 1)[1]
        argv = ["podman", "--runtime", "runc"] if engine == "podman" else ["docker"]
        probe = subprocess.run([*argv, "exec", "-u", "1000", container, "python3", "-c", PROBE,
                                web.address, str(PORT), web.own],
                               capture_output=True, text=True, timeout=180)
        assert probe.returncode == 0, probe.stderr
        check_probe(json.loads(probe.stdout), web)
        check_ledger(env, container, web)
    finally:
        purged = atoll("purge", name, "--yes", "--force", socket=tmux_socket, env=env)
    assert purged.returncode == 0, purged.stderr
    assert not [d for d in proxy_dirs() if f"-{name}." in d]


def test_allow_and_net_exclude_each_other(tmux_socket: str, project: Path) -> None:
    res = atoll("new", "x1", "--island", "docker", "--dir", str(project), "--net", "--allow",
                "api.example.com", socket=tmux_socket)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "--net" in res.stderr
    res = atoll("new", "x2", "--allow", "api.example.com", "--", "true", socket=tmux_socket)
    assert res.returncode == 2 and "--allow" in res.stderr
    res = atoll("new", "x3", "--island", "docker", "--dir", str(project), "--allow",
                "2130706433", socket=tmux_socket)
    assert res.returncode == 2 and "numeric" in res.stderr


def test_codex_reaches_a_stand_in_model_api_through_the_proxy_and_nothing_else(
        bwrap_ready: None, tmux_socket: str, project: Path, tmp_path: Path,
        web: WebHost) -> None:
    """The real Codex CLI (npm) in a bwrap island with --allow for the stand-in model API:
    it answers through the proxy; pointed at another host (the host's own listener, the
    same stand-in), the same CLI gets nothing there."""
    import shutil

    codex = shutil.which("codex")
    assert codex, "codex is not installed: scripts/deps/20-agents.sh"
    users = UserFactory()
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    try:
        agent = users.user(users.name("ec", "-agent"))
        res = atoll("new", "ec1", "--island", "bwrap", "--as", agent, "--dir", str(project),
                    "--allow", f"{web.address}:{PORT}", "--", "bash", "--norc",
                    socket=tmux_socket, env=env)
        assert res.returncode == 0, res.stderr
        (isl,) = [i for i in list_bwrap_islands(agent) if i.spec.name == "ec1"]

        def run_codex(base: str) -> tuple[int, str]:
            provider = f'{{name="stub",base_url="{base}/v1",wire_api="responses"}}'
            argv = [codex, "exec", "--skip-git-repo-check", "-c", "model_provider=stub",
                    "-c", f"model_providers.stub={provider}", "-c",
                    "model_providers.stub.stream_max_retries=0", "-c",
                    "model_providers.stub.request_max_retries=0", "-m", "stub-model", "hi"]
            done = Sudo(agent).run(isl.pane_command(argv), timeout=120)
            return done.returncode, done.text() + done.stderr

        before = len(web.requests())
        code, text = run_codex(f"http://{web.address}:{PORT}")
        assert code == 0 and "STUB-MODEL-ANSWER-42" in text, text
        assert [r for r in web.requests()[before:] if r.startswith("POST /v1/responses")]
        code, text = run_codex(f"http://{web.own}:{PORT}")
        assert code != 0 and "STUB-MODEL-ANSWER-42" not in text
        assert web.own_requests() == []
        ledger = Path(env["XDG_STATE_HOME"]) / "atoll" / "ledger.jsonl"
        recs = [r for r in ledger_lines(ledger) if r["action"] == "crossing.egress"]
        seen = {(r["details"]["host"], r["details"]["allowed"])  # type: ignore[index]
                for r in recs if r["outcome"] in ("intent", "denied")}
        # what codex tried besides its model (update checks, sign-in hosts) was refused too
        assert {h for h, allowed in seen if allowed} == {web.address}
        assert (web.own, False) in seen
    finally:
        atoll("purge", "ec1", "--yes", "--force", socket=tmux_socket, env=env)
        users.cleanup()
