#!/usr/bin/env bash
# Installs the Debian 12 packages caf-raft builds and runs with, if missing
# (nftables: partition_test drops packets with its own rules, as root).
set -euo pipefail
pkgs=(g++ cmake ninja-build pkg-config libcaf-dev libssl-dev libsqlite3-dev zlib1g-dev liblzma-dev
      libspdlog-dev prometheus-cpp-dev libcivetweb-dev nlohmann-json3-dev libboost-test-dev
      openssl nftables help2man dpkg-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
