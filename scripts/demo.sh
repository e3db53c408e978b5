#!/usr/bin/env bash
# make demo: provisions a throwaway QEMU host end to end (central podboot, a ToR running
# dhcrelay, iPXE, the stage1 agent, a signed stage2) in network namespaces, tells the
# story as it happens, and ends with a one-line verdict. The full go test log is kept in
# .work/demo.log. Needs root; a Debian kernel package is cached in .work/e2e-cache.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "demo: needs root (network namespaces, taps, QEMU): run sudo make demo" >&2
  exit 1
fi
scripts/deps.sh
mkdir -p .work
log=.work/demo.log
echo "demo: about 1.5 minutes (about 3 on a first run: it builds podboot and downloads a Debian kernel once)"
go build -o .work/demostory ./internal/demostory
if ! PODBOOT_E2E_CACHE=${PODBOOT_E2E_CACHE:-$PWD/.work/e2e-cache} CI= \
  go test -json ./test/e2e -run '^TestProvisionEndToEnd$' -skip '^TestProvisionEndToEnd/(UEFI|Secure)' -count=1 -timeout 20m 2>&1 |
  tee "$log" | .work/demostory; then
  echo "demo: the full log is in $log" >&2
  exit 1
fi
