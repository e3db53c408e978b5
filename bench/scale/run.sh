#!/usr/bin/env bash
# Scale benchmark (issues 2 and 12): PODS pods x HOSTS hosts registered through the bulk
# paths (pod apply -f with one document per pod, host import -f CSV), then the store's
# size, `podboot serve` start-up time and RSS on that store, and lookup latency in the
# in-memory registry; first on bbolt, then on etcd (bench/etcd/cluster, embedded v3.7.3,
# MEMBERS members on loopback, 8 GiB quota) in the same run, with the ratios etcd/bbolt. On etcd also:
# a second replica's start-up while the first runs, and how long that replica's
# registry takes to catch up (through its watch) after a 10,000-host import on the
# first, and a CPU profile of the registry load from etcd. Only 127.0.0.1 is used.
#
#   bench/scale/run.sh                      # 4,000 pods x 256 hosts = 1,024,000 hosts
#   PODS=1000 bench/scale/run.sh            # 256,000 hosts
#   PODS=200 HOSTS=64 STORES=etcd bench/scale/run.sh
# Env: STORES ("bbolt etcd"), MEMBERS (etcd members, 1), CHUNK (pods per CSV, 500),
#      SERVE_CONFIG (a serve YAML config for every serve, e.g. events: {max: 2000000}),
#      PPROF=1 (serve --pprof-addr on the API port + 1000),
#      KEEP=1 keeps the work dir (CPU profile: WORK/etcd-load.pprof).
set -euo pipefail
cd "$(dirname "$0")/../.."
PODS=${PODS:-4000}
HOSTS=${HOSTS:-256}
CHUNK=${CHUNK:-500}
PORT=${PORT:-29443}
PORT_B=${PORT_B:-29444}
EPORT=${EPORT:-29379}
MEMBERS=${MEMBERS:-1}
STORES=${STORES:-bbolt etcd}

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ "${KEEP:-}" = 1 ] && echo "work dir kept: $work" || rm -rf "$work"
}
trap cleanup EXIT

command -v bc >/dev/null || { echo "bench needs bc (apt-get install bc)" >&2; exit 1; }
go build -o "$work/podboot" ./cmd/podboot
go build -o "$work/scale" ./bench/scale
go build -o "$work/cluster" ./bench/etcd/cluster
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }
rss_mib() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }

# serve DATA PORT [serve flags...]: starts serve, sets SERVE_PID and STARTUP (process
# start to an answering /healthz).
serve() {
  local data=$1 port=$2 t0; shift 2
  t0=$(now)
  PODBOOT_DHCP_ADDR=- PODBOOT_TFTP_ADDR=- PODBOOT_HTTP_ADDR=127.0.0.1:0 PODBOOT_HTTPS_ADDR=- \
    "$work/podboot" serve --data-dir "$data" --api-addr "127.0.0.1:$port" --log-level warn ${PPROF:+--pprof-addr 127.0.0.1:$((port + 1000))} ${SERVE_CONFIG:+--config "$SERVE_CONFIG"} "$@" 2>>"$work/serve.log" &
  SERVE_PID=$!
  pids+=("$SERVE_PID")
  for _ in $(seq 1 2400); do
    if curl -fsS --cacert "$data/pki/ca.pem" "https://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
      STARTUP=$(since "$t0"); return 0
    fi
    kill -0 "$SERVE_PID" 2>/dev/null || { cat "$work/serve.log"; exit 1; }
    sleep 0.05
  done
  echo "serve did not come up" >&2; exit 1
}
stop() { kill -TERM "$1"; wait "$1" || true; }
# pb DATA PORT args...: the CLI against the serve on PORT with DATA's CA and the first
# replica's admin token.
pb() {
  local data=$1 port=$2; shift 2
  "$work/podboot" --server "https://127.0.0.1:$port" --ca-cert "$data/pki/ca.pem" --token "$(cat "$TOKEN_FILE")" "$@"
}

echo "== $(date -u +%H:%M:%S) start: load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== generating $PODS pods x $HOSTS hosts"
"$work/scale" gen -pods "$PODS" -hosts "$HOSTS" -chunk "$CHUNK" -out "$work"
printf 'name: default\n' > "$work/profile.yaml"
: > "$work/calls.txt"

# fill STORE DATA [serve flags...]: registers the fleet through a new serve; sets
# POD_IMPORT, HOST_IMPORT, RSS_LOADED, FIRST_STARTUP.
fill() {
  local store=$1 data=$2 t0; shift 2
  serve "$data" "$PORT" "$@"
  FIRST_STARTUP=$STARTUP
  TOKEN_FILE="$data/admin.token"
  pb "$data" "$PORT" profile apply -f "$work/profile.yaml" >/dev/null 2>&1
  t0=$(now)
  pb "$data" "$PORT" pod apply -f "$work/pods.yaml" >/dev/null 2>&1
  POD_IMPORT=$(since "$t0")
  t0=$(now)
  local k=0 t1
  for f in "$work"/hosts-*.csv; do
    t1=$(now)
    pb "$data" "$PORT" host import -f "$f" >/dev/null
    k=$((k + 1))
    printf '   %s: import call %d: %d hosts in %.1f s (load %s)\n' "$store" "$k" "$(($(wc -l < "$f") - 1))" "$(since "$t1")" "$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$work/calls.txt"
  done
  HOST_IMPORT=$(since "$t0")
  RSS_LOADED=$(rss_mib "$SERVE_PID")
  stop "$SERVE_PID"
  echo "   $store: imported in $HOST_IMPORT s"
}

# restart DATA [serve flags...]: start-up on the filled store; sets RSS_START.
restart() {
  local data=$1; shift
  serve "$data" "$PORT" "$@"
  sleep 1  # let the heap settle before reading RSS; not a synchronisation
  RSS_START=$(rss_mib "$SERVE_PID")
}

report() {
  local store=$1 size=$2
  printf '%-6s pods %d, hosts %d\n' "$store" "$PODS" "$((PODS * HOSTS))"
  printf '%-6s pod import (apply -f)     %.1f s\n' "$store" "$POD_IMPORT"
  printf '%-6s host import (CSV, %d pods/call) %.1f s (%.0f hosts/s)\n' "$store" "$CHUNK" "$HOST_IMPORT" "$(echo "$PODS * $HOSTS / $HOST_IMPORT" | bc -l)"
  # Per call, to see whether a call's time grows with what is already stored.
  awk -v s="$store:" '$1 == s { t = t sprintf(" %s", $8) } END { if (t != "") printf "%-6s host import per call (s):%s\n", substr(s, 1, length(s) - 1), t }' "$work/calls.txt"
  printf '%-6s store size                %s MiB\n' "$store" "$size"
  printf '%-6s serve start-up            %.2f s\n' "$store" "$STARTUP"
  printf '%-6s RSS after start-up        %d MiB (target < 1536 MiB)\n' "$store" "$RSS_START"
  printf '%-6s RSS after import          %d MiB\n' "$store" "$RSS_LOADED"
}

out="$work/results.txt"
: > "$out"
if [[ " $STORES " == *" bbolt "* ]]; then
  echo "== bbolt"
  data="$work/bolt"
  fill bbolt "$data"
  restart "$data"
  stop "$SERVE_PID"
  B_IMPORT=$HOST_IMPORT B_STARTUP=$STARTUP B_RSS=$RSS_START
  report bbolt "$(du -m "$data/podboot.db" | cut -f1)" >> "$out"
  "$work/scale" lookup -db "$data/podboot.db" -n 1000000 | sed 's/^/bbolt  /' >> "$out"
fi

if [[ " $STORES " == *" etcd "* ]]; then
  echo "== etcd ($MEMBERS members)"
  mkdir -p "$work/etcd"
  "$work/cluster" -n "$MEMBERS" -dir "$work/etcd" -port "$EPORT" -quota $((8 << 30)) > "$work/cluster.out" 2>&1 &
  CLUSTER_PID=$!
  pids+=("$CLUSTER_PID")
  for _ in $(seq 1 600); do grep -q ready "$work/cluster.out" && break; sleep 0.1; done
  grep -q ready "$work/cluster.out" || { cat "$work/cluster.out"; exit 1; }
  endpoints=$(seq -s, -f "http://127.0.0.1:%g" "$EPORT" "$((EPORT + MEMBERS - 1))")
  flags=(--store etcd --etcd-endpoints "$endpoints" --etcd-prefix /scale/)
  a="$work/replica-a" b="$work/replica-b"
  # Two replicas of one etcd need two names (the default, the host name, is one).
  fill etcd "$a" "${flags[@]}" --replica-name a
  # The registry load in a process of its own, profiled (no serve running).
  "$work/scale" lookup -etcd "$endpoints" -prefix /scale/ -n 1000000 -cpuprofile "$work/etcd-load.pprof" | sed 's/^/etcd   /' > "$work/lookup.txt"
  restart "$a" "${flags[@]}" --replica-name a
  A_PID=$SERVE_PID A_STARTUP=$STARTUP
  # Replica B: its own data dir, the same etcd, while A runs.
  serve "$b" "$PORT_B" "${flags[@]}" --replica-name b
  B_PID=$SERVE_PID B_REPLICA_STARTUP=$STARTUP
  sleep 1
  RSS_B=$(rss_mib "$B_PID")
  # 10,000 more hosts (40 pods x 250) imported on A; B follows through its watch.
  mkdir -p "$work/more"
  "$work/scale" gen -first "$PODS" -pods 40 -hosts 250 -chunk 40 -out "$work/more"
  pb "$a" "$PORT" pod apply -f "$work/more/pods.yaml" >/dev/null 2>&1
  last=$(tail -1 "$work/more/hosts-000.csv" | cut -d, -f1)
  t0=$(now)
  pb "$a" "$PORT" host import -f "$work/more/hosts-000.csv" >/dev/null
  MORE_IMPORT=$(since "$t0")
  t1=$(now)
  until pb "$b" "$PORT_B" host show "$last" >/dev/null 2>&1; do sleep 0.01; done
  CATCHUP=$(since "$t1")
  ETCD_RSS=$(rss_mib "$CLUSTER_PID")
  stop "$B_PID"; stop "$A_PID"
  STARTUP=$A_STARTUP
  size=$(du -sm "$work/etcd" | cut -f1)
  report etcd "$size" >> "$out"
  {
    printf 'etcd   etcd members (one process) RSS at the end %d MiB\n' "$ETCD_RSS"
    printf 'etcd   second replica start-up (A running) %.2f s, its RSS %d MiB\n' "$B_REPLICA_STARTUP" "$RSS_B"
    printf 'etcd   10,000-host import on A %.1f s; B had the last host %.2f s after A returned (poll resolution ~0.05 s)\n' "$MORE_IMPORT" "$CATCHUP"
    cat "$work/lookup.txt"
    echo "etcd   registry load profile (top 15 by cumulative time; go tool pprof -top -cum):"
    go tool pprof -top -cum -nodecount 15 "$work/scale" "$work/etcd-load.pprof" 2>/dev/null | sed -n '/flat%/,$p' | sed 's/^/etcd     /'
  } >> "$out"
  if [ -n "${B_IMPORT:-}" ]; then
    printf 'etcd/bbolt: host import time %.2fx, start-up %.2fx, RSS after start-up %.2fx\n' \
      "$(echo "$HOST_IMPORT / $B_IMPORT" | bc -l)" "$(echo "$STARTUP / $B_STARTUP" | bc -l)" "$(echo "$RSS_START / $B_RSS" | bc -l)" >> "$out"
  fi
fi
echo "== $(date -u +%H:%M:%S) results ($(nproc) CPUs, $(go env GOVERSION), load $(cut -d' ' -f1-3 /proc/loadavg))"
cat "$out"
