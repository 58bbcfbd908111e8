#!/usr/bin/env bash
# Runs the peers (../shared/peers: hashicorp-bench, HashiCorp's raft with
# raft-boltdb; canonical-raft-bench, Canonical's libraft with its libuv
# backend) and raft-bench (caf-raft, one process per node, network
# transport, SQLite synchronous=FULL) back to back with the same flags, then
# prints median [min-max] per configuration (../shared/peers/limits/
# summarize.py), tables of ours/peer ratios of the medians against each
# peer, issue 20's targets as met / not met, and with STAGES=1 where a
# commit's time goes at concurrency 1 (raft-bench -stages).
#
#   scripts/bench.sh                          # full sweep, 5 interleaved rounds
#   REPEAT=3 scripts/bench.sh                 # three rounds
#   scripts/bench.sh -nodes 3 -conc 64 -secs 2 -repeat 1   # a smoke run
#   TRANSPORTS=tls scripts/bench.sh ...       # ours over TLS only (default: "tls tcp")
#   PEER=0 scripts/bench.sh ...               # ours only
#   BASELINE_DIR=/tmp/base/build scripts/bench.sh -nodes 3 -conc 1,64,256
#                                             # an earlier build of ours as the
#                                             # peer (a change's before/after)
#
# Arguments go to both programs unchanged (-nodes -conc -size -secs -warmup
# -dir -keep -nosync -v -timeout; -nodes 5 works for both). Without
# arguments the sweep is -nodes 1,3 -conc 1,8,64,256 -size 128 -secs 5
# -warmup 1. The REPEAT rounds are interleaved (peer, ours over TLS, ours
# over TCP, then again), so that a change in the load of this shared machine
# hits both sides alike; each round is a fresh cluster per node count and
# its lines say run=<round>. An explicit -repeat N is passed through instead
# (each program then runs its N clusters in one go).
# With LIMITS=1 (the default) each round also runs the machine's floor
# probes (../shared/peers/limits: one and three concurrent durable 4 KiB
# writes, one SQLite commit of one row, a loopback TCP round trip), and the
# targets section says what the disk and the network allow for each
# conc-1 target, measured in the same rounds.
# Environment: REPEAT (5 without arguments, else 1), TRANSPORTS ("tls tcp"), LIMITS (1),
# PEER (1), PEER_NAMES ("hashicorp canonical-raft"), STAGES (0), PEERS (<repo>/../shared/peers), BUILD_DIR (<repo>/build),
# OUT (raw lines; default a fresh /tmp file, kept and named), BASELINE_DIR
# (a build folder holding an earlier raft-bench: it runs in each round in
# the peer's place, over the same transports, and the ratio tables compare
# against it; the Go peer is then skipped).
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
peers="${PEERS:-$top/../shared/peers}"
TRANSPORTS="${TRANSPORTS:-tls tcp}"
PEER="${PEER:-1}"
# The peers run in each round: HashiCorp's raft (Go) and Canonical's raft
# (C, dqlite's engine), both from ../shared/peers.
PEER_NAMES="${PEER_NAMES:-hashicorp canonical-raft}"
BUILD_DIR="${BUILD_DIR:-$top/build}"
BASELINE_DIR="${BASELINE_DIR:-}"
[ -n "$BASELINE_DIR" ] && PEER=0

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S "$top" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
log="$(mktemp)"
ninja -C "$BUILD_DIR" raft-bench >"$log" 2>&1 || { cat "$log" >&2; rm -f "$log"; exit 1; }
rm -f "$log"

rounds="${REPEAT:-1}"
if [ "$#" -eq 0 ]; then
  set -- -nodes 1,3 -conc 1,8,64,256 -size 128 -secs 5 -warmup 1
  rounds="${REPEAT:-5}"
fi
case " $* " in
  *" -repeat"*|*" --repeat"*) rounds=1 ;;
esac
out="${OUT:-$(mktemp /tmp/caf-raft-bench.XXXXXX)}"
: >"$out"
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
fs="$(findmnt -no SOURCE,FSTYPE -T "${TMPDIR:-/tmp}" 2>/dev/null || echo '?')"
{
  echo "# caf-raft raft-bench $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$top" diff --quiet 2>/dev/null || echo '+dirty'); CAF $(dpkg-query -W -f='${Version}' libcaf-dev 2>/dev/null || echo '?'); SQLite $(dpkg-query -W -f='${Version}' libsqlite3-dev 2>/dev/null || echo '?')"
  echo "# host: $(nproc) cpus ($cpu), kernel $(uname -r); data dir fs: $fs; load before: $(cut -d' ' -f1-3 /proc/loadavg); started $(date -u +%FT%TZ)"
  echo "# args: $*"
} | tee -a "$out"

LIMITS="${LIMITS:-1}"
limits_bin=/tmp/perf-limits-build
if [ "$LIMITS" = 1 ]; then
  # Built afresh each run (a second), so a changed probe is never stale.
  mkdir -p "$limits_bin"
  if ! { cc -O2 -pthread -o "$limits_bin/fsyncbench" "$peers/limits/fsyncbench.c" \
         && cc -O2 -o "$limits_bin/tcppingpong" "$peers/limits/tcppingpong.c" \
         && cc -O2 -o "$limits_bin/sqlitebench" "$peers/limits/sqlitebench.c" -lsqlite3; }; then
    echo "bench.sh: cannot build the floor probes (need gcc and libsqlite3-dev);" \
         "running without them (LIMITS=0)" >&2
    LIMITS=0
  fi
fi
# The floor of a conc-1 commit on this machine, measured beside the peers:
# a durable write alone, three at once (three nodes share the disk), the
# SQLite commit our store makes, and one loopback round trip. The files go
# to $TMPDIR, as the peers' and our data folders do unless -dir says else.
run_limits() {
  local d="${TMPDIR:-/tmp}" rc=0
  "$limits_bin/fsyncbench" -d "$d" -t 3 -m overwrite -s fdatasync -j 1 || rc=1
  "$limits_bin/fsyncbench" -d "$d" -t 3 -m overwrite -s fdatasync -j 3 || rc=1
  "$limits_bin/sqlitebench" -d "$d" -t 3 -s FULL -r 1 -b 128 || rc=1
  "$limits_bin/tcppingpong" -t 3 -s 64 -w 1 || rc=1
  return "$rc"
}

status=0
for round in $(seq 1 "$rounds"); do
  renumber() { sed -E "s/ run=1( |\$)/ run=$round\1/"; }
  if [ "$LIMITS" = 1 ]; then
    run_limits | sed "s/\$/ run=$round/" | tee -a "$out" || status=1
  fi
  if [ "$PEER" = 1 ]; then
    # The peers' run.sh read BUILD_DIR too (for their own builds): not ours.
    for p in $PEER_NAMES; do
      env -u BUILD_DIR "$peers/$p-bench/run.sh" "$@" | renumber | tee -a "$out" || status=1
    done
  fi
  for t in $TRANSPORTS; do
    extra=()
    [ "$t" = tcp ] && extra=(-insecure)
    if [ -n "$BASELINE_DIR" ]; then
      "$BASELINE_DIR/raft-bench" "$@" "${extra[@]}" | renumber \
        | sed -E 's/(^| )peer=caf-raft( |$)/\1peer=baseline\2/' | tee -a "$out" || status=1
    fi
    [ "${STAGES:-0}" = 1 ] && extra+=(-stages)
    "$BUILD_DIR/raft-bench" "$@" "${extra[@]}" | renumber | tee -a "$out" || status=1
  done
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg); finished $(date -u +%FT%TZ)" | tee -a "$out"

echo "# summary (median [min-max] per configuration; raw lines in $out)"
# summarize.py treats unknown keys as part of the configuration: drop ours
# (rss_*), which the ratio table below reports, and the stages lines.
grep -v '^stages ' "$out" | sed -E 's/ rss_(rest|load|follower)_mb=[0-9.]+//g' \
  | python3 "$peers/limits/summarize.py"
python3 - "$out" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    if line.startswith("#") or line.startswith("stages ") or "=" not in line:
        continue
    kv = dict(p.split("=", 1) for p in line.split() if "=" in p)
    peer = kv.get("peer")
    if peer in ("hashicorp-raft", "canonical-raft"):
        who = peer
    elif peer == "baseline":
        # An earlier build of ours in the peers' place, per transport.
        who = "baseline-" + kv.get("transport", "?").split("-", 1)[0]
    elif peer == "caf-raft":
        who = "ours-" + kv.get("transport", "?").split("-", 1)[0]
    else:
        continue
    sync = kv.get("store", "").rsplit("/", 1)[-1].split("-", 1)[0]
    key = (int(kv["nodes"]), int(kv["conc"]), int(kv["size"]), sync)
    rows.setdefault(key, {}).setdefault(who, []).append(kv)

def med(xs, m):
    vals = [float(x[m]) for x in xs if m in x]
    return statistics.median(vals) if vals else None

fmt = lambda x: "-" if x is None else (f"{x:.0f}" if abs(x) >= 100 else f"{x:.3g}")
metrics = ["ops_per_s", "p50_ms", "p99_ms", "cpu_us_per_op", "leader_avg_batch", "follower_avg_batch"]
present = {w for by in rows.values() for w in by}
variants = sorted(w for w in present if w.startswith("ours"))

def peer_rows(by, v, peer):
    # "baseline": the earlier build of the same transport.
    if peer == "baseline":
        return by.get("baseline-" + v.split("-", 1)[1], [])
    return by.get(peer, [])
peers = [p for p in ("canonical-raft", "hashicorp-raft") if p in present]
if any(w.startswith("baseline-") for w in present):
    peers = ["baseline"]
for v in variants:
    for peer in peers:
        print(f"# {v} vs {peer}: median ours/median peer=ratio (ops_per_s, batches: >1 is better for us; latency, CPU: <1 is better for us); RSS of ours in MiB (largest node process)")
        print("nodes conc size sync   n " + " ".join(f"{m:>24}" for m in metrics) + "  rss_rest/load/follower")
        for key in sorted(rows):
            by = rows[key]
            if v not in by:
                continue
            theirs = peer_rows(by, v, peer)
            cells = []
            for m in metrics:
                o = med(by[v], m)
                p = med(theirs, m)
                r = f"{o / p:.2f}" if (o is not None and p) else "-"
                cells.append(f"{fmt(o)}/{fmt(p)}={r}")
            n, c, s, sync = key
            rss = "/".join(fmt(med(by[v], f"rss_{k}_mb")) for k in ("rest", "load", "follower"))
            cnt = f"{len(by[v])}/{len(theirs)}"
            print(f"{n:>5} {c:>4} {s:>4} {sync:<5} {cnt:>3} " + " ".join(f"{x:>24}" for x in cells) + f"  {rss}")

# Issue 20's targets: 128 B, fsync on; ratios of medians against the peer
# named, measured in the same run.
targets = [
    ("canonical-raft", (3, 1), "ops_per_s", ">=", 1.0, "3 nodes conc 1: commits/s >= Canonical raft"),
    ("canonical-raft", (3, 1), "p50_ms", "<=", 1.0, "3 nodes conc 1: p50 <= Canonical raft"),
    ("canonical-raft", (3, 1), "cpu_us_per_op", "<=", 2.0, "3 nodes conc 1: CPU per commit <= 2x Canonical raft"),
    ("canonical-raft", (1, 1), "ops_per_s", ">=", 1.2, "1 node conc 1: commits/s >= 1.2x Canonical raft"),
    ("canonical-raft", (3, 64), "ops_per_s", ">=", 4.0, "3 nodes conc 64: commits/s >= 4x Canonical raft"),
    ("canonical-raft", (3, 256), "ops_per_s", ">=", 4.0, "3 nodes conc 256: commits/s >= 4x Canonical raft"),
    ("hashicorp-raft", (3, 64), "ops_per_s", ">=", 4.0, "3 nodes conc 64: commits/s >= 4x HashiCorp"),
    ("hashicorp-raft", (3, 256), "ops_per_s", ">=", 4.0, "3 nodes conc 256: commits/s >= 4x HashiCorp"),
]
# The probes of run_limits, per round: what one conc-1 commit cannot beat.
probes = {}
for line in open(sys.argv[1]):
    kind = line.split(" ", 1)[0]
    if kind not in ("fsync", "sqlite", "tcp"):
        continue
    kv = dict(p.split("=", 1) for p in line.split() if "=" in p)
    name = kind + (kv["threads"] if kind == "fsync" else "")
    probes.setdefault(name, []).append(kv)

def mean_us(name, metric, per=1):
    # Mean time per operation of one writer (per = writers at once).
    v = med(probes.get(name, []), metric)
    return per * 1e6 / v if v else None

def print_floor(nodes, need):
    # A conc-1 commit holds one durable write per node (raft-bench's
    # clients run in the leader's process, so no client hop); at 3 nodes
    # the leader's and the followers' writes run at once on one disk, and
    # the commit waits for a follower's write between two hops, one round
    # trip (Raft §5.3: a majority has persisted the entry).
    rtt = mean_us("tcp", "msgs_per_s")
    if nodes == 1:
        parts = [("one durable 4 KiB write", mean_us("fsync1", "ops_per_s")),
                 ("one SQLite commit (our store)", mean_us("sqlite", "txn_per_s"))]
    else:
        w3 = mean_us("fsync3", "ops_per_s", per=3)
        parts = [("a durable write among three at once + a TCP round trip",
                  w3 + rtt if w3 and rtt else None)]
    print(f"    needs a commit every {1e6 / need:.0f} µs (mean); the floor measured in these rounds:")
    for text, us in parts:
        if us is None:
            print(f"      {text}: not measured (LIMITS=0, or a probe failed)")
        else:
            print(f"      {text}: {us:.0f} µs ({1e6 / us:,.0f}/s)")

if peers == ["baseline"]:
    variants = []  # an earlier build of ours is no peer for the targets
for v in variants:
    print(f"# issue 20 targets ({v}, 128 B, fsync, medians)")
    for peer, (n, c), m, op, want, text in targets:
        by = rows.get((n, c, 128, "fsync"), {})
        if v not in by or not by.get(peer):
            print(f"  {text}: not measured")
            continue
        o, p = med(by[v], m), med(by[peer], m)
        got = o / p if p else float("nan")
        ok = got >= want if op == ">=" else got <= want
        print(f"  {text}: {got:.2f}x ({fmt(o)} vs {fmt(p)}) -> {'MET' if ok else 'NOT MET'}")
        if c == 1 and m == "ops_per_s" and p:
            print_floor(n, want * float(p))
# raft-bench -stages: the per-stage medians of ours, per configuration.
stages = {}
for line in open(sys.argv[1]):
    if line.startswith("stages "):
        kv = dict(p.split("=", 1) for p in line.split() if "=" in p)
        if kv.get("peer") != "caf-raft":
            continue
        key = (int(kv["nodes"]), int(kv["conc"]), kv.get("transport", "?"))
        stages.setdefault(key, []).append(kv)
for (n, c, t), xs in sorted(stages.items()):
    names = [k for k in xs[0] if k.endswith("_us")]
    print(f"# where a commit's time goes, nodes={n} conc={c} {t} (median over runs of each run's median, µs; tracing adds about 1 µs per commit)")
    for k in names:
        print(f"  {k[:-3]:<18} {statistics.median(float(x[k]) for x in xs):8.1f}")
PY
exit "$status"
