#!/usr/bin/env bash
# BMC benchmark (issue 15 "Measured"): time from `podboot host reprovision` to the
# host's `installed` event for IPMI (ipmi_sim power-cycles a running QEMU guest into
# PXE), Redfish (the Redfish fixture: boot Pxe once + ForceOff/On over QMP) and Redfish
# virtual media (the host's stage1 ISO, no DHCP), on the same QEMU guest definition,
# one guest at a time, in one run; prints each time and the ratios. Needs root
# (namespaces, taps) and scripts/deps.sh's packages; setup about 1 min under TCG.
#
# Usage: [ROUNDS=N] bench/bmc/run.sh   (each round runs the three paths, even rounds in
#   reverse order since the load drifts; about 1-3 min a round)
# Writes the Markdown table to bench/bmc/results-<date>.md and prints it with the load.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT="$ROOT/bench/bmc/results-$(date +%Y%m%d-%H%M%S).md"
cd "$ROOT"
echo "load before: $(uptime)"
PODBOOT_BMC_BENCH_ROUNDS="${ROUNDS:-1}" PODBOOT_BMC_BENCH_OUT="$OUT" go test -tags bmcbench -count=1 -timeout 30m -v -run '^TestBMCBench$' ./test/e2e/ >"$OUT.log" 2>&1 ||
  { tail -50 "$OUT.log"; exit 1; }
cat "$OUT"
