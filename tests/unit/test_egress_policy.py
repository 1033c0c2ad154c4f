"""Where an island's allow-list comes from: --allow, the user config, and host policy,
which only narrows (atoll.service.policy.read_policy, atoll.service.sessions.egress_rules)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import atoll.service.policy
from atoll.core.config import ConfigError, parse_config, parse_project_config
from atoll.core.egress import Allow
from atoll.core.errors import PermissionDeniedError, UsageError
from atoll.core.policy import parse_policy
from atoll.service.context import Context
from atoll.service.policy import enforce_new, read_policy
from atoll.service.sessions import NewSession, egress_rules


def policy(tmp_path: Path, text: str, mode: int = 0o644) -> Path:
    p = tmp_path / "policy.toml"
    p.write_text(text)
    p.chmod(mode)
    return p


@pytest.mark.skipif(os.geteuid() != 0, reason="a trusted policy file is root's")
def test_policy_allow_is_read_only_from_a_root_owned_file(tmp_path: Path) -> None:
    def allow(p: Path) -> object:
        return read_policy(str(p)).allow

    assert allow(tmp_path / "absent.toml") is None
    assert allow(policy(tmp_path, 'max_idle = "4h"\n')) is None
    assert allow(policy(tmp_path, 'allow = ["api.example.com"]\n')) == (
        Allow("api.example.com"),)
    with pytest.raises(ConfigError):
        allow(policy(tmp_path, 'allow = ["api.example.com"]\n', 0o666))
    with pytest.raises(ConfigError):
        allow(policy(tmp_path, 'allow = ["2130706433"]\n'))
    with pytest.raises(ConfigError):
        allow(policy(tmp_path, 'allow = "api.example.com"\n'))
    with pytest.raises(ConfigError):  # one parser: an unknown key is refused, not skipped
        allow(policy(tmp_path, 'alow = ["api.example.com"]\n'))


def test_one_policy_file_holds_the_admin_rules_and_the_allow_list() -> None:
    """The administration keys and egress's ``allow`` live in one file read by one parser:
    a policy with both is valid for `atoll admin policy` and for `atoll new`."""
    got = parse_policy(b'islands = ["bwrap"]\nmax_idle = "4h"\nallow = ["pypi.org:443"]\n',
                       "p")
    assert got.islands == ("bwrap",)
    assert got.max_idle == 4 * 3600
    assert got.allow == (Allow("pypi.org", 443),)


@pytest.mark.skipif(os.geteuid() != 0, reason="a trusted policy file is root's")
def test_an_allow_list_in_the_policy_does_not_refuse_every_new_session(
        tmp_path: Path) -> None:
    path = str(policy(tmp_path, 'islands = ["bwrap"]\nallow = ["pypi.org"]\n'))
    enforce_new(Context(), "bwrap", None, ["claude"], "s", path)  # allowed, no error


@pytest.mark.skipif(os.geteuid() != 0, reason="a trusted policy file is root's")
def test_policy_narrows_the_asked_list_and_refuses_net(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(atoll.service.policy, "POLICY_PATH",
                        str(policy(tmp_path, 'allow = ["api.example.com", "pypi.org"]\n')))
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
