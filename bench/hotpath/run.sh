#!/usr/bin/env bash
# Instructions per DHCP packet and per TFTP block at two git revisions, counted by
# valgrind's callgrind: instruction counts do not depend on what else the machine runs,
# so two revisions can be compared on a loaded, shared machine.
#
# For each revision it checks the tree out into a temporary git worktree, builds the
# test binaries of pkg/dhcprelay and pkg/pxe (`go test -c`) and runs each benchmark
# under callgrind at two iteration counts; the per-operation figure is the difference
# of the two totals divided by the difference of the counts, so set-up (store, pods,
# warm-up) cancels out. Repeated runs agree within about 0.2 % (DHCP) and 0.6 % (TFTP).
#   DHCP: BenchmarkHandleExchange (each revision's own), one op = DISCOVER + REQUEST,
#         so per packet = per op / 2.
#   TFTP: BenchmarkTFTPTransfer from this script's tree (pkg/pxe/tftpbench_test.go; it
#         uses only exported API and is copied into each revision), one op = one 512 KiB
#         download of 375 blocks, pin/tftp's client included (the same at both).
#
# Usage: bench/hotpath/run.sh [BASE [HEAD]]    (default: 6a3ca91 HEAD)
# Env:   DHCP_N="5000 20000" and TFTP_N="10 40": the two iteration counts.
set -euo pipefail
shopt -s inherit_errexit
ROOT=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
BASE=${1:-6a3ca91}
HEAD_REV=${2:-HEAD}
read -r DHCP_N1 DHCP_N2 <<<"${DHCP_N:-5000 20000}"
read -r TFTP_N1 TFTP_N2 <<<"${TFTP_N:-10 40}"
BENCH_SRC="$ROOT/pkg/pxe/tftpbench_test.go"

command -v valgrind >/dev/null || {
  echo "bench/hotpath: installing valgrind" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
}
[ -f "$BENCH_SRC" ] || { echo "bench/hotpath: $BENCH_SRC missing" >&2; exit 1; }

W=$(mktemp -d /tmp/bench-hotpath.XXXXXX)
TREES=()
cleanup() {
  for t in "${TREES[@]}"; do git -C "$ROOT" worktree remove --force "$t" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] && echo "kept $W" >&2 || rm -rf "$W"
}
trap cleanup EXIT

# build NAME REV: test binaries $W/NAME-dhcp.test and $W/NAME-tftp.test of REV.
build() {
  local tree="$W/src-$1"
  git -C "$ROOT" worktree add --quiet --detach "$tree" "$2"
  TREES+=("$tree")
  cp "$BENCH_SRC" "$tree/pkg/pxe/tftpbench_test.go"
  (cd "$tree" && go test -c -o "$W/$1-dhcp.test" ./pkg/dhcprelay && go test -c -o "$W/$1-tftp.test" ./pkg/pxe)
}

# instr BIN BENCH N: instructions (Ir) of one run of BENCH with N iterations, all threads
# but the runtime's sysmon, whose polling grows with wall time (valgrind runs the
# program 50-100 times slower, by how much depends on the machine's load). Also:
# GOGC=off, since the GC's pacing follows time too (allocation shows as mallocgc, and
# each benchmark's allocs/op is printed); GOMAXPROCS=1, no idle processor spinning;
# asyncpreemptoff, callgrind asserts on the runtime's preemption signals.
instr() {
  local out f n sum=0
  out="$W/callgrind.$(basename "$1").$2.$3"
  (cd "$W" && GOGC=off GOMAXPROCS=1 GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind --separate-threads=yes \
    --callgrind-out-file="$out" -q "$1" -test.run '^$' -test.bench "^$2\$" -test.benchtime "${3}x" -test.count 1 \
    >"$out.log" 2>&1) || { cat "$out.log" >&2; return 1; }
  grep -q '^PASS' "$out.log" || { echo "bench/hotpath: $2 of $1 failed:" >&2; tail -20 "$out.log" >&2; return 1; }
  for f in "$out"-*; do
    grep -q 'runtime\.sysmon' "$f" && continue
    n=$(awk '/^totals:/ {print $2; exit}' "$f")
    sum=$((sum + ${n:-0}))
  done
  [ "$sum" -gt 0 ] || { echo "bench/hotpath: no instruction counts in $out-*" >&2; return 1; }
  echo "$sum"
}

# perop BIN BENCH N1 N2: instructions per iteration, and the benchmark's allocs/op.
perop() {
  local a b
  a=$(instr "$1" "$2" "$3")
  b=$(instr "$1" "$2" "$4")
  echo "$(((b - a) / ($4 - $3))) $(awk '/allocs\/op/ {for (i = 1; i < NF; i++) if ($(i + 1) == "allocs/op") print $i}' "$W/callgrind.$(basename "$1").$2.$4.log")"
}

build base "$BASE"
build head "$HEAD_REV"
echo "base $BASE = $(git -C "$ROOT" rev-parse --short "$BASE"), head $HEAD_REV = $(git -C "$ROOT" rev-parse --short "$HEAD_REV")"
echo "go $(go env GOVERSION), $(valgrind --version)"

declare -A R A
for v in base head; do
  read -r R[$v-dhcp] A[$v-dhcp] <<<"$(perop "$W/$v-dhcp.test" BenchmarkHandleExchange "$DHCP_N1" "$DHCP_N2")"
  read -r R[$v-tftp] A[$v-tftp] <<<"$(perop "$W/$v-tftp.test" BenchmarkTFTPTransfer "$TFTP_N1" "$TFTP_N2")"
done
awk -v bd="${R[base-dhcp]}" -v hd="${R[head-dhcp]}" -v bt="${R[base-tftp]}" -v ht="${R[head-tftp]}" \
  -v bda="${A[base-dhcp]}" -v hda="${A[head-dhcp]}" -v bta="${A[base-tftp]}" -v hta="${A[head-tftp]}" 'BEGIN {
  printf "%-34s %14s %14s %8s\n", "instructions", "base", "head", "ratio"
  printf "%-34s %14d %14d %8.3f\n", "DHCP per exchange (DISCOVER+REQ)", bd, hd, hd / bd
  printf "%-34s %14d %14d %8.3f\n", "DHCP per packet", bd / 2, hd / 2, hd / bd
  printf "%-34s %14d %14d %8.3f\n", "TFTP per 512 KiB transfer", bt, ht, ht / bt
  printf "%-34s %14d %14d %8.3f\n", "TFTP per block (375 a transfer)", bt / 375, ht / 375, ht / bt
  printf "%-34s %14s %14s\n", "allocs per DHCP exchange", bda, hda
  printf "%-34s %14s %14s\n", "allocs per TFTP transfer", bta, hta
}'
