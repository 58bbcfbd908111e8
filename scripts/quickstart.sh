#!/usr/bin/env bash
# The README's quick start: installs what is missing, builds raftd and
# raftctl, and runs a three-server cluster on loopback with mutual TLS:
# 200 writes through raftctl, a backup saved and restored, the leader killed
# with SIGKILL, the new leader,
# every acknowledged write read back, the status table and the metrics.
# Stops everything it started on exit (also on failure or Ctrl-C) and keeps
# the work dir (logs, data, certificates).
#
#   scripts/quickstart.sh
#
# Environment: QUICKSTART_DIR (work dir; default a fresh /tmp dir; must be
# empty or absent), WRITES (default 200), BUILD_DIR (<repo>/build).
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$top/build}"
WRITES="${WRITES:-200}"
steps=8
case $WRITES in
  ''|*[!0-9]*|0) echo "quickstart: WRITES must be a positive number, not '$WRITES'" >&2; exit 2 ;;
esac
ids=(1 2 3)

# -- output helpers ------------------------------------------------------------

step_no=0
step() {
  step_no=$((step_no + 1))
  printf '[%d/%d] %s\n' "$step_no" "$steps" "$*"
}
info() { printf '      %s\n' "$*"; }
now_ms() { date +%s%3N; }
tty=0
[ -t 1 ] && tty=1

# One line, redrawn in place on a terminal; elsewhere (CI logs) only the
# final state is printed.
progress() { # done total label
  local done=$1 total=$2 label=$3 width=40 filled bar
  if [ "$tty" = 0 ] && [ "$done" -lt "$total" ]; then
    return
  fi
  filled=$((done * width / total))
  bar="$(printf '%*s' "$filled" '' | tr ' ' '#')$(printf '%*s' $((width - filled)) '' | tr ' ' '.')"
  printf '\r      [%s] %3d/%d %s' "$bar" "$done" "$total" "$label"
  [ "$done" -lt "$total" ] || printf '\n'
}

# -- cleanup -------------------------------------------------------------------

work=""
declare -A pid=()   # id -> pid of the raftd we started
failed_msg=""
show_logs=1

fail() {
  failed_msg="$*"
  exit 1
}

stop_nodes() {
  local id p deadline alive
  for id in "${!pid[@]}"; do
    kill -TERM "${pid[$id]}" 2>/dev/null || true
  done
  # A clean stop takes well under a second; bound it anyway.
  deadline=$(($(now_ms) + 10000))
  while :; do
    alive=0
    for id in "${!pid[@]}"; do
      kill -0 "${pid[$id]}" 2>/dev/null && alive=1
    done
    [ "$alive" = 0 ] && break
    if [ "$(now_ms)" -ge "$deadline" ]; then
      for id in "${!pid[@]}"; do
        if kill -0 "${pid[$id]}" 2>/dev/null; then
          echo "      raftd $id did not stop within 10 s after SIGTERM: SIGKILL"
          kill -KILL "${pid[$id]}" 2>/dev/null || true
        fi
      done
      break
    fi
    sleep 0.1
  done
  for id in "${!pid[@]}"; do
    p=${pid[$id]}
    wait "$p" 2>/dev/null || true
    unset "pid[$id]"
  done
}

on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "$rc" != 0 ]; then
    echo
    echo "quickstart FAILED: ${failed_msg:-a command failed (exit code $rc)}" >&2
    if [ "$show_logs" = 1 ] && [ -n "$work" ] && [ -d "$work/logs" ]; then
      for f in "$work"/logs/raftd-*.log; do
        [ -f "$f" ] || continue
        echo "--- last lines of $f" >&2
        tail -n 15 "$f" >&2
      done
    fi
  fi
  if [ "${#pid[@]}" -gt 0 ]; then
    echo "Stopping the servers (SIGTERM)..."
    stop_nodes
  fi
  if [ -n "$work" ] && [ -d "$work" ]; then
    echo "Logs: $work/logs (data and certificates next to them in $work; rm -rf it when done)"
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'failed_msg="interrupted"; show_logs=0; exit 130' INT
trap 'failed_msg="terminated"; show_logs=0; exit 143' TERM

# -- 1. packages -----------------------------------------------------------------

echo "caf-raft quick start: a three-server cluster on this machine"
if [ -n "${QUICKSTART_DIR:-}" ] && [ -n "$(ls -A "$QUICKSTART_DIR" 2>/dev/null)" ]; then
  fail "QUICKSTART_DIR=$QUICKSTART_DIR is not empty; give a new or empty folder"
fi
step "Installing packages (only what is missing)..."
"$top/scripts/deps.sh"

# -- 2. build --------------------------------------------------------------------

step "Building raftd and raftctl into $BUILD_DIR (a few minutes the first time)..."
mkdir -p "$BUILD_DIR"
build_log="$(mktemp /tmp/caf-raft-quickstart-build.XXXXXX)"
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S "$top" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    >"$build_log" 2>&1 || { cat "$build_log" >&2; fail "cmake failed (log above)"; }
fi
# Ninja's "[n/m] ..." lines become one line redrawn in place.
if ! ninja -C "$BUILD_DIR" raftd raftctl 2>&1 | tee "$build_log" | {
    while IFS= read -r line; do
      case $line in
        \[*/*\]*) [ "$tty" = 1 ] && printf '\r      %s\033[K' "${line%% *}" ;;
      esac
    done
    [ "$tty" = 1 ] && printf '\r\033[K'
    true
  }; then
  tail -n 40 "$build_log" >&2
  fail "the build failed (last lines above, full log in $build_log)"
fi
rm -f "$build_log"
raftd="$BUILD_DIR/raftd"
raftctl_bin="$BUILD_DIR/raftctl"
info "$raftd"
info "$raftctl_bin"

# -- 3. work dir, TLS material, settings -----------------------------------------

step "Making TLS material and settings for servers ${ids[*]}..."
if [ -n "${QUICKSTART_DIR:-}" ]; then
  work="$QUICKSTART_DIR"
  mkdir -p "$work"
  work="$(cd "$work" && pwd)"
else
  work="$(mktemp -d /tmp/caf-raft-quickstart.XXXXXX)"
fi
mkdir -p "$work/logs"
# One CA for the cluster, a certificate per server id, one for raftctl.
sh "$top/scripts/make-certs.sh" "$work/certs" "${ids[@]}" --clients admin \
  || fail "scripts/make-certs.sh failed (is openssl installed?)"
info "CA and certificates for ${ids[*]} and admin (raftctl) in $work/certs"

# Nine loopback ports the OS reports free: raft, client and metrics per server.
free_ports() {
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
  else
    # Without python3: random ports nobody answers on.
    local got=() p
    while [ "${#got[@]}" -lt "$1" ]; do
      p=$((20000 + RANDOM % 30000))
      case " ${got[*]} " in *" $p "*) continue ;; esac
      (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
      got+=("$p")
    done
    echo "${got[*]}"
  fi
}
read -r -a ports <<<"$(free_ports 9)"
[ "${#ports[@]}" = 9 ] || fail "could not find 9 free loopback ports"
declare -A raft_addr client_addr metrics_addr
for n in 0 1 2; do
  id=${ids[$n]}
  raft_addr[$id]="127.0.0.1:${ports[$n]}"
  client_addr[$id]="127.0.0.1:${ports[$((n + 3))]}"
  metrics_addr[$id]="127.0.0.1:${ports[$((n + 6))]}"
done
for id in "${ids[@]}"; do
  peers="" clients=""
  for other in "${ids[@]}"; do
    [ "$other" = "$id" ] && continue
    peers+="${peers:+,}$other=${raft_addr[$other]}"
    clients+="${clients:+,}$other=${client_addr[$other]}"
  done
  cat >"$work/raftd-$id.ini" <<EOF
[global]
id="$id"
data-dir="$work/data-$id"
listen="${raft_addr[$id]}"
client-listen="${client_addr[$id]}"
peers="$peers"
peer-clients="$clients"
tls-dir="$work/certs"
metrics="${metrics_addr[$id]}"
bootstrap=true
EOF
  info "server $id: raft ${raft_addr[$id]}, client ${client_addr[$id]}, metrics ${metrics_addr[$id]} ($work/raftd-$id.ini)"
done

# raftctl against one server; a follower forwards to the leader by itself.
ctl() { # addr args...
  local addr=$1
  shift
  "$raftctl_bin" --tls-dir "$work/certs" --timeout "${CTL_TIMEOUT:-5}" --addr "$addr" "$@"
}

# A field of `raftctl --json status` (one "key": "value" per line).
field() { # json key
  printf '%s\n' "$1" | sed -n 's/^ *"'"$2"'": *"\([^"]*\)",\{0,1\}$/\1/p'
}

# The leader every running server agrees on (it says Leader, the others
# name it), or nothing: then a write sent to any of them goes through.
leader_now() {
  local id st l="" agreed=""
  for id in "${ids[@]}"; do
    [ -n "${pid[$id]:-}" ] || continue
    st=$(ctl "${client_addr[$id]}" --json status 2>/dev/null) || return 0
    [ -n "$l" ] || l=$(field "$st" leader_id)
    [ -n "$l" ] && [ "$(field "$st" leader_id)" = "$l" ] || return 0
    [ "$id" = "$l" ] && [ "$(field "$st" state)" = Leader ] && agreed=1
  done
  [ -n "$agreed" ] && echo "$l"
  return 0
}

# Fails when a server we started has exited.
check_alive() {
  local id
  for id in "${ids[@]}"; do
    [ -n "${pid[$id]:-}" ] || continue
    if ! kill -0 "${pid[$id]}" 2>/dev/null; then
      wait "${pid[$id]}" 2>/dev/null && rc=0 || rc=$?
      unset "pid[$id]"
      fail "raftd $id exited (code $rc) during $1; see $work/logs/raftd-$id.log"
    fi
  done
}

# -- 4. start ------------------------------------------------------------------

step "Starting three raftd processes and waiting for a leader..."
t_start=$(now_ms)
for id in "${ids[@]}"; do
  "$raftd" --config-file="$work/raftd-$id.ini" >"$work/logs/raftd-$id.log" 2>&1 &
  pid[$id]=$!
  info "raftd $id: pid ${pid[$id]}, log $work/logs/raftd-$id.log"
done
leader=""
deadline=$(($(now_ms) + 30000))
while :; do
  check_alive "start-up"
  leader="$(CTL_TIMEOUT=2 leader_now)"
  [ -n "$leader" ] && break
  [ "$(now_ms)" -lt "$deadline" ] || fail "no leader within 30 s of starting"
  sleep 0.2   # paces the polls; each one is a raftctl round trip
done
info "server $leader leads after $(($(now_ms) - t_start)) ms"
echo "raftctl endpoint health (exit 1 if any server is unhealthy):"
ctl "${client_addr[$leader]}" endpoint health | sed 's/^/  /' \
  || fail "a server is unhealthy right after the cluster formed"

# -- 5. workload ---------------------------------------------------------------

step "Writing $WRITES keys with raftctl put, round robin over the three servers..."
declare -A acked=()
errors=0
last_error=""
t0=$(now_ms)
for i in $(seq 1 "$WRITES"); do
  key=$(printf 'key-%04d' "$i")
  id=${ids[$((i % 3))]}
  if out=$(ctl "${client_addr[$id]}" put "$key" "value-$i" 2>&1); then
    acked[$key]="value-$i"
  else
    errors=$((errors + 1))
    last_error=$out
    check_alive "the workload"
  fi
  progress "$i" "$WRITES" "writes ($((i - errors)) acknowledged)"
done
elapsed=$(($(now_ms) - t0))
info "${#acked[@]}/$WRITES acknowledged in $elapsed ms ($((elapsed / WRITES)) ms per raftctl process, TLS handshake included)"
[ "$errors" = 0 ] || info "$errors failed; the last: $last_error"
check_alive "the workload"
[ "${#acked[@]}" -gt 0 ] || fail "no write was acknowledged"

# -- 6. backup and restore ------------------------------------------------------

step "Saving a backup to a file, writing over it, and restoring it (raftctl snapshot)..."
backup="$work/backup.snap"
some=${ids[1]}
ctl "${client_addr[$some]}" snapshot save "$backup" | sed 's/^/      /' \
  || fail "snapshot save failed"
ctl "${client_addr[$some]}" snapshot status "$backup" | sed 's/^/      /' \
  || fail "the saved snapshot does not check"
first_key=$(printf '%s\n' "${!acked[@]}" | sort | head -1)
ctl "${client_addr[$some]}" put "$first_key" overwritten >/dev/null \
  || fail "the write after the backup failed"
ctl "${client_addr[$some]}" snapshot restore "$backup" | sed 's/^/      /' \
  || fail "snapshot restore failed"
got=$(ctl "${client_addr[$some]}" get "$first_key" 2>&1) || true
[ "$got" = "${acked[$first_key]}" ] \
  || fail "after the restore $first_key holds '$got', not the backup's '${acked[$first_key]}'"
info "$first_key holds '${acked[$first_key]}' again: the write made after the backup is gone"
info "(rebuilding a lost cluster from such a file: docs/operations.md, Backup and restore)"

# -- 7. failover -----------------------------------------------------------------

step "Killing the leader (server $leader, pid ${pid[$leader]}) with SIGKILL..."
old=$leader
kill -KILL "${pid[$old]}"
wait "${pid[$old]}" 2>/dev/null || true
unset "pid[$old]"
t_kill=$(now_ms)
survivors=()
for id in "${ids[@]}"; do
  [ "$id" = "$old" ] || survivors+=("$id")
done
# "Serving" = a write is acknowledged again, asked of a survivor.
k=0
deadline=$((t_kill + 30000))
while :; do
  check_alive "the fail-over"
  id=${survivors[$((k % 2))]}
  k=$((k + 1))
  if CTL_TIMEOUT=2 ctl "${client_addr[$id]}" put after-failover yes >/dev/null 2>&1; then
    break
  fi
  [ "$(now_ms)" -lt "$deadline" ] || fail "no new leader served a write within 30 s"
  sleep 0.05
done
failover=$(($(now_ms) - t_kill))
new=""
deadline=$(($(now_ms) + 10000))
until new="$(leader_now)"; [ -n "$new" ]; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "no server reports itself leader"
  sleep 0.1
done
info "new leader: server $new; writes acknowledged again $failover ms after the kill"
info "(raftd's default timeouts: 1 s heartbeat, 1 s election; see docs/operations.md)"

# -- 8. verify, status, metrics --------------------------------------------------

total=${#acked[@]}
step "Reading back all $total acknowledged writes from the survivors (linearizable get)..."
ok=0
bad=0
n=0
for key in $(printf '%s\n' "${!acked[@]}" | sort); do
  n=$((n + 1))
  id=${survivors[$((n % 2))]}
  got=$(ctl "${client_addr[$id]}" get "$key" 2>&1) || true
  if [ "$got" = "${acked[$key]}" ]; then
    ok=$((ok + 1))
  else
    bad=$((bad + 1))
    [ "$bad" -le 5 ] && printf '\n      %s: expected %s, got %s\n' "$key" "${acked[$key]}" "$got"
  fi
  progress "$n" "$total" "reads"
done
info "$ok/$total acknowledged writes readable after the leader was killed"
[ "$ok" = "$total" ] || fail "$bad acknowledged writes are missing or wrong"
got=$(ctl "${client_addr[$new]}" get after-failover 2>&1) || true
[ "$got" = yes ] || fail "the write acknowledged after the fail-over is not readable: $got"

echo
echo "raftctl status --cluster (server $old was killed, so it exits 1):"
ctl "${client_addr[$new]}" status --cluster | sed 's/^/  /' || true
if command -v curl >/dev/null 2>&1; then
  echo "  the leader's health: $(curl -sS --max-time 3 "http://${metrics_addr[$new]}/health" || echo unreadable)"
fi
echo
echo "Metrics (Prometheus text format):"
for id in "${ids[@]}"; do
  if [ "$id" = "$old" ]; then
    info "server $id: http://${metrics_addr[$id]}/metrics (killed)"
  elif [ "$id" = "$new" ]; then
    info "server $id: http://${metrics_addr[$id]}/metrics (leader)"
  else
    info "server $id: http://${metrics_addr[$id]}/metrics"
  fi
done
if command -v curl >/dev/null 2>&1; then
  if curl -fsS --max-time 3 -o "$work/metrics-$new.txt" "http://${metrics_addr[$new]}/metrics"; then
    echo "  from the leader's (all in $work/metrics-$new.txt):"
    grep -E '^raft_(is_leader|state_leader_total|term|commit_index|applied_index|verify_leader_total|commit_time_seconds_count|commit_time_seconds_sum) ' \
      "$work/metrics-$new.txt" | sed 's/^/      /' || true
  else
    info "(curl could not read the leader's metrics)"
  fi
fi
echo
echo "Done: $ok/$total acknowledged writes readable; fail-over in $failover ms."
echo "Run a cluster by hand: docs/operations.md (the settings used here: $work/raftd-*.ini)."
