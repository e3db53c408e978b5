#!/usr/bin/env bash
# Where the CPU goes in the TFTP benchmark: for N concurrent `curl --tftp-blksize 1468`
# downloads of the 30 MB file from podboot and from tftpd-hpa (same setup as run.sh), the
# server's CPU time, the curl clients' CPU time, the whole machine's busy time, all per
# DATA block, and the rescheduling
# IPIs (RES), function-call IPIs (CAL) and local timer interrupts (LOC) the whole machine
# took, per 1000 blocks. tftpd-hpa's server time shows as 0: its per-transfer children are
# not reaped into the parent's counters; machine minus curl is its share then. Usage: bench/tftp/cpu.sh [N...] (default 10).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/bench/tftp/lib.sh"
NS=("${@:-10}"); NS=(${NS[*]})
SIZE_MB=${SIZE_MB:-30}
PORT_PB=${PORT_PB:-16971}
PORT_HPA=${PORT_HPA:-16972}
BLK=1468

start_tftp_pair podboot-bench-tftpcpu "$BLK"
BLOCKS=$((SIZE / BLK + 1))

busy() { # busy: non-idle clock ticks of the whole machine (/proc/stat)
  awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat
}
ticks() { # ticks PID: own + reaped children's CPU time, in clock ticks
  awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"
}
irqs() { # irqs: "RES CAL LOC" summed over CPUs
  awk '$1 ~ /^(RES|CAL|LOC):$/ {s = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i; v[$1] = s}
       END {print v["RES:"], v["CAL:"], v["LOC:"]}' /proc/interrupts
}
# clients URL N: N parallel curls; prints "ok client_cpu_seconds".
clients() {
  bash -c '
    for i in $(seq 1 "$2"); do
      curl -s --max-time 300 --tftp-blksize '"$BLK"' -o /dev/null -w "%{size_download}\n" "$1" &
    done
    wait
    times >&2' _ "$1" "$2" 2>"$WORK/times" | grep -cx "$SIZE" | tr '\n' ' '
  # second line of `times`: children's user and system time, e.g. "0m1.234s 0m2.345s"
  sed -n 2p "$WORK/times" | awk '{gsub(/s/, ""); split($1, u, "m"); split($2, s, "m"); print u[1]*60 + u[2] + s[1]*60 + s[2]}'
}
measure() { # measure NAME PID URL N
  local hz t0 t1 i0 i1 ok ccpu s0 s1 b0 b1
  hz=$(getconf CLK_TCK)
  t0=$(ticks "$2"); i0=($(irqs)); b0=$(busy); s0=$(date +%s.%N)
  read -r ok ccpu < <(clients "$3" "$4")
  s1=$(date +%s.%N); b1=$(busy); t1=$(ticks "$2"); i1=($(irqs))
  local kb=$(echo "$ok * $BLOCKS / 1000" | bc -l)
  [ "$ok" -gt 0 ] || kb=1
  printf '%-9s %3s/%-3s %6.1f MB/s | server %6.2f s %5.1f us/blk | curl %6.2f s %5.1f us/blk | machine %5.1f us/blk | RES %5.0f CAL %5.0f LOC %5.0f per 1000 blk\n' \
    "$1" "$ok" "$4" "$(echo "$ok * $SIZE / ($s1 - $s0) / 1000000" | bc -l)" \
    "$(echo "($t1 - $t0) / $hz" | bc -l)" "$(echo "($t1 - $t0) / $hz / $kb * 1000" | bc -l)" \
    "$ccpu" "$(echo "$ccpu / $kb * 1000" | bc -l)" "$(echo "($b1 - $b0) / $hz / $kb * 1000" | bc -l)" \
    "$(echo "(${i1[0]} - ${i0[0]}) / $kb" | bc -l)" "$(echo "(${i1[1]} - ${i0[1]}) / $kb" | bc -l)" \
    "$(echo "(${i1[2]} - ${i0[2]}) / $kb" | bc -l)"
}

clients "$PB_URL" 1 >/dev/null   # warm the page cache and both servers
clients "$HPA_URL" 1 >/dev/null
for n in "${NS[@]}"; do
  measure podboot "$PODBOOT_PID" "$PB_URL" "$n"
  measure tftpd-hpa "$HPA_PID" "$HPA_URL" "$n"
done
