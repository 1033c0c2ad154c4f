#!/usr/bin/env bash
# Install atoll (system packages + .venv) and run its main job on this host: the fleet view
# on a terminal, `atoll ls` otherwise. No configuration needed.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$here/scripts/setup.sh"
exec "$here/.venv/bin/atoll" "$@"
