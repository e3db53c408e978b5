#!/usr/bin/env bash
# Boot-storm benchmark (issue 17): HOSTS simulated hosts across PODS pods boot at once
# against the real podboot binary — relayed DHCP (the simulator is each pod's relay),
# TFTP bootloader, iPXE script, kernel and initrd over HTTP, the agent's HTTPS calls,
# stage2 download and signature verification with the agent's own code, kickstart,
# installed — after everything was registered through the real CLI (pods with pod apply,
# hosts with host import, signed images with image push). It prints hosts provisioned
# per minute, p50/p99/max per stage and to installed, failures by stage, podboot's CPU
# and RSS (from /proc) and the top of a CPU profile taken from serve --pprof-addr.
# Needs root (network namespaces); only 198.51.100.0/24, 192.0.2.0/24 and
# 203.0.113.0/24 inside namespaces it creates are used. See internal/storm.
#
# Usage: bench/storm/run.sh [HOSTS[/PODS] ...]     default 1000/100
# Env:   STAGE2_MIB=16 KERNEL_MIB=8 INITRD_MIB=4  sizes of the images served
#        RTT=0s LOSS=0                            an emulated WAN (e.g. RTT=100ms LOSS=0.01)
#        RAMP=0s                                  spread the power-ons over this long
#        PROFILE=10s                              CPU profile slice (0s: none); slices
#                                                 cover the whole storm and are merged
#        SERVE_CONFIG=FILE                        a serve --config YAML (e.g. boot limits)
# Several sizes (e.g. `run.sh 1000/100 2000/100 4000/100`) run one after the other;
# the results go to bench/out/storm-<date>-<hosts>x<pods>.txt and are printed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
[ "$(id -u)" = 0 ] || { echo "bench/storm needs root (network namespaces)" >&2; exit 1; }
stamp=$(date +%Y%m%d-%H%M%S)
for size in "${@:-1000/100}"; do
  hosts=${size%/*}
  pods=100
  [ "$size" != "$hosts" ] && pods=${size#*/}
  mkdir -p "$ROOT/bench/out"
  out="$ROOT/bench/out/storm-$stamp-${hosts}x$pods.txt"
  head="== $hosts hosts across $pods pods (stage2 ${STAGE2_MIB:-16} MiB, RTT ${RTT:-0s}, loss ${LOSS:-0}, ramp ${RAMP:-0s}, serve config ${SERVE_CONFIG:-none}; load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs)"
  echo "$head"
  STORM_HOSTS=$hosts STORM_PODS=$pods STORM_STAGE2_MIB=${STAGE2_MIB:-16} STORM_KERNEL_MIB=${KERNEL_MIB:-8} \
    STORM_INITRD_MIB=${INITRD_MIB:-4} STORM_RTT=${RTT:-0s} STORM_LOSS=${LOSS:-} STORM_RAMP=${RAMP:-0s} \
    STORM_PROFILE=${PROFILE:-10s} STORM_SERVE_CONFIG=${SERVE_CONFIG:+$(realpath "$SERVE_CONFIG")} STORM_OUT="$out" \
    go test -tags stormbench -count=1 -timeout 60m -run '^TestStormBench$' ./internal/storm/ >"$out.log" 2>&1 ||
    { tail -60 "$out.log"; exit 1; }
  if [ -n "${SERVE_CONFIG:-}" ]; then
    { echo "serve --config $SERVE_CONFIG:"; sed 's/^/  /' "$SERVE_CONFIG"; } >>"$out"
  fi
  sed -i "1i $head (load after: $(cut -d' ' -f1-3 /proc/loadavg))" "$out"
  cat "$out"
  rm -f "$out.log"
done
