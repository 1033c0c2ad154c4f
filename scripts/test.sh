#!/usr/bin/env bash
# Set up everything the tests use (system packages, services, virtualenv), run ruff, mypy and
# lint-imports, then the whole test suite. Must run as root: the tests create Linux users,
# sudoers rules and namespaces.
# Extra arguments go to pytest.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$here/scripts/setup.sh" --dev
cd "$here"
# Linters first: they take seconds, and any failure fails the run (set -e) before pytest.
.venv/bin/ruff check src tests bench scripts
.venv/bin/mypy
.venv/bin/lint-imports
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "atoll tests: pytest collected no tests; treating as failure" >&2
  exit 1
fi
exit "$rc"
