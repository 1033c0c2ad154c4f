"""The test operator on our side: a real Linux user with an ed25519 key and an
``~/.ssh/config`` holding one alias per test host (docs/hosts.md).

Created with ``useradd``, recorded in the run state before it exists, removed (processes
killed by pid, then ``userdel -r``) at teardown. Refuses to reuse an existing account.
"""

from __future__ import annotations

import pwd
import subprocess
from pathlib import Path

from tests.hosts.harness import HOST_PATH, HostError, Run, _remove_local_user, sh


class Operator:
    """Local Linux user ``name`` with a key pair; :meth:`run` runs argv as it."""

    def __init__(self, res: Run, name: str) -> None:
        self.res, self.name = res, name
        self.aliases: dict[str, tuple[str, str | None]] = {}

    def create(self) -> None:
        try:
            pwd.getpwnam(self.name)
        except KeyError:
            pass
        else:
            raise HostError(f"local user {self.name!r} already exists; refusing to reuse it")
        self.res.add("users", self.name)
        sh(["useradd", "-m", "-s", "/bin/bash", "-K", "UMASK=077", self.name])
        self.home = Path(pwd.getpwnam(self.name).pw_dir)
        self.uid = pwd.getpwnam(self.name).pw_uid
        self.run(["mkdir", "-p", "-m", "700", f"{self.home}/.ssh"], check=True)
        self.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{self.name}@atoll-test",
                  "-f", f"{self.home}/.ssh/id_ed25519"], check=True)
        self.pubkey = (self.home / ".ssh/id_ed25519.pub").read_text().strip()

    def remove(self) -> None:
        _remove_local_user(self.name)
        self.res.drop("users", self.name)

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        base = {"PATH": HOST_PATH, "LANG": "C.UTF-8", "HOME": str(self.home),
                "USER": self.name, "LOGNAME": self.name}
        return {**base, **(extra or {})}

    def run(self, argv: list[str], *, env: dict[str, str] | None = None,
            input: bytes | None = None, timeout: float = 120, check: bool = False,
            ) -> subprocess.CompletedProcess[bytes]:
        """Run ``argv`` as the operator with a clean environment (runuser + env -i)."""
        full = ["runuser", "-u", self.name, "--", "env", "-i",
                *(f"{k}={v}" for k, v in self.env(env).items()), *argv]
        proc = subprocess.run(full, input=input, capture_output=True, timeout=timeout,
                              cwd=str(self.home), check=False)
        if check and proc.returncode != 0:
            raise HostError(f"{argv[0]} as {self.name} failed: {proc.stderr.decode().strip()}")
        return proc

    def popen(self, argv: list[str], *, env: dict[str, str] | None = None,
              ) -> subprocess.Popen[bytes]:
        """Start ``argv`` as the operator in the background, output captured."""
        full = ["runuser", "-u", self.name, "--", "env", "-i",
                *(f"{k}={v}" for k, v in self.env(env).items()), *argv]
        return subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=str(self.home))

    def set_alias(self, alias: str, address: str, host_key: str | None) -> None:
        """Point ``alias`` at ``address``; ``host_key`` goes to known_hosts (None: unknown)."""
        self.aliases[alias] = (address, host_key)
        self._write_ssh_files()

    def _write_ssh_files(self) -> None:
        blocks, known = [], []
        for alias, (address, key) in sorted(self.aliases.items()):
            blocks.append(
                f"Host {alias}\n"
                f"    HostName {address}\n"
                f"    User {self.name}\n"
                f"    HostKeyAlias {alias}\n"
                f"    StrictHostKeyChecking yes\n"
                f"    IdentityFile ~/.ssh/id_ed25519\n"
                f"    IdentitiesOnly yes\n"
            )
            if key:
                known.append(f"{alias} {key}\n")
        self._write(".ssh/config", "".join(blocks))
        self._write(".ssh/known_hosts", "".join(known))

    def write_file(self, rel: str, text: str) -> Path:
        """Write ``~/REL`` (0600, owned by the operator; parents created as the operator)."""
        self.run(["mkdir", "-p", str((self.home / rel).parent)], check=True)
        self._write(rel, text)
        return self.home / rel

    def _write(self, rel: str, text: str) -> None:
        path = self.home / rel
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        sh(["chown", f"{self.name}:", str(tmp)])
        tmp.chmod(0o600)
        tmp.replace(path)
