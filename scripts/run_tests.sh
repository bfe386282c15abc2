#!/usr/bin/env bash
# Run the test suite. As root, run it inside a loopback-only network
# namespace so that no test can reach anything off this machine.
set -euo pipefail
cd "$(dirname "$0")/.."

pytest_command=(.venv/bin/python -m pytest -q -ra "$@")
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1; then
    exec unshare -n sh -c 'ip link set lo up && exec "$@"' sh "${pytest_command[@]}"
fi
exec "${pytest_command[@]}"
