"""Pure island logic: names, labels, sizes, grant text, container and bwrap argv."""

from __future__ import annotations

import hashlib

import pytest

from atoll.core.errors import UsageError
from atoll.core.islands import (
    Grant,
    IslandSpec,
    bwrap_argv,
    container_name,
    container_run_argv,
    island_dir,
    island_labels,
    parse_container_name,
    parse_grant,
    parse_size,
    project_hash,
    validate_grant_path,
    volume_name,
)


def spec(**kw: object) -> IslandSpec:
    base: dict[str, object] = {"name": "fix-login", "project_dir": "/home/wes/src/app",
                               "kind": "docker", "operator": "wes"}
    base.update(kw)
    return IslandSpec(**base)  # type: ignore[arg-type]


def test_container_name_is_prefix_hash8_name() -> None:
    want = hashlib.sha256(b"/home/wes/src/app").hexdigest()[:8]
    assert project_hash("/home/wes/src/app") == want
    assert container_name("/home/wes/src/app", "fix-login") == f"atoll-{want}-fix-login"
    assert volume_name(f"atoll-{want}-fix-login") == f"atoll-{want}-fix-login-ws"
    assert spec().island_id == f"atoll-{want}-fix-login"
    assert spec(kind="bwrap", agent_user="wes-agent").island_id == f"{want}-fix-login"


@pytest.mark.parametrize("name,expected", [
    ("atoll-0123abcd-x", ("0123abcd", "x")),
    ("atoll-0123abcd-a.b_c-d", ("0123abcd", "a.b_c-d")),
    ("atoll-0123abcd-", None),
    ("atoll-0123abcX-x", None),
    ("atoll-0123abcd_x", None),
    ("other-0123abcd-x", None),
    ("atoll-0123abcd--x", None),
])
def test_parse_container_name(name: str, expected: tuple[str, str] | None) -> None:
    assert parse_container_name(name) == expected


def test_labels_carry_hash_dir_name_owner() -> None:
    s = spec()
    labels = island_labels(s, ["a" * 40])
    assert labels == {
        "atoll.project-hash": s.hash8, "atoll.project-dir": "/home/wes/src/app",
        "atoll.name": "fix-login", "atoll.owner": "wes", "atoll.kind": "docker",
        "atoll.base-commits": "a" * 40,
    }
    assert "atoll.base-commits" not in island_labels(s, ["b" * 40] * 65)


@pytest.mark.parametrize("text,value", [
    ("4096", 4096), ("1k", 1024), ("512m", 512 << 20), ("2g", 2 << 30), ("2GiB", 2 << 30),
    ("1T", 1 << 40), (" 3m ", 3 << 20),
])
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "m", "1.5g", "-1m", "2x", "1 g"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        parse_size(text)


@pytest.mark.parametrize("path", [
    "relative/dir", "/a/../b", "/a/./b", "/a//b", "/a/b/", "/", "/home", "/etc", "/etc/ssl",
    "/proc/1", "/var/run/docker.sock", "/run/user/1000", "/usr/local", "/a,b", "/a:b",
    "/a\nb", "/var/lib/docker/volumes/x", "/tmp",
])
def test_grant_paths_rejected(path: str) -> None:
    with pytest.raises(UsageError):
        validate_grant_path(path)


def test_grant_text() -> None:
    assert parse_grant("/srv/data") == Grant("/srv/data", False)
    assert parse_grant("/srv/data:rw") == Grant("/srv/data", True)
    assert parse_grant("/srv/data:ro") == Grant("/srv/data", False)
    with pytest.raises(UsageError):
        parse_grant("/srv/../etc:rw")


@pytest.mark.parametrize("kw", [
    {"name": "-x"}, {"name": "a b"}, {"kind": "Bad Kind"}, {"cpus": 0}, {"memory": 1 << 20},
    {"pids": 3}, {"project_dir": "rel"}, {"kind": "bwrap"}, {"kind": "user"},
    {"kind": "bwrap", "agent_user": "Bad User"},
])
def test_spec_validation(kw: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        spec(**kw)


def test_an_unregistered_kind_is_refused_by_the_registry() -> None:
    """Which kinds exist is the registry's to say (atoll.islands.registry), not core's."""
    from atoll.islands.registry import make_island

    with pytest.raises(UsageError, match="unknown island kind 'vm': use one of none, user"):
        make_island(spec(kind="vm"))


def _pairs(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == flag]


def test_container_run_argv_hardening() -> None:
    s = spec(cpus=1.5, memory=256 << 20, pids=100, grants=(Grant("/srv/ref"),
                                                           Grant("/srv/out", True)))
    argv = container_run_argv(s, volume="VOL", labels=island_labels(s),
                              ulimits={"nofile": (4096, 4096)})
    assert argv[:4] == ["run", "-d", "--name", s.island_id]
    for flag in ("--init", "--read-only"):
        assert flag in argv
    assert _pairs(argv, "--cap-drop") == ["ALL"]
    assert _pairs(argv, "--security-opt") == ["no-new-privileges"]
    assert _pairs(argv, "--pids-limit") == ["100"]
    assert _pairs(argv, "--memory") == [str(256 << 20)]
    assert _pairs(argv, "--memory-swap") == [str(256 << 20)]
    assert _pairs(argv, "--cpus") == ["1.5"]
    assert _pairs(argv, "--network") == ["none"]
    assert _pairs(argv, "--user") == ["1000:1000"]
    assert _pairs(argv, "--ulimit") == ["nofile=4096:4096"]
    assert _pairs(argv, "-v") == ["VOL:/workspace", "/srv/ref:/srv/ref:ro",
                                  "/srv/out:/srv/out:rw"]
    assert argv[-3:] == ["atoll-island:latest", "sleep", "infinity"]
    joined = " ".join(argv)
    for bad in ("docker.sock", "SSH_AUTH_SOCK", "/home/wes:", "--privileged", "--cap-add"):
        assert bad not in joined
    assert _pairs(container_run_argv(spec(net=True), volume="V", labels={}), "--network") == [
        "bridge"]


def test_bwrap_argv_shape() -> None:
    s = spec(kind="bwrap", agent_user="wes-agent", pids=64, memory=128 << 20,
             grants=(Grant("/srv/ref"), Grant("/srv/out", True)))
    argv = bwrap_argv(s, "/h/ws", ["claude", "--x"], home="/h/home")
    assert argv[0] == "bwrap"
    for flag in ("--unshare-all", "--new-session", "--die-with-parent", "--disable-userns"):
        assert flag in argv
    assert "--share-net" not in argv
    sep = argv.index("--")
    assert argv[sep + 1:] == ["/usr/bin/prlimit", "--nproc=64:64", f"--data={128 << 20}:"
                              f"{128 << 20}", "--", "claude", "--x"]
    binds = [(a, argv[i + 1], argv[i + 2]) for i, a in enumerate(argv[:sep])
             if a in ("--bind", "--ro-bind")]
    assert ("--ro-bind", "/usr", "/usr") in binds
    assert ("--ro-bind", "/etc", "/etc") in binds
    assert ("--ro-bind", "/srv/ref", "/srv/ref") in binds
    assert ("--bind", "/srv/out", "/srv/out") in binds
    assert {b[1] for b in binds if b[0] == "--bind"} == {"/srv/out", "/h/ws", "/h/home"}
    assert _pairs(argv, "--chdir") == ["/h/ws"]
    assert "--new-session" not in bwrap_argv(s, "/h/ws", ["x"], new_session=False)
    assert "--share-net" in bwrap_argv(spec(kind="bwrap", agent_user="a", net=True), "/w", ["x"])


def test_bwrap_granted_read_only_project_stays_read_only() -> None:
    s = spec(kind="bwrap", agent_user="a", project_dir="/srv/p", grants=(Grant("/srv/p"),))
    argv = bwrap_argv(s, "/srv/p", ["x"])
    binds = [(a, argv[i + 1]) for i, a in enumerate(argv) if a in ("--bind", "--ro-bind")]
    assert ("--ro-bind", "/srv/p") in binds
    assert ("--bind", "/srv/p") not in binds


def test_island_dir() -> None:
    s = spec(kind="bwrap", agent_user="wes-agent")
    assert island_dir("/home/wes-agent", s) == f"/home/wes-agent/.atoll/islands/{s.hash8}-fix-login"
