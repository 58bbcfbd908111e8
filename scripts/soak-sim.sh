#!/usr/bin/env bash
# Runs N simulator seeds (default 100000) spread over the machine's cores and
# prints every failing seed with its replay command. Needs build/ (run
# scripts/build.sh first). Exit status 1 if any seed failed.
#
#   scripts/soak-sim.sh 100000          # seeds 1..100000
#   FIRST=200001 scripts/soak-sim.sh 5000
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
sim="${SIM:-$top/build/scenario_test}"
[ -x "$sim" ] || { echo "soak-sim: $sim is missing; run scripts/build.sh first" >&2; exit 2; }
total="${1:-100000}"
first="${FIRST:-1}"
jobs="${JOBS:-$(nproc)}"
out="$(mktemp -d /tmp/caf-raft-soak.XXXXXX)"
per=$(( (total + jobs - 1) / jobs ))
echo "soak-sim: seeds $first..$(( first + total - 1 )) on $jobs cores; logs in $out"
start=$(date +%s)
pids=()
for (( j = 0; j < jobs; ++j )); do
  from=$(( first + j * per ))
  n=$(( total - j * per )); (( n > per )) && n=$per
  (( n > 0 )) || continue
  RAFT_FIRST_SEED=$from RAFT_SEEDS=$n "$sim" --run_test=seeded_fault_scenarios \
    --log_level=message --color_output=no >"$out/part$j.log" 2>&1 &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
secs=$(( $(date +%s) - start ))
failures=$(grep -h "scenario failed" "$out"/part*.log || true)
count=$(printf '%s' "$failures" | grep -c . || true)
grep -h "scenarios (seeds" "$out"/part*.log || true
if [ "$count" -gt 0 ]; then
  printf '%s\n' "$failures" | sed -n '1,50p'
  echo "soak-sim: $count of $total seeds failed in ${secs}s"
  exit 1
fi
[ "$status" = 0 ] || { echo "soak-sim: a runner failed without a seed; see $out" >&2; exit 1; }
echo "soak-sim: $total of $total seeds passed in ${secs}s"
