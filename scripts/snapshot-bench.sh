#!/usr/bin/env bash
# Builds snapshot-bench (cmake/ninja into $BUILD_DIR) and runs the figures of
# issues #4 and #7, in-process (3 nodes, in-memory transport, SQLite FULL and
# file snapshot stores under $TMPDIR or -dir):
#   1. snapshot: fill the key-value FSM to 256 MiB, time a user snapshot on
#      the leader, then time a 4th server catching up by InstallSnapshot;
#   2. disk: 1,000,000 applies of 128-byte values over 10,000 keys with the
#      default compaction settings, once with the default snapshot interval
#      (120 s) and once with 5000 ms; disk use per node at the end;
#   3. disk-hold: as the default-interval disk run, then idle for 250 s so
#      the periodic snapshot check (every [120, 240) s) compacts the log,
#      and disk use measured after that.
#
#   scripts/snapshot-bench.sh                 # all three runs
#   scripts/snapshot-bench.sh snapshot        # only the snapshot run
#   scripts/snapshot-bench.sh disk            # only the two disk runs
#   scripts/snapshot-bench.sh disk-hold       # only the held disk run (5 min)
#   ARGS="-dir /var/tmp -keep" scripts/snapshot-bench.sh
#
# Environment: BUILD_DIR (<repo>/build), ARGS (extra flags for every run),
# OUT (file for the result lines; default a fresh /tmp file, kept and named).
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$top/build}"
ARGS="${ARGS:-}"
what="${1:-all}"
case "$what" in
  all|snapshot|disk|disk-hold) ;;
  *) echo "usage: $0 [all|snapshot|disk|disk-hold]" >&2; exit 2 ;;
esac

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S "$top" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
log="$(mktemp)"
ninja -C "$BUILD_DIR" snapshot-bench >"$log" 2>&1 || { cat "$log" >&2; rm -f "$log"; exit 1; }
rm -f "$log"

out="${OUT:-$(mktemp /tmp/caf-raft-snapshot-bench.XXXXXX)}"
: >"$out"
echo "# caf-raft snapshot-bench $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$top" diff --quiet 2>/dev/null || echo '+dirty'); SQLite $(dpkg-query -W -f='${Version}' libsqlite3-dev 2>/dev/null || echo '?')" | tee -a "$out"
echo "# host: $(nproc) cpus, kernel $(uname -r); data dir fs: $(findmnt -no SOURCE,FSTYPE -T "${TMPDIR:-/tmp}" 2>/dev/null || echo '?'); extra args: ${ARGS:-none}" | tee -a "$out"

status=0
run() {
  echo "# $(date -u +%H:%M:%S) uptime:$(uptime | sed 's/.*load average//')" | tee -a "$out"
  echo "# snapshot-bench $*" | tee -a "$out"
  # shellcheck disable=SC2086
  "$BUILD_DIR/snapshot-bench" "$@" $ARGS | tee -a "$out" || status=1
}

if [ "$what" = all ] || [ "$what" = snapshot ]; then
  run -mode snapshot -state-mb 256 -value-kb 64 -conc 16 -trailing-logs 100
fi
if [ "$what" = all ] || [ "$what" = disk ]; then
  # The default snapshot interval (120 s, randomized in [120, 240) s) ...
  run -mode disk -applies 1000000 -size 128 -keys 10000 -conc 64
  # ... and a 5 s interval, so that a run of a minute or two snapshots.
  run -mode disk -applies 1000000 -size 128 -keys 10000 -conc 64 -snapshot-interval-ms 5000
fi
if [ "$what" = all ] || [ "$what" = disk-hold ]; then
  run -mode disk -applies 1000000 -size 128 -keys 10000 -conc 64 -hold-secs 250
fi
echo "# $(date -u +%H:%M:%S) uptime:$(uptime | sed 's/.*load average//')" | tee -a "$out"
echo "# result lines in $out"
exit "$status"
