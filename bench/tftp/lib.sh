# Shared by bench/tftp/run.sh and bench/http/run.sh: build podboot, start `podboot serve`
# on 127.0.0.1 with a throw-away data dir, and register one pod, profile, host and
# artifact through the real CLI, so the benchmarks measure the binary operators run.
# Expects: ROOT (repo), WORK (scratch dir). Sets: PODBOOT_PID, PB (CLI prefix).

MAC=52:54:00:be:00:01
MACPATH=52-54-00-be-00-01

install_missing() { # install_missing CMD PKG...: apt-get the packages when CMD is absent
  local cmd=$1; shift
  command -v "$cmd" >/dev/null 2>&1 && return 0
  [ "$(id -u)" -eq 0 ] || { echo "bench: $cmd missing; run as root or apt-get install $*" >&2; exit 1; }
  # Keep Debian's maintainer scripts from starting system daemons on :69 or :80.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  rm -f /usr/sbin/policy-rc.d
}

# start_podboot CONFIG_YAML: start serve, wait (bounded) for the client config.
start_podboot() {
  (cd "$ROOT" && go build -o "$WORK/podboot" ./cmd/podboot)
  local api_port
  api_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$WORK/podboot" serve --config "$1" --data-dir "$WORK/data" --api-addr "127.0.0.1:$api_port" --log-level warn \
    >"$WORK/podboot.log" 2>&1 &
  PODBOOT_PID=$!
  for _ in $(seq 1 100); do
    [ -s "$WORK/data/client.json" ] && curl -skf "https://127.0.0.1:$api_port/healthz" >/dev/null 2>&1 && break
    kill -0 "$PODBOOT_PID" 2>/dev/null || { cat "$WORK/podboot.log" >&2; echo "bench: podboot serve died" >&2; exit 1; }
    sleep 0.1
  done
  PB=("$WORK/podboot" --client-config "$WORK/data/client.json")
}

# register_boot_file NAME FILE KIND: one pod (127.0.0.0/8, not NAT), one host reserved at
# 127.0.0.1, a profile whose BIOS bootloader (or kernel) is the file.
register_boot_file() {
  local name=$1 file=$2 kind=$3
  "${PB[@]}" image add "$name:1" "$file" --kind "$kind" >/dev/null
  cat >"$WORK/profile.yaml" <<YAML
name: bench
bootloaders:
  bios: $name
kernel: $name
initrd: $name
YAML
  "${PB[@]}" profile apply -f "$WORK/profile.yaml" >/dev/null
  "${PB[@]}" pod register bench --giaddr 192.0.2.1 --subnet 127.0.0.0/8 --server-address 127.0.0.1 --profile bench >/dev/null
  "${PB[@]}" host add "$MAC" --pod bench --ip 127.0.0.1 >/dev/null
}

stop_podboot() {
  [ -n "${PODBOOT_PID:-}" ] || return 0
  kill -TERM "$PODBOOT_PID" 2>/dev/null || true
  wait "$PODBOOT_PID" 2>/dev/null || true
  PODBOOT_PID=
}

# peak_rss_kib PID: VmHWM (peak resident set) of a process, in KiB.
peak_rss_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }

# median: of the numbers on stdin.
median() { sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

# compare_rounds URL_A URL_B N ROUNDS: ROUNDS rounds of `run URL N` (the caller's: it
# prints "completed seconds") against both URLs, back to back, the order alternating
# between rounds. Prints "doneA doneB medianA medianB ratio minRatio maxRatio", MB/s of
# SIZE-byte files; VERBOSE=1 logs every round to stderr.
compare_rounds() {
  local a=$1 b=$2 n=$3 rounds=$4 r a_ok a_s b_ok b_s ma mb
  local a_done=0 b_done=0 a_all=() b_all=() ratios=()
  for r in $(seq 1 "$rounds"); do
    if [ $((r % 2)) -eq 1 ]; then
      read -r a_ok a_s < <(run "$a" "$n")
      read -r b_ok b_s < <(run "$b" "$n")
    else
      read -r b_ok b_s < <(run "$b" "$n")
      read -r a_ok a_s < <(run "$a" "$n")
    fi
    ma=$(echo "$a_ok * $SIZE / $a_s / 1000000" | bc -l)
    mb=$(echo "$b_ok * $SIZE / $b_s / 1000000" | bc -l)
    a_done=$((a_done + a_ok)) b_done=$((b_done + b_ok))
    a_all+=("$ma") b_all+=("$mb")
    ratios+=("$(echo "if ($mb > 0) $ma / $mb else 0" | bc -l)")
    if [ -n "${VERBOSE:-}" ]; then printf '  N=%s round %d: %.1f against %.1f MB/s\n' "$n" "$r" "$ma" "$mb" >&2; fi
  done
  ma=$(printf '%s\n' "${a_all[@]}" | median)
  mb=$(printf '%s\n' "${b_all[@]}" | median)
  echo "$a_done $b_done $ma $mb $(echo "if ($mb > 0) $ma / $mb else 0" | bc -l)" \
    "$(printf '%s\n' "${ratios[@]}" | sort -g | head -1) $(printf '%s\n' "${ratios[@]}" | sort -g | tail -1)"
}

# start_tftp_pair PREFIX BLK: a SIZE_MB MB file served by podboot on 127.0.0.1:PORT_PB
# (boot.tftpBlockSize BLK) and by tftpd-hpa on 127.0.0.1:PORT_HPA, both stopped on exit.
# Sets WORK, SIZE, PB_URL, HPA_URL, HPA_PID.
start_tftp_pair() {
  install_missing curl curl
  install_missing in.tftpd tftpd-hpa
  WORK=$(mktemp -d "/tmp/$1.XXXXXX")
  HPA_PID=
  trap stop_tftp_pair EXIT
  trap "exit 130" INT TERM
  mkdir -p "$WORK/tftproot"
  chmod 755 "$WORK" "$WORK/tftproot"
  head -c "$((SIZE_MB * 1000 * 1000))" /dev/urandom >"$WORK/tftproot/boot.bin"
  chmod 644 "$WORK/tftproot/boot.bin"
  SIZE=$(stat -c %s "$WORK/tftproot/boot.bin")
  cat >"$WORK/podboot.yaml" <<YAML
boot:
  tftpAddr: 127.0.0.1:$PORT_PB
  httpAddr: 127.0.0.1:0
  httpsAddr: "-"
  tftpBlockSize: $2
  maxTftpTransfers: 512
  maxTftpPerSource: 512 # every client is 127.0.0.1, of one pod
  maxTftpPerPod: 512
YAML
  start_podboot "$WORK/podboot.yaml"
  register_boot_file boot.bin "$WORK/tftproot/boot.bin" bootloader
  PB_URL="tftp://127.0.0.1:$PORT_PB/bench/$MACPATH/boot.bin"
  # tftpd-hpa as Debian ships it: standalone, foreground, chrooted to the root dir.
  in.tftpd -L -a "127.0.0.1:$PORT_HPA" -s "$WORK/tftproot" -u nobody &
  HPA_PID=$!
  HPA_URL="tftp://127.0.0.1:$PORT_HPA/boot.bin"
}

stop_tftp_pair() {
  stop_podboot
  if [ -n "$HPA_PID" ]; then kill "$HPA_PID" 2>/dev/null && wait "$HPA_PID" 2>/dev/null; fi
  rm -rf "$WORK"
}
