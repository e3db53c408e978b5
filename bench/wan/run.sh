#!/usr/bin/env bash
# WAN benchmark: provisions one QEMU host at a time through ISC dhcrelay across an
# emulated WAN (internal/testutil WANLink: two TAPs joined in-process, since the kernel
# has no sch_netem) and reports each boot stage from the host's events, for every RTT
# and boot path. Needs root (namespaces, taps); about 1-3 min per host under TCG.
#
# Usage: [LOSS=0.01] [PATHS=uefi-http,bios-ipxe,uefi-pxe] bench/wan/run.sh [RTT_MS,...]
#   default RTTs 0,100,300; default paths uefi-http,bios-ipxe; LOSS is per direction.
# Writes the Markdown table (and every TFTP RRQ seen on the WAN, with its options) to
# bench/wan/results-<date>.md and prints it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RTTS=${1:-0,100,300}
OUT="$ROOT/bench/wan/results-$(date +%Y%m%d-%H%M%S).md"
"$ROOT/scripts/deps.sh"
cd "$ROOT"
PODBOOT_WAN_BENCH="$RTTS" PODBOOT_WAN_LOSS="${LOSS:-0}" PODBOOT_WAN_PATHS="${PATHS:-uefi-http,bios-ipxe}" \
  PODBOOT_WAN_OUT="$OUT" go test -tags wanbench -count=1 -timeout 3h -v -run '^TestWANBench$' ./test/e2e/ >"$OUT.log" 2>&1 ||
  { tail -50 "$OUT.log"; exit 1; }
cat "$OUT"
