"""The island image: the bootstrap image in both engines, `atoll image build` (cached
bootstrap and Dockerfile builds), and that the two recipes agree."""

from __future__ import annotations

import json
import re

import pytest

from atoll.core.errors import UsageError
from atoll.islands.bootstrap import PACKAGES, debian_mirror, recipe_key
from atoll.islands.engine import Engine
from atoll.islands.image import agents_dockerfile, dockerfile_text, import_changes
from tests.islands.support import cli, tag


def run_rm(engine: str, image: str, *argv: str) -> str:
    """``ENGINE run --rm`` (podman needs explicit ulimits here, see atoll.islands.engine)."""
    extra: list[str] = []
    if engine == "podman":
        extra = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]
    return Engine(engine).check("run", "--rm", "--network", "none", *extra, image, *argv,
                                timeout=120).text()


def config(engine: str, image: str) -> dict[str, object]:
    res = Engine(engine).check("image", "inspect", "--format", "{{json .Config}}", image)
    data: dict[str, object] = json.loads(res.stdout)
    return data


def test_bootstrap_image_in_each_engine(engine: str) -> None:
    cfg = config(engine, "atoll-island:latest")
    assert cfg["User"] == "1000:1000"
    assert cfg["WorkingDir"] == "/workspace"
    assert cfg["Cmd"] == ["sleep", "infinity"]
    assert "HOME=/home/agent" in cfg["Env"]  # type: ignore[operator]
    assert cfg["Labels"]["atoll.image-recipe"] == recipe_key()  # type: ignore[index]
    out = run_rm(engine, "atoll-island:latest", "sh", "-c",
                 "id; tmux -V; git --version; python3 -c 'print(1)'; ps -V; "
                 "test -f /etc/ssl/certs/ca-certificates.crt && echo certs; "
                 "stat -c %u /workspace")
    assert "uid=1000(agent) gid=1000(agent)" in out
    for want in ("tmux 3.", "git version", "\n1\n", "procps", "certs", "\n1000\n"):
        assert want in out, (want, out)


def test_cli_bootstrap_build_reuses_the_cached_rootfs(docker_image: str) -> None:
    name = f"atoll-island:cli-{tag()}"
    try:
        # the session image may have come from the engine's store without touching the
        # rootfs cache (a machine that kept its images): the first build fills the cache
        first = cli("image", "build", "--engine", "docker", "--bootstrap", "--tag", name)
        assert first.returncode == 0, first.stderr
        res = cli("image", "build", "--engine", "docker", "--bootstrap", "--tag", name)
        assert res.returncode == 0, res.stderr
        assert res.stdout == ""
        assert re.search(r"built .* by debootstrap in [0-9.]+ s \(debootstrap 0\.0 s, "
                         r"import [0-9.]+ s\) \(root filesystem from cache\)", res.stderr)
        assert config("docker", name)["User"] == "1000:1000"
    finally:
        Engine("docker").run("rmi", name)


def test_cli_dockerfile_build(engine: str) -> None:
    """The shipped Dockerfile, built FROM the bootstrap image (apt needs the Debian mirror,
    as debootstrap does; no registry is needed)."""
    name = f"atoll-island:df-{tag()}"
    try:
        res = cli("image", "build", "--engine", engine, "--base", "atoll-island:latest",
                  "--tag", name, timeout=900)
        assert res.returncode == 0, res.stderr
        assert f"built {name} for {engine} by Dockerfile" in res.stderr
        cfg = config(engine, name)
        assert (cfg["User"], cfg["WorkingDir"], cfg["Cmd"]) == (
            "1000:1000", "/workspace", ["sleep", "infinity"])
        assert run_rm(engine, name, "tmux", "-V").startswith("tmux ")
    finally:
        Engine(engine).run("rmi", name)


def test_cli_usage_errors() -> None:
    res = cli("image", "build", "--with", "claude,nonsense")
    assert res.returncode == 2 and "unknown agent(s) nonsense" in res.stderr
    res = cli("image", "build", "--engine", "lxc")
    assert res.returncode == 2
    res = cli("image", "build", "--bootstrap", "--base", "x")
    assert res.returncode == 2 and "exclude each other" in res.stderr


def test_dockerfile_and_import_recipe_agree() -> None:
    text = dockerfile_text()
    changes = import_changes(recipe_key())
    for line in ("USER 1000:1000", "WORKDIR /workspace", 'CMD ["sleep", "infinity"]'):
        assert line in text and line in changes
    install = re.search(r"--no-install-recommends \\\s*\n\s*(.+?)\s*\\", text)
    assert install is not None
    assert install.group(1).split() == list(PACKAGES)
    for env in ("HOME=/home/agent", "LANG=C.UTF-8"):
        assert env in text and f"ENV {env}" in changes


def test_agents_dockerfile() -> None:
    text = agents_dockerfile(["claude", "aider"])
    assert "npm install -g --omit=dev @anthropic-ai/claude-code" in text
    assert "pip install --no-cache-dir aider-chat" in text
    assert text.rstrip().endswith("WORKDIR /workspace")
    assert "USER 1000:1000" in text
    with pytest.raises(UsageError):
        agents_dockerfile(["vim"])


def test_mirror_comes_from_apt_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATOLL_DEBIAN_MIRROR", "http://mirror.invalid/debian")
    assert debian_mirror() == "http://mirror.invalid/debian"
    monkeypatch.delenv("ATOLL_DEBIAN_MIRROR")
    assert debian_mirror().startswith(("http://", "https://"))
