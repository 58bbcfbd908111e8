#!/usr/bin/env bash
# Builds raft-bench-inproc (cmake/ninja into build/) and runs it: caf-raft's
# commit path with N nodes inside one process on the in-memory transport,
# SQLite stores on disk. With WITH_PEER=1 it then runs the Go peer
# (../shared/peers/hashicorp-bench/run.sh: hashicorp/raft + raft-boltdb, one
# process per node, TCP on loopback) with the same flags, back to back, and
# summarizes both with ../shared/peers/limits/summarize.py plus a table of
# ours/peer ratios of the medians.
#
#   scripts/bench-inproc.sh                       # default sweep (as the peer's)
#   WITH_PEER=1 scripts/bench-inproc.sh           # ... and the peer after it
#   WITH_PEER=1 scripts/bench-inproc.sh -nodes 1,3 -conc 1,8,64,256 -secs 3 -warmup 1
#   REPEAT=3 WITH_PEER=1 scripts/bench-inproc.sh  # three fresh clusters each
#
# Arguments go to both programs unchanged (they share -nodes -conc -size -secs
# -warmup -repeat -dir -nosync -keep -v -timeout). Environment: WITH_PEER (0),
# REPEAT (1, used only when no arguments are given), BUILD_DIR (<repo>/build),
# OUT (file for the raw lines; default a fresh /tmp file, kept and named).
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
peers="$top/../shared/peers"
WITH_PEER="${WITH_PEER:-0}"
REPEAT="${REPEAT:-1}"
BUILD_DIR="${BUILD_DIR:-$top/build}"

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S "$top" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
log="$(mktemp)"
ninja -C "$BUILD_DIR" raft-bench-inproc >"$log" 2>&1 || { cat "$log" >&2; rm -f "$log"; exit 1; }
rm -f "$log"

if [ "$#" -eq 0 ]; then
  set -- -nodes 1,3 -conc 1,8,64,256 -size 128 -secs 5 -warmup 1 -repeat "$REPEAT"
fi
out="${OUT:-$(mktemp /tmp/caf-raft-bench-inproc.XXXXXX)}"
: >"$out"
echo "# caf-raft raft-bench-inproc $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$top" diff --quiet 2>/dev/null || echo '+dirty'); CAF $(dpkg-query -W -f='${Version}' libcaf-dev 2>/dev/null || echo '?'); SQLite $(dpkg-query -W -f='${Version}' libsqlite3-dev 2>/dev/null || echo '?')" | tee -a "$out"
echo "# host: $(nproc) cpus, kernel $(uname -r); data dir fs: $(findmnt -no SOURCE,FSTYPE -T "${TMPDIR:-/tmp}" 2>/dev/null || echo '?'); args: $*" | tee -a "$out"

status=0
"$BUILD_DIR/raft-bench-inproc" "$@" | tee -a "$out" || status=1
if [ "$WITH_PEER" = 1 ]; then
  "$peers/hashicorp-bench/run.sh" "$@" | tee -a "$out" || status=1
fi

echo "# summary (median [min-max] per configuration; raw lines in $out)"
python3 "$peers/limits/summarize.py" "$out"
if [ "$WITH_PEER" = 1 ]; then
  echo "# ratios ours/peer of the medians (ops_per_s and batches: >1 is better for us; latency and CPU: <1 is better for us)"
  python3 - "$out" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    if line.startswith("#") or "=" not in line:
        continue
    kv = dict(p.split("=", 1) for p in line.split() if "=" in p)
    who = {"caf-raft-inproc": "ours", "hashicorp-raft": "peer"}.get(kv.get("peer"))
    if who is None:
        continue
    sync = kv.get("store", "").rsplit("/", 1)[-1].split("-", 1)[0]
    key = (int(kv["nodes"]), int(kv["conc"]), int(kv["size"]), sync)
    rows.setdefault(key, {}).setdefault(who, []).append(kv)
metrics = ["ops_per_s", "p50_ms", "p99_ms", "cpu_us_per_op", "leader_avg_batch"]
fmt = lambda x: f"{x:.0f}" if abs(x) >= 100 else f"{x:.3g}"
print("nodes conc size sync  " + " ".join(f"{m + ' ours/peer=ratio':>26}" for m in metrics))
for key in sorted(rows):
    by = rows[key]
    if "ours" not in by or "peer" not in by:
        continue
    cells = []
    for m in metrics:
        o = statistics.median(float(x[m]) for x in by["ours"])
        p = statistics.median(float(x[m]) for x in by["peer"])
        r = f"{o / p:.2f}" if p else "-"
        cells.append(f"{fmt(o)}/{fmt(p)}={r}")
    n, c, s, sync = key
    print(f"{n:>5} {c:>4} {s:>4} {sync:<5} " + " ".join(f"{x:>26}" for x in cells))
PY
fi
exit "$status"
