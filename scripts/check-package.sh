#!/usr/bin/env bash
# Builds the Debian packages (cmake/package.cmake), unpacks them into a
# scratch root as `dpkg -x` does (no container, no root needed) and checks
# what an operator and a host project get: raftd and raftctl run and say
# their version, they are stripped and their debug symbols are in the
# dbgsym package, the man pages list the flags, the systemd unit runs
# raftd as its own user, and examples/embed builds against the package's
# CMake config and loads its libcaf-raft.so. ctest runs it as
# debian_package.
#
#   scripts/check-package.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build="$(cd "$1" && pwd)"
src="$2"
work="$(mktemp -d /tmp/caf-raft-package.XXXXXX)"
trap 'rm -rf "$work"' EXIT
fail() { echo "check-package: $*" >&2; exit 1; }

cpack --config "$build/CPackConfig.cmake" -B "$work/pkg" >"$work/cpack.log" 2>&1 \
  || { cat "$work/cpack.log" >&2; fail "cpack failed"; }
root="$work/root"
for f in "$work"/pkg/*.deb "$work"/pkg/*.ddeb; do
  echo "package: ${f##*/} ($(du -h "$f" | cut -f1))"
  dpkg-deb -x "$f" "$root"
done
# Outputs are captured before grep -q reads them: grep -q closing a pipe
# early would fail the pipe under pipefail, and a check could pass wrongly.
depends="$(dpkg-deb -f "$work"/pkg/caf-raft_*.deb Depends)"
grep -q libcaf-core <<<"$depends" || fail "caf-raft's Depends lack the CAF runtime"

# The programs run from the package and say what they are.
for prog in raftd raftctl; do
  out="$("$root/usr/bin/$prog" --version 2>&1)" || fail "$prog --version failed"
  echo "$out" | head -1
  [[ "$out" == "$prog "* ]] || fail "$prog --version says: $out"
  # Stripped, with the debug info in the dbgsym package under its build id.
  sections="$(readelf -S "$root/usr/bin/$prog")"
  grep -q '\.text' <<<"$sections" || fail "readelf cannot read $prog"
  if grep -q '\.debug_info' <<<"$sections"; then
    fail "$prog is not stripped"
  fi
  id="$(readelf -n "$root/usr/bin/$prog" | awk '/Build ID/ {print $3}')"
  [ -f "$root/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug" ] \
    || fail "no debug symbols for $prog (build id $id) in the dbgsym package"
done

# Man pages made from --help: every flag is in them.
grep -q 'data\\-dir' "$root/usr/share/man/man1/raftd.1" \
  || fail "raftd.1 does not list --data-dir"
grep -q 'snapshot' "$root/usr/share/man/man1/raftctl.1" \
  || fail "raftctl.1 does not list the snapshot commands"

# The unit runs raftd as the caf-raft user, which postinst creates.
unit="$root/usr/lib/systemd/system/raftd@.service"
grep -q '^User=caf-raft$' "$unit" || fail "raftd@.service does not set User=caf-raft"
grep -q '^ExecStart=/usr/bin/raftd ' "$unit" || fail "raftd@.service does not start /usr/bin/raftd"
dpkg-deb -e "$work"/pkg/caf-raft_*.deb "$work/control"
grep -q 'adduser --system' "$work/control/postinst" || fail "postinst makes no user"
grep -q "systemctl stop 'raftd@" "$work/control/prerm" \
  || fail "prerm does not stop the servers on removal"
grep -qx 'activate-noawait ldconfig' "$work/control/triggers" \
  || fail "no ldconfig trigger for libcaf-raft.so"
grep -qx /etc/caf-raft/example.ini "$work/control/conffiles" \
  || fail "the example config is not a conffile"
# The example config is one raftd accepts: it fails only for want of TLS
# files (exit 2 naming them), never on a setting.
set +e
err="$("$root/usr/bin/raftd" --config-file="$root/etc/caf-raft/example.ini" \
        --id=a --data-dir="$work/data" 2>&1)"
rc=$?
set -e
[ "$rc" = 2 ] && [[ "$err" == *"tls"* ]] && [[ "$err" != *"unknown"* ]] \
  || fail "raftd refused the example config otherwise than for its TLS files (exit $rc): $err"

# A host project builds against the package (caf-raft::caf-raft is the
# shared library there) and loads the package's library.
cmake -S "$src/examples/embed" -B "$work/embed" -G Ninja \
  -DCMAKE_PREFIX_PATH="$root/usr" -DCMAKE_BUILD_TYPE=Release >"$work/embed.log" 2>&1 \
  && cmake --build "$work/embed" >>"$work/embed.log" 2>&1 \
  || { tail -30 "$work/embed.log" >&2; fail "examples/embed does not build against the package"; }
libs="$(ldd "$work/embed/embed-example")"
grep -q "libcaf-raft.so.0.1 => $root/usr/lib" <<<"$libs" \
  || fail "embed-example does not load the package's libcaf-raft.so.0.1"
cflags="$(PKG_CONFIG_PATH="$root/usr/lib/pkgconfig" pkg-config --cflags caf-raft)"
grep -q -- "-I$root/usr/lib/pkgconfig/../../include" <<<"$cflags" \
  || fail "pkg-config does not point into the package"
echo "check-package: the Debian packages install, run and build a host project"
