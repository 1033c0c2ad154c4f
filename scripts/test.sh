#!/usr/bin/env bash
# Set up everything the tests use (system packages, services, virtualenv), run ruff, mypy and
# lint-imports, then the whole test suite. Must run as root: the tests create Linux users,
# sudoers rules and namespaces.
# Extra arguments go to pytest.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$here/scripts/setup.sh" --dev
cd "$here"
# In a checkout that is not root's (a user's clone, run with sudo), the run must leave no
# root-owned files behind for its owner to trip over: no bytecode or pytest cache in the
# tree, hypothesis's example database outside it.
args=()
if [ "$(stat -c %u "$here")" != "$(id -u)" ]; then
  export PYTHONDONTWRITEBYTECODE=1
  export HYPOTHESIS_STORAGE_DIRECTORY="${XDG_CACHE_HOME:-$HOME/.cache}/atoll/hypothesis"
  export RUFF_CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/atoll/ruff"
  export MYPY_CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/atoll/mypy"
  args=(-p no:cacheprovider)
fi
# Linters first: they take seconds, and any failure fails the run (set -e) before pytest.
.venv/bin/ruff check src tests bench scripts
.venv/bin/mypy
.venv/bin/lint-imports --no-cache
set +e
.venv/bin/python -m pytest "${args[@]}" "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "atoll tests: pytest collected no tests; treating as failure" >&2
  exit 1
fi
exit "$rc"
