#!/usr/bin/env bash
# DHCP benchmark: perfdhcp against podboot, Kea (memfile, persist true) and dnsmasq, one
# after the other on this machine, each server in a network namespace joined by a veth to
# perfdhcp's namespace. perfdhcp acts as a relay (giaddr = -l, replies to giaddr:67).
# The figure is the highest rate (exchanges/s) at which both DISCOVER-OFFER and
# REQUEST-ACK stay at or under 2.5 % drops; the ratio podboot/Kea is printed last.
# podboot's leases are durable (bbolt commit, fsync) before each ACK leaves.
#
# Usage: bench/dhcp/run.sh [RATES...]   (default: a ladder from 500 to 20000)
# Env:   PERIOD (seconds per step, default 5), CLIENTS (distinct MACs, default 200),
#        ROUNDS (default 3: podboot, Kea, dnsmasq, and again; each figure is the best round),
#        PROFILE=1: run podboot's DHCP service alone (bench/dhcp/profile: the same
#        pkg/dhcprelay server on the same store) with CPU and allocation profiles and its
#        metrics, kept in the work dir (go tool pprof W/profile W/podboot-cpu.prof).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" -eq 0 ] || { echo "bench/dhcp: needs root (network namespaces)" >&2; exit 1; }

need=()
for p in kea-dhcp4-server kea-admin dnsmasq-base iproute2; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "bench/dhcp: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

PERIOD=${PERIOD:-5}
CLIENTS=${CLIENTS:-200}
RATES=("$@")
[ ${#RATES[@]} -gt 0 ] || RATES=(500 1000 2000 3000 4000 5000 6000 7000 8000 9000 10000 12000 15000 20000)
SERVER=198.51.100.10
RELAY=198.51.100.2
P=pbd$$
W=$(mktemp -d /tmp/bench-dhcp.XXXXXX)
PIDS=()

. bench/dhcp/lib.sh
cleanup() { perf_cleanup; }
trap cleanup EXIT
perf_netns

echo "== build podboot"
go build -o "$W/podboot" ./cmd/podboot
go build -o "$W/seed" ./bench/dhcp/seed
"$W/seed" "$W/podboot-data" $RELAY
[ -z "${PROFILE:-}" ] || go build -o "$W/profile" ./bench/dhcp/profile

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

run_podboot() {
  echo "== podboot (bbolt, each lease committed and fsynced before its ACK)" >&2
  NAME=podboot
  if [ -n "${PROFILE:-}" ]; then
    KEEP=1
    start_bg "$P-srv" "$W/profile" -data-dir "$W/podboot-data" -addr $SERVER:67 \
      -cpuprofile "$W/podboot-cpu-$ROUND.prof" -memprofile "$W/podboot-mem-$ROUND.prof"
  else
    start_bg "$P-srv" env PODBOOT_DHCP_ADDR=$SERVER:67 PODBOOT_TFTP_ADDR=127.0.0.1:0 PODBOOT_HTTP_ADDR=127.0.0.1:0 \
      PODBOOT_HTTPS_ADDR=127.0.0.1:0 "$W/podboot" serve --data-dir "$W/podboot-data" --api-addr 127.0.0.1:0 --log-level warn
  fi
}

run_kea() {
  echo "== kea-dhcp4 (memfile, persist true, 2 threads)" >&2
  NAME=kea
  start_bg "$P-srv" env KEA_PIDFILE_DIR="$W" KEA_LOCKFILE_DIR=none kea-dhcp4 -c "$W/kea.json"
}

# --no-ping: dnsmasq otherwise pings every address before offering it (up to 3 s, longer
# than perfdhcp's 1 s drop time) and Kea does no such check; --quiet-dhcp: no log line
# per packet.
run_dnsmasq() {
  echo "== dnsmasq (no ping check)" >&2
  NAME=dnsmasq
  start_bg "$P-srv" dnsmasq -d -k --port=0 --user=root --interface=s0 --bind-interfaces --no-resolv --log-facility=- \
    --no-ping --quiet-dhcp --dhcp-authoritative \
    --dhcp-range=198.51.100.20,198.51.100.250,255.255.255.0,10m --dhcp-leasefile="$W/dnsmasq.leases"
}

# Rounds alternate the servers so that a noisy minute on this shared machine does not
# land on one of them only; each server's figure is its best round.
ROUNDS=${ROUNDS:-3}
declare -A BEST PER
for ROUND in $(seq 1 "$ROUNDS"); do
  echo "== round $ROUND of $ROUNDS"
  for srv in podboot kea dnsmasq; do
    "run_$srv"
    wait_udp67
    f=$(ladder "$srv")
    stop_bg
    PER[$srv]="${PER[$srv]:-} $f"
    [ "$f" -le "${BEST[$srv]:-0}" ] || BEST[$srv]=$f
  done
done

echo
echo "highest rate with both exchanges <= 2.5 % drops (perfdhcp -R $CLIENTS -p $PERIOD, $(nproc) cores; best of $ROUNDS rounds):"
for srv in podboot kea dnsmasq; do
  printf '  %-8s %6s exchanges/s   (rounds:%s)\n' "$srv" "${BEST[$srv]:-0}" "${PER[$srv]}"
done
awk -v a="${BEST[podboot]:-0}" -v b="${BEST[kea]:-0}" 'BEGIN { if (b > 0) printf "  ratio podboot/kea = %.2f\n", a/b; else print "  ratio podboot/kea = n/a (kea 0)" }'
