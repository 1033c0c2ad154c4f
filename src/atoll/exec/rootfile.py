"""Reading root's host files (``/etc/atoll/*.toml``): only when root owns them and nobody
else may write them or their directory, since any other account could otherwise loosen a
policy or redirect the host ledger."""

from __future__ import annotations

import os
import stat

from atoll.core.config import ConfigError


def trusted_stat(st: os.stat_result) -> bool:
    """Owned by root and writable by neither group nor others."""
    return st.st_uid == 0 and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def read_root_file(path: str, cap: int = 1 << 20) -> bytes | None:
    """The bytes of ``path`` (at most ``cap``), or None when it does not exist.

    Raises ConfigError (exit 2) naming the file when it is not a regular file (a symlink,
    FIFO, device), when it or its directory is not root's alone, or when it is larger."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"{path}: not a regular file")
        parent = os.stat(os.path.dirname(path) or ".")
        if not (trusted_stat(st) and trusted_stat(parent)):
            raise ConfigError(f"{path}: refusing it: it and its directory must be root's and "
                              "writable by nobody else")
        data = os.read(fd, cap + 1)
    finally:
        os.close(fd)
    if len(data) > cap:
        raise ConfigError(f"{path}: file larger than {cap} bytes")
    return data
