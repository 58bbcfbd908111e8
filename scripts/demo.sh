#!/usr/bin/env bash
# Installs what is missing, builds, and runs the in-process cluster demo.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
"$top/scripts/deps.sh"
"$top/scripts/build.sh"
exec "$top/build/raft-demo" "$@"
