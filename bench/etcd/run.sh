#!/usr/bin/env bash
# Lease commit rate on etcd: perfdhcp through the relay path (perfdhcp acts as the relay,
# giaddr = -l) against podboot on etcd with 1 and 3 members, podboot on bbolt and Kea
# (memfile, persist true), one after the other in one run on this machine. Each server
# runs in a network namespace joined by a veth to perfdhcp's; the etcd members
# (bench/etcd/cluster, embedded v3.7.3) run on the server namespace's loopback, so they
# share the machine's cores with podboot and perfdhcp. podboot ACKs a REQUEST only after
# its lease is committed (bbolt: fsync; etcd: a quorum's fsync), Kea after its memfile
# write. The figure is the highest rate (exchanges/s) at which both DISCOVER-OFFER and
# REQUEST-ACK stay at or under 2.5 % drops; the ratios to Kea are printed last.
#
# Usage: bench/etcd/run.sh [RATES...]
# Env:   PERIOD (seconds per step, default 5), CLIENTS (distinct MACs, default 200),
#        ROUNDS (default 2; each figure is the best round), KEEP=1 keeps the work dir.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" -eq 0 ] || { echo "bench/etcd: needs root (network namespaces)" >&2; exit 1; }
for p in kea-dhcp4-server kea-admin iproute2; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || {
    echo "bench/etcd: installing $p"; export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "$p" >/dev/null; }
done

PERIOD=${PERIOD:-5}
CLIENTS=${CLIENTS:-200}
RATES=("$@")
[ ${#RATES[@]} -gt 0 ] || RATES=(500 1000 2000 3000 4000 5000 6000 8000 10000 12000 15000 20000)
SERVER=198.51.100.10
RELAY=198.51.100.2
P=pbd$$
W=$(mktemp -d /tmp/bench-etcd.XXXXXX)
PIDS=()

. bench/dhcp/lib.sh
cleanup() {
  [ -z "${CLUSTER:-}" ] || kill "$CLUSTER" 2>/dev/null || true
  perf_cleanup
}
trap cleanup EXIT
perf_netns

echo "== build podboot, seed, etcd cluster"
go build -o "$W/podboot" ./cmd/podboot
go build -o "$W/seed" ./bench/dhcp/seed
go build -o "$W/cluster" ./bench/etcd/cluster
"$W/seed" "$W/seed-data" $RELAY

cat > "$W/kea.json" <<JSON
{"Dhcp4": {
  "interfaces-config": {"interfaces": ["s0"], "dhcp-socket-type": "udp"},
  "lease-database": {"type": "memfile", "persist": true, "name": "$W/kea-leases.csv", "lfc-interval": 0},
  "valid-lifetime": 600,
  "multi-threading": {"enable-multi-threading": true, "thread-pool-size": 2, "packet-queue-size": 64},
  "subnet4": [{"id": 1, "subnet": "198.51.100.0/24", "pools": [{"pool": "198.51.100.20 - 198.51.100.250"}],
               "relay": {"ip-addresses": ["$RELAY"]}}],
  "loggers": [{"name": "kea-dhcp4", "severity": "WARN", "output_options": [{"output": "stdout"}]}]
}}
JSON

serve_env=(env PODBOOT_DHCP_ADDR=$SERVER:67 PODBOOT_TFTP_ADDR=127.0.0.1:0 PODBOOT_HTTP_ADDR=127.0.0.1:0 PODBOOT_HTTPS_ADDR=127.0.0.1:0)

run_bbolt() {
  echo "== podboot on bbolt" >&2
  NAME=bbolt
  rm -rf "$W/bbolt-data"; cp -a "$W/seed-data" "$W/bbolt-data"
  start_bg "$P-srv" "${serve_env[@]}" "$W/podboot" serve --data-dir "$W/bbolt-data" --api-addr 127.0.0.1:19443 --log-level warn
}

# run_etcd N: a fresh N-member cluster, the seed migrated into it, podboot on it.
run_etcd() {
  local n=$1 eps=http://127.0.0.1:22379
  [ "$n" = 3 ] && eps=http://127.0.0.1:22379,http://127.0.0.1:22380,http://127.0.0.1:22381
  echo "== podboot on etcd, $n member(s)" >&2
  NAME=etcd$n
  rm -rf "$W/etcd$n" "$W/etcd$n-data"; mkdir -p "$W/etcd$n" "$W/etcd$n-data"
  ip netns exec "$P-srv" "$W/cluster" -n "$n" -dir "$W/etcd$n" > "$W/cluster-$n.log" 2>&1 &
  CLUSTER=$!
  for _ in $(seq 1 300); do grep -q ready "$W/cluster-$n.log" && break; sleep 0.1; done
  ip netns exec "$P-srv" "$W/podboot" store migrate --from "bbolt:$W/seed-data/podboot.db" --to "etcd:$eps" >&2
  start_bg "$P-srv" "${serve_env[@]}" "$W/podboot" serve --data-dir "$W/etcd$n-data" --api-addr 127.0.0.1:19443 --log-level warn \
    --store etcd --etcd-endpoints "$eps"
}
run_etcd1() { run_etcd 1; }
run_etcd3() { run_etcd 3; }
# commits NAME: where podboot's time went, from its metrics: lease commits, mean group
# size and mean commit time over the whole ladder.
commits() {
  ip netns exec "$P-srv" curl -sk https://127.0.0.1:19443/metrics 2>/dev/null | awk -v n="$1" '
    /^podboot_dhcp_lease_commit_seconds_sum/ { ts = $2 } /^podboot_dhcp_lease_commit_seconds_count/ { tc = $2 }
    /^podboot_dhcp_lease_commit_batch_size_sum/ { bs = $2 }
    END { if (tc > 0) printf "  %-6s %d commits, %.1f leases per commit, %.2f ms per commit\n", n, tc, bs / tc, 1000 * ts / tc }' >> "$W/commits.txt"
}
stop_cluster() { [ -z "${CLUSTER:-}" ] || { kill "$CLUSTER" 2>/dev/null || true; wait "$CLUSTER" 2>/dev/null || true; CLUSTER=; }; }

run_kea() {
  echo "== kea-dhcp4 (memfile, persist true, 2 threads)" >&2
  NAME=kea
  rm -f "$W/kea-leases.csv"*
  start_bg "$P-srv" env KEA_PIDFILE_DIR="$W" KEA_LOCKFILE_DIR=none kea-dhcp4 -c "$W/kea.json"
}

SERVERS=(etcd3 etcd1 bbolt kea)
ROUNDS=${ROUNDS:-2}
declare -A BEST PER
for ROUND in $(seq 1 "$ROUNDS"); do
  echo "== round $ROUND of $ROUNDS"
  for srv in "${SERVERS[@]}"; do
    "run_$srv"
    wait_udp67
    f=$(ladder "$srv")
    [ "$srv" = kea ] || commits "$srv"
    stop_bg
    stop_cluster
    PER[$srv]="${PER[$srv]:-} $f"
    [ "$f" -le "${BEST[$srv]:-0}" ] || BEST[$srv]=$f
  done
done

echo
echo "highest rate with both exchanges <= 2.5 % drops (perfdhcp -R $CLIENTS -p $PERIOD, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); best of $ROUNDS rounds):"
for srv in "${SERVERS[@]}"; do
  printf '  %-6s %6s exchanges/s   (rounds:%s)\n' "$srv" "${BEST[$srv]:-0}" "${PER[$srv]}"
done
echo "podboot's lease commits over each ladder (round by round):"
cat "$W/commits.txt"
for srv in etcd3 etcd1 bbolt; do
  awk -v s="$srv" -v a="${BEST[$srv]:-0}" -v b="${BEST[kea]:-0}" 'BEGIN { if (b > 0) printf "  ratio %s/kea = %.2f\n", s, a/b; else printf "  ratio %s/kea = n/a\n", s }'
done
