#!/bin/sh
# Makes the TLS material of one cluster: a per-cluster CA and, for every
# server id given, a certificate (CN and SAN DNS = the id) and key, signed by
# that CA. Names after --clients get client certificates (extended key usage
# clientAuth only, e.g. raftctl's "admin"): raftd's client port accepts
# them, its raft port refuses them.
# Usage: make-certs.sh <out-dir> <server-id>... [--clients <name>...]
# Writes <out-dir>/ca.pem, ca.key (keep it offline), <id>.pem and <id>.key.
# An existing CA in <out-dir> is reused, so servers can be added later.
set -eu
if [ $# -lt 2 ]; then
  echo "usage: $0 <out-dir> <server-id>... [--clients <name>...]" >&2
  exit 2
fi
out=$1
shift
days=${CERT_DAYS:-825}
mkdir -p "$out"
umask 077
if [ ! -f "$out/ca.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$out/ca.key" -out "$out/ca.pem" -days "$days" \
    -subj "/CN=caf-raft cluster CA $(date +%s)-$$" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi
usage=serverAuth,clientAuth
for id in "$@"; do
  if [ "$id" = --clients ]; then
    usage=clientAuth
    continue
  fi
  case $id in
    *[!A-Za-z0-9._-]*|"")
      echo "$0: server id '$id' must be letters, digits, '.', '_' or '-'" >&2
      exit 2 ;;
  esac
  ext=$(mktemp)
  printf '%s\n' "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=$usage" \
    "subjectAltName=DNS:$id" > "$ext"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$out/$id.key" -out "$out/$id.csr" -subj "/CN=$id" 2>/dev/null
  openssl x509 -req -in "$out/$id.csr" -CA "$out/ca.pem" -CAkey "$out/ca.key" \
    -CAcreateserial -out "$out/$id.pem" -days "$days" -sha256 \
    -extfile "$ext" 2>/dev/null
  rm -f "$out/$id.csr" "$ext"
done
chmod 644 "$out"/*.pem
