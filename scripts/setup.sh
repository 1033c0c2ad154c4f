#!/usr/bin/env bash
# Install what atoll needs on a Debian machine: system packages (apt, as root or through
# sudo) and a virtualenv in .venv with atoll installed in editable mode.
#   scripts/setup.sh          runtime only
#   scripts/setup.sh --dev    also the test and lint tools and every test system package
set -euo pipefail
# Agent users and other operators run atoll from this checkout (hooks, the venv), so what
# setup creates must be readable by all, whatever umask the caller has (077 is common).
umask 022
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dev=0
[ "${1:-}" = "--dev" ] && dev=1

APT_PACKAGES=()
source "$here/scripts/deps/00-base.sh"
if [ "$dev" = 1 ]; then
  for f in "$here"/scripts/deps/[1-9]*.sh; do
    [ -e "$f" ] && source "$f"
  done
fi

# one dpkg-query for all packages (a re-run must be quick); a package dpkg does not know
# is simply not printed (dpkg-query then exits 1, which pipefail must not turn into a failed
# setup: on a fresh machine most test packages are unknown to dpkg)
installed_pkgs=" $( { dpkg-query -W -f='${db:Status-Status}:${Package} ' "${APT_PACKAGES[@]}" \
                   2>/dev/null || true; } | tr ' ' '\n' | sed -n 's/^installed://p' | tr '\n' ' ') "
missing=()
for p in "${APT_PACKAGES[@]}"; do
  case "$installed_pkgs" in *" $p "*) ;; *) missing+=("$p") ;; esac
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "atoll setup: installing system packages: ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# each deps snippet may define post_install_<area> (start a daemon, install from npm, ...)
for fn in $(declare -F | awk '{print $3}' | grep '^post_install_' || true); do
  "$fn"
done

# Debian's interpreter, not a per-user one (pyenv under /root): agent users run atoll too
# (their hooks call `atoll hook`), so the venv must be usable by every account.
py=${PYTHON:-/usr/bin/python3}
extra=""
[ "$dev" = 1 ] && extra="[dev]"

# The virtualenv and everything pip writes into the checkout (.venv, src/atoll.egg-info)
# belong to the checkout's owner, whoever runs this: root-owned files there would make the
# owner's next setup fail (`sudo scripts/test.sh` in a user's clone), and a user cannot
# write a root-owned clone (/opt/atoll) at all. So those steps run as the owner: directly,
# through runuser when we are root, through sudo (which may ask a password, as apt does)
# otherwise.
owner=$(stat -c %U "$here")
as_owner=()
if [ "$(id -un)" != "$owner" ]; then
  if [ "$(id -u)" = 0 ]; then
    as_owner=(runuser -u "$owner" --)
  elif [ -t 0 ]; then
    as_owner=(sudo -u "$owner" --)
  else
    as_owner=(sudo -n -u "$owner" --)
  fi
fi

# A stamp of what was installed (pyproject.toml's hash, runtime or dev): when it matches,
# pip is not run at all, so a re-run needs no network and takes well under a second.
stamp="$here/.venv/.atoll-setup-stamp"
want=$(sha256sum "$here/pyproject.toml" | cut -c1-64)
installed() {
  [ -x "$here/.venv/bin/python" ] && [ -r "$stamp" ] || return 1
  local have_hash have_mode
  read -r have_hash have_mode < "$stamp" || return 1
  [ "$have_hash" = "$want" ] || return 1
  [ "$dev" = 0 ] || [ "$have_mode" = dev ]
}
fresh=0
if ! installed; then
  if ! "${as_owner[@]}" true 2>/dev/null; then  # sudo asks its password here, once
    echo "atoll setup: error: $here belongs to $owner and atoll is not installed there;" \
         "run 'sudo -u $owner $here/scripts/setup.sh' once, or clone atoll where you can write" >&2
    exit 1
  fi
  mode=runtime
  [ "$dev" = 1 ] && mode=dev
  echo "atoll setup: installing atoll ($mode) into $here/.venv as $owner" >&2
  if [ ! -x "$here/.venv/bin/python" ]; then
    "${as_owner[@]}" "$py" -m venv "$here/.venv"
  fi
  "${as_owner[@]}" "$here/.venv/bin/pip" install -q --disable-pip-version-check -e "$here$extra"
  printf '%s %s\n' "$want" "$mode" | "${as_owner[@]}" tee "$stamp" >/dev/null
  fresh=1
fi
# Byte-compile atoll's own modules now: operators and agent users run atoll from this
# checkout but cannot write its __pycache__, and would otherwise recompile every module
# on every call (tens of ms on each `atoll ls`, measured with bench/ls_bench.py). Only the
# owner writes them (compileall skips what is current); another user's no-change re-run
# leaves them alone rather than ask sudo.
if [ "${#as_owner[@]}" = 0 ] || [ "$(id -u)" = 0 ] || [ "$fresh" = 1 ]; then
  "${as_owner[@]}" "$here/.venv/bin/python" -m compileall -q "$here/src/atoll" >/dev/null
fi
# pip's console script imports `re` before atoll (for a Windows-only argv[0] fix): ~5 ms of
# every `atoll ls`, which peers run on every fleet refresh (bench/ls_bench.py). The same
# entry point, without it (rewritten only when it differs):
launcher="#!$here/.venv/bin/python3
# atoll's console script (written by scripts/setup.sh in place of pip's; same entry point)
import sys
from atoll.cli.entry import main
sys.exit(main())"
if [ "$(cat "$here/.venv/bin/atoll" 2>/dev/null)" != "$launcher" ]; then
  printf '%s\n' "$launcher" | "${as_owner[@]}" tee "$here/.venv/bin/atoll.new" >/dev/null
  "${as_owner[@]}" chmod 755 "$here/.venv/bin/atoll.new"
  "${as_owner[@]}" mv -f "$here/.venv/bin/atoll.new" "$here/.venv/bin/atoll"
fi
echo "atoll setup: ready ($("$here/.venv/bin/atoll" --version))" >&2
