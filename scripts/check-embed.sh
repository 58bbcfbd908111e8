#!/usr/bin/env bash
# Installs the built library into a scratch prefix and builds examples/embed
# against it with find_package alone (issue 17): a host project needs
# nothing of the source tree. Then runs two of its processes as a cluster
# over mutual TLS, twice: the leader applies and reads, the follower shows
# the same counter, and the second run starts from the stored state.
# ctest runs it as embed_example.
#
#   scripts/check-embed.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build="$1"
src="$2"
work="$(mktemp -d /tmp/caf-raft-embed.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "check-embed: $*" >&2
  for f in "$work"/log*; do
    [ -f "$f" ] && sed "s|^|  ${f##*/}: |" "$f" | tail -40 >&2
  done
  exit 1
}

cmake --install "$build" --prefix "$work/prefix" >/dev/null
for lib in static shared; do
  target=caf-raft::caf-raft
  [ "$lib" = shared ] && target=caf-raft::caf-raft-shared
  cmake -S "$src/examples/embed" -B "$work/build-$lib" -G Ninja \
    -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release \
    -DEMBED_LINK="$target" >"$work/log-build" 2>&1 || fail "configure failed"
  cmake --build "$work/build-$lib" >"$work/log-build" 2>&1 \
    || fail "examples/embed does not build against the installed package"
done
exe="$work/build-shared/embed-example"
# The shared build runs on the installed library, found by its SONAME.
# (Output captured first: grep -q closing a pipe early fails it under
# pipefail.)
libs="$(ldd "$exe")"
grep -q "libcaf-raft.so.0.1 => $work/prefix" <<<"$libs" \
  || fail "embed-example does not load the installed libcaf-raft.so.0.1"
"$src/scripts/make-certs.sh" "$work/certs" 1 2 >/dev/null

# Two ports nothing listens on.
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    [ "$p" != "${1:-}" ] || continue
    (exec 9<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
p1=$(free_port)
p2=$(free_port "$p1")
members=("1=127.0.0.1:$p1" "2=127.0.0.1:$p2")

# Waits up to 60 s for process $1 to end; its exit status, or 1 (and a
# kill) if it does not end.
wait_exit() {
  if timeout 60 tail --pid="$1" -s 0.1 -f /dev/null; then
    wait "$1"
    return
  fi
  echo "check-embed: process $1 did not stop within 60 s" >&2
  kill -9 "$1" 2>/dev/null || true
  return 1
}

# Reads one line from fd $1 into $line, waiting up to 60 s while process $2
# lives (the fifo is open read-write here, so a dead writer gives no EOF).
read_from() {
  local k
  for k in $(seq 60); do
    read -r -t 1 -u "$1" line && return 0
    kill -0 "$2" 2>/dev/null || { read -r -t 1 -u "$1" line && return 0; return 1; }
  done
  return 1
}

# One run of both servers, talking through fifos: each prints one line when
# a leader is known; the follower is then asked to show the leader's entry.
# Every wait is bounded: the fifos are opened read-write, which never
# blocks, answers are read with read -t, and exits are awaited with a
# deadline.
run_cluster() {
  local expect="$1" exe="$2" line idx i leader follower
  rm -f "$work"/in* "$work"/out*
  rm -f "$work"/log[12]
  for i in 1 2; do
    mkfifo "$work/in$i" "$work/out$i"
    "$exe" "$i" "$work/data$i" "$work/certs" "${members[@]}" \
      <"$work/in$i" >"$work/out$i" 2>>"$work/log$i" &
    pids+=($!)
  done
  exec 3<>"$work/in1" 5<>"$work/out1" 4<>"$work/in2" 6<>"$work/out2"
  declare -A said
  for i in 1 2; do
    read_from $((4 + i)) "${pids[$((i - 1))]}" \
      || fail "server $i said nothing (it stopped, or 60 s passed)"
    echo "$line"
    said[$i]="$line"
  done
  for i in 1 2; do
    case "${said[$i]}" in
      *"leader: applied at index "*) leader=$i ;;
      *"follower of "*) follower=$i ;;
    esac
  done
  [ -n "${leader:-}" ] && [ -n "${follower:-}" ] \
    || fail "expected one leader and one follower"
  [[ "${said[$leader]}" == *"counter = $expect" ]] \
    || fail "the leader's counter is not $expect"
  idx=$(sed -E 's/.*applied at index ([0-9]+).*/\1/' <<<"${said[$leader]}")
  echo "applied $idx" >&$((2 + follower))
  read_from $((4 + follower)) "${pids[$((follower - 1))]}" \
    || fail "server $follower did not apply index $idx (it stopped, or 60 s passed)"
  echo "$line"
  [[ "$line" == *"counter = $expect" ]] \
    || fail "the follower's counter is not $expect"
  exec 3>&- 4>&-
  for i in 0 1; do
    wait_exit "${pids[$i]}" || fail "server $((i + 1)) exited with an error"
  done
  pids=()
  exec 5<&- 6<&-
}
run_cluster 5 "$work/build-static/embed-example"
# The second run finds both folders' state (bootstrap is skipped), on the
# shared library this time.
run_cluster 10 "$exe"
# pkg-config finds the package too.
PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" pkg-config --exists caf-raft \
  || fail "pkg-config does not find caf-raft"
echo "check-embed: the installed package built examples/embed (static and" \
     "shared); two of its processes formed a TLS cluster, applied and read"
