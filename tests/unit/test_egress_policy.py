"""Where an island's allow-list comes from: --allow, the user config, and host policy,
which only narrows (atoll.config.load_policy_allow, atoll.service.sessions.egress_rules)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import atoll.config
from atoll.config import load_policy_allow
from atoll.core.config import ConfigError, parse_config, parse_project_config
from atoll.core.egress import Allow
from atoll.core.errors import PermissionDeniedError, UsageError
from atoll.service.context import Context
from atoll.service.sessions import NewSession, egress_rules


def policy(tmp_path: Path, text: str, mode: int = 0o644) -> Path:
    p = tmp_path / "policy.toml"
    p.write_text(text)
    p.chmod(mode)
    return p


@pytest.mark.skipif(os.geteuid() != 0, reason="a trusted policy file is root's")
def test_policy_allow_is_read_only_from_a_root_owned_file(tmp_path: Path) -> None:
    assert load_policy_allow(tmp_path / "absent.toml") is None
    assert load_policy_allow(policy(tmp_path, 'other = 1\n')) is None
    assert load_policy_allow(policy(tmp_path, 'allow = ["api.example.com"]\n')) == (
        "api.example.com",)
    with pytest.raises(ConfigError):
        load_policy_allow(policy(tmp_path, 'allow = ["api.example.com"]\n', 0o666))
    with pytest.raises(ConfigError):
        load_policy_allow(policy(tmp_path, 'allow = ["2130706433"]\n'))
    with pytest.raises(ConfigError):
        load_policy_allow(policy(tmp_path, 'allow = "api.example.com"\n'))


@pytest.mark.skipif(os.geteuid() != 0, reason="a trusted policy file is root's")
def test_policy_narrows_the_asked_list_and_refuses_net(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(atoll.config, "POLICY_PATH",
                        policy(tmp_path, 'allow = ["api.example.com", "pypi.org"]\n'))
    ctx = Context(allow=("pypi.org",))
    got = egress_rules(ctx, NewSession(name="x", island="docker", allow=["api.example.com"]))
    assert got == (Allow("api.example.com"), Allow("pypi.org"))
    with pytest.raises(PermissionDeniedError):
        egress_rules(ctx, NewSession(name="x", island="docker", allow=["evil.example.com"]))
    with pytest.raises(PermissionDeniedError):
        egress_rules(Context(), NewSession(name="x", island="docker", net=True))


def test_net_and_allow_exclude_each_other_and_config_allow_is_checked() -> None:
    with pytest.raises(UsageError):
        egress_rules(Context(), NewSession(name="x", island="docker", net=True,
                                           allow=["api.example.com"]))
    assert parse_config(b'allow = ["api.example.com"]\n').allow == ("api.example.com",)
    with pytest.raises(ConfigError):
        parse_config(b'allow = ["0177.0.0.1"]\n')
    with pytest.raises(ConfigError):  # a cloned repository cannot open the network
        parse_project_config(b'allow = ["api.example.com"]\n')
