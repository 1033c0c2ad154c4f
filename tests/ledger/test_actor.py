"""Who the ledger says acted: real uid, verified sudo, ssh client."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys

from atoll.ledger import Actor
from tests.ledger.conftest import Users, run_as

PRINT_ACTOR = ("import json; from atoll.ledger import Actor; "
               "print(json.dumps(Actor.current().to_json()))")


def test_actor_is_the_real_uid_not_user_env() -> None:
    actor = Actor.current({"USER": "mallory", "LOGNAME": "mallory"})
    assert actor.uid == os.getuid() and actor.user == pwd.getpwuid(os.getuid()).pw_name
    assert actor.sudo_user is None


def test_ssh_client_address() -> None:
    assert Actor.current({"SSH_CONNECTION": "10.1.2.3 50000 10.0.0.1 22"}).ssh_client == "10.1.2.3"
    assert Actor.current({"SSH_CLIENT": "2001:db8::7 50000 22"}).ssh_client == "2001:db8::7"
    assert Actor.current({"SSH_CONNECTION": "$(reboot) 1 2 3"}).ssh_client is None


def test_claimed_sudo_without_sudo_is_ignored(throwaway: Users) -> None:
    user = throwaway.make("su")
    claimed = throwaway.make("cl")
    res = run_as(user, "env", f"SUDO_USER={claimed}",
                 f"SUDO_UID={pwd.getpwnam(claimed).pw_uid}", sys.executable, "-c", PRINT_ACTOR)
    assert res.returncode == 0, res.stderr
    actor = json.loads(res.stdout)
    assert actor["user"] == user and actor["sudo_user"] is None


def test_real_sudo_is_recorded_with_the_invoking_ssh_client() -> None:
    env = {**os.environ, "SSH_CONNECTION": "192.0.2.9 40000 192.0.2.1 22"}
    res = subprocess.run(["sudo", "-n", "-u", "root", "--", sys.executable, "-c", PRINT_ACTOR],
                         capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 0, res.stderr
    actor = json.loads(res.stdout)
    me = pwd.getpwuid(os.getuid()).pw_name
    assert actor == {"uid": 0, "user": "root", "sudo_user": me, "ssh_client": "192.0.2.9"}
