#!/usr/bin/env bash
# Replicas (docs/ha.md), in one run on this machine, through real binaries, dhcrelay and
# perfdhcp (test/ha, build tag habench):
#  1. failover: the owner of a pod SIGKILLed HA_KILLS times (default 20; HA_TTL sets
#     --replica-ttl, default 5s) under perfdhcp
#     load; time from the kill to the first ACK for that pod from another replica, p50/p99.
#  2. DHCP rate: the same perfdhcp load (HA_RATE exchanges/s per pod, default 300, three
#     pods, HA_PERIOD seconds, default 10) on three replicas over a 3-member etcd, one
#     replica on bbolt and Kea (memfile, persist true); ACKs/s counted at the relays, ratios.
# Needs root (network namespaces) and perfdhcp (kea-admin), kea-dhcp4-server, dhcrelay,
# tcpdump. The knob for failover speed is serve's --replica-ttl (and
# --replica-confirm-delay): failover ≈ TTL + confirm delay + poll.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" -eq 0 ] || { echo "bench/ha: needs root (network namespaces)" >&2; exit 1; }
for p in kea-dhcp4-server kea-admin isc-dhcp-relay tcpdump; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || {
    echo "bench/ha: installing $p"; export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "$p" >/dev/null; }
done
go test -tags habench -count=1 -timeout 60m -run "${HA_RUN:-TestBenchFailover|TestBenchRate}" -v ./test/ha 2>&1 |
  grep -E '^(kill |failover |offered |  [0-9a-z]|--- |ok |FAIL|PASS)'
