#!/usr/bin/env bash
# Proof by mutation (issue 14): builds the library with each planted bug of
# actors/mutation.hpp in turn and runs the simulator's CI seeds (then its
# regression seeds) until one catches it. Prints, for each bug, the first
# seed that caught it and what the checker saw; the last line says whether
# every bug was caught, and build-mutation/mutation-check.json holds the
# same for scripts. A planted bug that no seed catches is a hole in the
# simulator: close it before changing the code it guards.
#
#   scripts/mutation-check.sh           # every planted bug
#   scripts/mutation-check.sh 3 7       # only bugs 3 and 7
#   SEEDS=500 scripts/mutation-check.sh # fewer seeds (CI runs 2000)
#
# Uses its own build folder (build-mutation/, about 4 minutes the first
# time, then a minute per bug): never run it beside a benchmark.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
dir="$top/build-mutation"
seeds="${SEEDS:-2000}"
header="$top/actors/mutation.hpp"

# "  name = N," lines of the enum, N > 0.
mapfile -t rows < <(sed -n 's/^  \([a-z_]*\) = \([1-9][0-9]*\),$/\2 \1/p' "$header")
if [ "$#" -gt 0 ]; then
  wanted=" $* "
  kept=()
  for r in "${rows[@]}"; do
    [[ "$wanted" == *" ${r%% *} "* ]] && kept+=("$r")
  done
  rows=("${kept[@]}")
fi
[ "${#rows[@]}" -gt 0 ] || { echo "mutation-check: no planted bugs found in $header" >&2; exit 2; }

cmake -S "$top" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DRAFT_MUTATION_SWITCH=ON >/dev/null
switch="$dir/mutation/raft_mutation.hpp"
restore() { echo "#define RAFT_MUTATION 0" >"$switch"; }
trap restore EXIT

json="$dir/mutation-check.json"
printf '[' >"$json"
sep=""
caught=0
by_regression=0
missed=()
printf '%-3s %-28s %-10s %s\n' "#" "planted bug" "caught by" "what the checker saw"
for r in "${rows[@]}"; do
  n="${r%% *}"
  name="${r#* }"
  echo "#define RAFT_MUTATION $n" >"$switch"
  if ! ninja -C "$dir" scenario_test >"$dir/mutation-$n.build.log" 2>&1; then
    echo "mutation-check: bug $n ($name) does not build; see $dir/mutation-$n.build.log" >&2
    exit 2
  fi
  out="$dir/mutation-$n.log"
  RAFT_SEEDS="$seeds" RAFT_STOP_AT_FIRST=1 "$dir/scenario_test" \
    --run_test=seeded_fault_scenarios --color_output=no >"$out" 2>&1 || true
  seed="$(grep -o 'replay with RAFT_SEED=[0-9]*' "$out" | head -1 | sed 's/.*=//')" || true
  what="$(grep -m1 'scenario failed: ' "$out" | sed 's/.*scenario failed: //; s/ (seed .*//')" || true
  by="seed $seed"
  if [ -z "$seed" ]; then
    "$dir/scenario_test" --run_test=regression_seeds --color_output=no \
      >"$out" 2>&1 || true
    seed="$(grep -o 'regression seed [0-9]*' "$out" | head -1 | sed 's/.* //')" || true
    what="$(grep -m1 'regression seed ' "$out" | sed 's/.*failed: //; s/ (seed .*//')" || true
    by="regression $seed"
    [ -n "$seed" ] && by_regression=$((by_regression + 1))
  fi
  if [ -n "$seed" ]; then
    caught=$((caught + 1))
    printf '%-3s %-28s %-10s %s\n' "$n" "$name" "$by" "${what:0:90}"
    printf '%s\n  {"bug": %s, "name": "%s", "caught": true, "seed": %s, "regression": %s}' \
      "$sep" "$n" "$name" "$seed" "$([[ $by == regression* ]] && echo true || echo false)" >>"$json"
  else
    missed+=("$name")
    printf '%-3s %-28s %-10s %s\n' "$n" "$name" "NOBODY" "no seed of $seeds caught it"
    printf '%s\n  {"bug": %s, "name": "%s", "caught": false, "seed": null, "regression": false}' \
      "$sep" "$n" "$name" >>"$json"
  fi
  sep=","
done
printf '\n]\n' >>"$json"
total="${#rows[@]}"
if [ "${#missed[@]}" -gt 0 ]; then
  echo "mutation-check: $caught of $total planted bugs caught within $seeds seeds; NOT caught: ${missed[*]}"
  exit 1
fi
echo "mutation-check: $total of $total planted bugs caught by CI's simulator runs" \
  "($((total - by_regression)) by the $seeds seeds, $by_regression by a regression seed)"
