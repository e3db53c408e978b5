#!/usr/bin/env bash
# Scale benchmark (issue 2): PODS pods x HOSTS hosts registered through the bulk paths
# (pod apply -f with one document per pod, host import -f CSV), then the database size,
# `podboot serve` start-up time and RSS on that store, and lookup latency in the
# in-memory registry. Only 127.0.0.1 is used.
#
#   bench/scale/run.sh                 # 4,000 pods x 256 hosts = 1,024,000 hosts
#   PODS=200 HOSTS=64 bench/scale/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PODS=${PODS:-4000}
HOSTS=${HOSTS:-256}
CHUNK=${CHUNK:-500}
PORT=${PORT:-29443}

work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

go build -o "$work/podboot" ./cmd/podboot
go build -o "$work/scale" ./bench/scale
data="$work/data"
pb() { "$work/podboot" --client-config "$data/client.json" --server "https://127.0.0.1:$PORT" "$@"; }
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }

start_serve() {
  local t0; t0=$(now)
  "$work/podboot" serve --data-dir "$data" --api-addr "127.0.0.1:$PORT" --log-level warn 2>>"$work/serve.log" &
  pid=$!
  for _ in $(seq 1 1200); do
    if curl -fsS --cacert "$data/pki/ca.pem" "https://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then
      STARTUP=$(since "$t0"); return 0
    fi
    kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log"; exit 1; }
    sleep 0.05
  done
  echo "serve did not come up" >&2; exit 1
}
stop_serve() { kill -TERM "$pid"; wait "$pid"; pid=""; }
rss_mib() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }

command -v bc >/dev/null || { echo "bench needs bc (apt-get install bc)" >&2; exit 1; }
echo "== generating $PODS pods x $HOSTS hosts"
"$work/scale" gen -pods "$PODS" -hosts "$HOSTS" -chunk "$CHUNK" -out "$work"

start_serve
printf 'name: default\n' > "$work/profile.yaml"
pb profile apply -f "$work/profile.yaml" >/dev/null
t0=$(now)
pb pod apply -f "$work/pods.yaml" >/dev/null
POD_IMPORT=$(since "$t0")
t0=$(now)
for f in "$work"/hosts-*.csv; do pb host import -f "$f" >/dev/null; done
HOST_IMPORT=$(since "$t0")
RSS_LOADED=$(rss_mib "$pid")
stop_serve
DB_MIB=$(du -m "$data/podboot.db" | cut -f1)

start_serve
sleep 1  # let the heap settle before reading RSS; not a synchronisation
RSS_START=$(rss_mib "$pid")
stop_serve

echo "== results ($(nproc) CPUs, $(go env GOVERSION))"
printf 'pods                      %d\n' "$PODS"
printf 'hosts                     %d\n' "$((PODS * HOSTS))"
printf 'pod import (apply -f)     %.1f s\n' "$POD_IMPORT"
printf 'host import (CSV, %d pods/call) %.1f s (%.0f hosts/s)\n' "$CHUNK" "$HOST_IMPORT" "$(echo "$PODS * $HOSTS / $HOST_IMPORT" | bc -l)"
printf 'database size             %d MiB\n' "$DB_MIB"
printf 'serve start-up            %.2f s (target < 10 s)\n' "$STARTUP"
printf 'RSS after start-up        %d MiB (target < 1536 MiB)\n' "$RSS_START"
printf 'RSS after import          %d MiB\n' "$RSS_LOADED"
"$work/scale" lookup -db "$data/podboot.db" -n 1000000
