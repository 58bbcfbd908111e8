#!/usr/bin/env bash
# Installs the built library into a scratch prefix and builds and runs
# examples/embed against it with find_package alone (issue 17): a host
# project needs nothing of the source tree. ctest runs it as embed_example.
#
#   scripts/check-embed.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build="$1"
src="$2"
work="$(mktemp -d /tmp/caf-raft-embed.XXXXXX)"
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$src/examples/embed" -B "$work/build" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/build" >/dev/null
out="$("$work/build/embed-example" "$work/data")"
echo "$out"
[[ "$out" == *"counter = 5"* ]] || { echo "check-embed: unexpected output" >&2; exit 1; }
# A second run starts from the stored state (bootstrap is skipped) and
# applies again.
out="$("$work/build/embed-example" "$work/data")"
echo "$out"
[[ "$out" == *"counter = 10"* ]] || { echo "check-embed: state not kept" >&2; exit 1; }
# pkg-config finds the package too.
PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" pkg-config --exists caf-raft \
  || { echo "check-embed: pkg-config does not find caf-raft" >&2; exit 1; }
echo "check-embed: installed package built and ran examples/embed"
