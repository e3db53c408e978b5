#!/usr/bin/env bash
# TFTP benchmark: N = 1, 10, 50, 200 concurrent `curl --tftp-blksize 1468` downloads of
# a 30 MB file, from podboot and from tftpd-hpa, in this one script, on 127.0.0.1.
# Reports completions out of N, aggregate MB/s and podboot/tftpd-hpa.
# Targets: N of N completions, ratio >= 1.0.
#
# Each N runs ROUNDS rounds (default 5); a round runs both servers back to back, the
# order alternating between rounds, so drift on a shared machine hits both alike. The
# table gives the median MB/s of each server over the rounds, the ratio of the medians
# and the lowest and highest per-round ratio. Completions are summed over the rounds.
#
# podboot runs with boot.tftpBlockSize 1468 so both servers send the same block size
# (its default cap, 1400, is for WAN paths). Usage: [ROUNDS=n] bench/tftp/run.sh [N...]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/bench/tftp/lib.sh"
NS=("${@:-1 10 50 200}"); NS=(${NS[*]})
SIZE_MB=${SIZE_MB:-30}
ROUNDS=${ROUNDS:-5}
PORT_PB=${PORT_PB:-16969}
PORT_HPA=${PORT_HPA:-16970}

start_tftp_pair podboot-bench-tftp 1468

# run URL N: N parallel downloads; prints "completed seconds".
run() {
  local url=$1 n=$2 dir="$WORK/res.$RANDOM"
  mkdir -p "$dir"
  local t0 t1
  t0=$(date +%s.%N)
  local pids=()
  for i in $(seq 1 "$n"); do
    curl -s --max-time 300 --tftp-blksize 1468 -o /dev/null -w '%{size_download}\n' "$url" >"$dir/$i" 2>/dev/null &
    pids+=($!)
  done
  wait "${pids[@]}" || true # only the clients: the servers are children too
  t1=$(date +%s.%N)
  local ok
  ok=$(cat "$dir"/* | grep -cx "$SIZE" || true)
  rm -rf "$dir"
  echo "$ok $(echo "$t1 - $t0" | bc -l)"
}

# Warm the page cache and both servers once.
run "$PB_URL" 1 >/dev/null
run "$HPA_URL" 1 >/dev/null

echo "$ROUNDS rounds per N, $SIZE_MB MB file, blksize 1468"
printf '%-5s | %-24s | %-24s | %-6s | %s\n' N "podboot (done, MB/s)" "tftpd-hpa (done, MB/s)" ratio "per-round ratios (min-max)"
for n in "${NS[@]}"; do
  read -r pb_done hpa_done pb_med hpa_med ratio lo hi < <(compare_rounds "$PB_URL" "$HPA_URL" "$n" "$ROUNDS")
  total=$((n * ROUNDS))
  printf '%-5s | %5s/%-5s %8.1f MB/s | %5s/%-5s %8.1f MB/s | %6.2f | %.2f-%.2f\n' \
    "$n" "$pb_done" "$total" "$pb_med" "$hpa_done" "$total" "$hpa_med" "$ratio" "$lo" "$hi"
done
