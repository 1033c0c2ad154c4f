"""Each island kind's broker mount (issue 16, point 2): where the broker's filesystem is
mounted on the host, where the island sees it, and whom it serves. One function per kind,
each called once when the island starts (``prepare_*`` makes the mountpoint).

- ``user`` (the agent user itself): ``~AGENT/.atoll/grants``, mounted by the agent user
  (its own FUSE mount: the kernel refuses every other uid) and seen at that same path. It
  reaches **every** session of that agent user, since they are all the same uid.
- ``bwrap``: ``~AGENT/.atoll/islands/ID/grants`` (inside the island directory, 0700, the
  agent's), mounted the same way and bound into the sandbox at ``/grants``. Host processes
  of the same agent user (its ``user`` sessions) can reach it too: they are that uid.
- ``docker``/``podman``: ``runtime_base()/broker/mnt/KEY`` (the operator's 0700 runtime
  directory, which host uid 1000, whoever that is, cannot enter), mounted by the broker with
  ``allow_other`` and bound into the container at ``/grants`` when it is created; the broker
  serves only the container's uid (1000, or what the engine maps it to).
"""

from __future__ import annotations

import os
import posixpath
import pwd

from atoll.core.broker import GRANTS_INSIDE, BrokerPlace
from atoll.core.errors import NotFoundError
from atoll.core.islands import AGENT_UID, ISLANDS_SUBDIR
from atoll.exec.runner import Sudo
from atoll.rundir import private_dir, runtime_base

GRANTS_DIR = "grants"


def _pw(user: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(user)
    except KeyError:
        raise NotFoundError(f"no such user {user!r}") from None


def user_place(agent: str) -> BrokerPlace:
    """The broker of a ``user`` island (the agent user ``agent``)."""
    pw = _pw(agent)
    mnt = posixpath.join(pw.pw_dir, ".atoll", GRANTS_DIR)
    return BrokerPlace(f"user:{agent}", mnt, mnt, (pw.pw_uid,), mount_as=agent)


def bwrap_place(agent: str, island_id: str) -> BrokerPlace:
    """The broker of bwrap island ``island_id`` of ``agent``."""
    pw = _pw(agent)
    mnt = posixpath.join(pw.pw_dir, ISLANDS_SUBDIR, island_id, GRANTS_DIR)
    return BrokerPlace(f"bwrap:{agent}:{island_id}", mnt, GRANTS_INSIDE, (pw.pw_uid,),
                       mount_as=agent)


def container_place(engine: str, container: str, uid: int = AGENT_UID) -> BrokerPlace:
    """The broker of container island ``container`` (``uid``: the container user's uid as
    the host sees it)."""
    key = f"{engine}:{container}"
    base = runtime_base() or ""
    mnt = posixpath.join(base, "broker", "mnt", container)
    return BrokerPlace(key, mnt, GRANTS_INSIDE, (uid,), mount_as=None)


def prepare_agent_mountpoint(place: BrokerPlace) -> None:
    """Make the agent-owned mountpoint of a user or bwrap place (0700, as the agent)."""
    assert place.mount_as is not None
    parent = posixpath.dirname(place.mountpoint)
    Sudo(place.mount_as).run(["install", "-d", "-m", "0700", parent, place.mountpoint],
                             timeout=30).check()


def prepare_operator_mountpoint(place: BrokerPlace) -> None:
    """Make the operator-owned mountpoint of a container place (every level 0700)."""
    base = runtime_base()
    if base is None or private_dir(os.path.join(base, "broker")) is None \
            or private_dir(os.path.join(base, "broker", "mnt")) is None \
            or private_dir(place.mountpoint) is None:
        raise NotFoundError("no private runtime directory for the broker's mountpoint")
