#!/usr/bin/env bash
# Install what atoll needs on a Debian machine: system packages (apt, as root or through
# sudo) and a virtualenv in .venv with atoll installed in editable mode.
#   scripts/setup.sh          runtime only
#   scripts/setup.sh --dev    also the test and lint tools and every test system package
set -euo pipefail
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

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
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
if [ ! -x "$here/.venv/bin/python" ]; then
  echo "atoll setup: creating virtualenv in $here/.venv" >&2
  "$py" -m venv "$here/.venv"
fi
extra=""
[ "$dev" = 1 ] && extra="[dev]"
"$here/.venv/bin/pip" install -q --disable-pip-version-check -e "$here$extra"
# Byte-compile atoll's own modules now: operators and agent users run atoll from this
# checkout but cannot write its __pycache__, and would otherwise recompile every module
# on every call (tens of ms on each `atoll ls`, measured with bench/ls_bench.py).
"$here/.venv/bin/python" -m compileall -q "$here/src/atoll" >/dev/null
# pip's console script imports `re` before atoll (for a Windows-only argv[0] fix): ~5 ms of
# every `atoll ls`, which peers run on every fleet refresh (bench/ls_bench.py). The same
# entry point, without it:
cat > "$here/.venv/bin/atoll.new" <<LAUNCHER
#!$here/.venv/bin/python3
# atoll's console script (written by scripts/setup.sh in place of pip's; same entry point)
import sys
from atoll.cli.entry import main
sys.exit(main())
LAUNCHER
chmod 755 "$here/.venv/bin/atoll.new"
mv -f "$here/.venv/bin/atoll.new" "$here/.venv/bin/atoll"
echo "atoll setup: ready ($("$here/.venv/bin/atoll" --version))" >&2
