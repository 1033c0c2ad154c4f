"""``atoll doctor`` warns about homes that agent users can look into: real users, real
permissions, and a real read attempt as the agent user to show the warning is earned."""

from __future__ import annotations

import json
import os
import pwd
import subprocess

from tests.support.proc import atoll, run_as
from tests.support.users import UserFactory


def warnings(user: str) -> list[str]:
    res = atoll("doctor", "--here", "--json", user=user)
    assert res.returncode == 0, res.stderr
    found: list[str] = json.loads(res.stdout)["warnings"]
    return found


def test_homes_open_to_agent_users_are_warned_about(users: UserFactory) -> None:
    op = users.user(users.name("dhop"))
    agent = users.user(users.name("dha", "-agent"))
    users.allow(op, [agent])
    op_home, agent_home = pwd.getpwnam(op).pw_dir, pwd.getpwnam(agent).pw_dir
    secret = f"{op_home}/notes.txt"
    with open(secret, "w") as fh:
        fh.write("operator secret\n")
    os.chown(secret, pwd.getpwnam(op).pw_uid, -1)
    os.chmod(secret, 0o644)
    assert warnings(op) == []  # homes made 0700: nothing to say

    os.chmod(op_home, 0o755)
    assert run_as(agent, ["cat", secret]).stdout == "operator secret\n"  # the risk is real
    (warned,) = warnings(op)
    assert f"your home {op_home} is open to every user (mode 0755)" in warned

    os.chmod(op_home, 0o750)
    assert warnings(op) == []  # the operator's group holds no agent user
    subprocess.run(["usermod", "-aG", op, agent], check=True)
    assert run_as(agent, ["cat", secret]).stdout == "operator secret\n"
    (warned,) = warnings(op)
    assert "open to its group (mode 0750), which agent user" in warned and agent in warned

    os.chmod(op_home, 0o700)
    assert run_as(agent, ["cat", secret]).returncode != 0
    os.chmod(agent_home, 0o711)
    (warned,) = warnings(op)
    assert warned.startswith(f"agent user {agent}'s home {agent_home} is open to every user")
    os.chmod(agent_home, 0o700)
    assert warnings(op) == []
