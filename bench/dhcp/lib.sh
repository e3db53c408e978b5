# Shared by bench/dhcp/run.sh and bench/etcd/run.sh: the two namespaces joined by a veth,
# perfdhcp as the relay, the rate ladder and the server start/stop helpers. The caller
# sets P, W, SERVER, RELAY, PERIOD, CLIENTS, RATES, NAME, ROUND and PIDS=() first.

perf_cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  ip netns del "$P-srv" 2>/dev/null || true
  ip netns del "$P-perf" 2>/dev/null || true
  [ -n "${KEEP:-}" ] && echo "kept $W" || rm -rf "$W"
}

# perf_netns: the server namespace $P-srv ($SERVER on s0) and perfdhcp's $P-perf ($RELAY
# on p0), joined by a veth.
perf_netns() {
  ip netns add "$P-srv"
  ip netns add "$P-perf"
  ip -n "$P-srv" link set lo up
  ip -n "$P-perf" link set lo up
  ip -n "$P-srv" link add s0 type veth peer name p0 netns "$P-perf"
  ip -n "$P-srv" addr add $SERVER/24 dev s0
  ip -n "$P-perf" addr add $RELAY/24 dev p0
  ip -n "$P-srv" link set s0 up
  ip -n "$P-perf" link set p0 up
}

# drops NAME RATE: prints the worse drop percentage of the two exchanges (100 when
# perfdhcp printed no statistics). perfdhcp's full output is kept in $W.
drops() {
  local out f="$W/perfdhcp-$1-$2-round$ROUND.txt"
  out=$(timeout $((PERIOD + 20)) ip netns exec "$P-perf" perfdhcp -4 -l $RELAY -r "$2" -R "$CLIENTS" -p "$PERIOD" $SERVER 2>&1 || true)
  echo "$out" > "$f"
  # Two "sent packets" / "received packets" pairs: DISCOVER-OFFER, then REQUEST-ACK.
  echo "$out" | awk '
    BEGIN { n = 0 }
    /^sent packets:/ { s[n] = $3 + 0 }
    /^received packets:/ { r[n] = $3 + 0; n++ }
    END {
      if (n < 2) { print 100; exit }
      w = 0
      for (i = 0; i < 2; i++) { d = (s[i] > 0) ? 100 * (s[i] - r[i]) / s[i] : 100; if (d > w) w = d }
      printf "%.2f\n", w
    }'
}

# ladder NAME: highest rate with both exchanges <= 2.5 % drops. A failed step is tried
# once more before the ladder stops (these machines are shared; one noisy step should
# not end it).
ladder() {
  local best=0 d ok
  for r in "${RATES[@]}"; do
    ok=
    for try in 1 2; do
      d=$(drops "$1" "$r")
      printf '  %-8s rate %6s/s  worst drops %6s %%%s\n' "$1" "$r" "$d" "$([ $try = 2 ] && echo '  (retry)')" >&2
      if awk -v d="$d" 'BEGIN{exit !(d <= 2.5)}'; then ok=1; break; fi
    done
    [ -n "$ok" ] || break
    best=$r
  done
  echo "$best"
}

start_bg() { # NS CMD...: start a server in the background
  local ns=$1; shift
  ip netns exec "$ns" "$@" >"$W/server-$NAME-round$ROUND.log" 2>&1 &
  PIDS+=($!)
}

wait_udp67() { # wait until something listens on udp/67 in the server namespace
  for _ in $(seq 1 100); do
    ip netns exec "$P-srv" ss -Hlun 'sport = :67' | grep -q . && return 0
    sleep 0.1
  done
  echo "server did not bind udp/67:"; cat "$W/server-$NAME-round$ROUND.log"; exit 1
}

stop_bg() {
  local pid=${PIDS[-1]}
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset 'PIDS[-1]'
}

