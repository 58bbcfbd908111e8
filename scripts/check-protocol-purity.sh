#!/usr/bin/env bash
# Fails if any source of the raft-protocol target (actors/protocol and the
# plain types it uses) includes a CAF header, directly or through another
# header. Run by ctest as protocol_purity.
#
#   scripts/check-protocol-purity.sh [compiler] [source-dir]
set -euo pipefail
cxx="${1:-c++}"
top="${2:-$(cd "$(dirname "$0")/.." && pwd)}"
status=0
# Headers are included by project path (<caf-raft/...>): a scratch include
# root whose caf-raft entry is the source tree, as the build tree has.
inc="$(mktemp -d)"
trap 'rm -rf "$inc"' EXIT
ln -s "$top" "$inc/caf-raft"
for src in "$top"/actors/protocol/*.cpp "$top"/config/raft_config.cpp \
           "$top"/storage/configuration.cpp "$top"/storage/log_entry.cpp; do
  # -MM lists every header the file pulls in (system ones too with -M).
  if caf=$("$cxx" -std=c++17 -I "$inc" -M "$src" | tr ' \\' '\n\n' | grep '/caf/'); then
    echo "protocol_purity: ${src#$top/} includes CAF:" >&2
    printf '  %s\n' $caf | head -5 >&2
    echo "  Move what needs CAF out of actors/protocol (see DESIGN.md §4)." >&2
    status=1
  fi
done
[ "$status" = 0 ] && echo "protocol_purity: no CAF header reaches actors/protocol"
exit "$status"
