#!/usr/bin/env bash
# HTTP benchmark: a 2 GiB file to 1, 4, 16, 64 parallel curl clients, from podboot's
# boot service and from nginx (sendfile on), plain HTTP and TLS, one after the other in
# this script on 127.0.0.1. Reports aggregate MB/s and podboot/nginx, and podboot's peak
# RSS while it serves 64 clients. Targets: >= 0.8x nginx plain, >= 0.9x nginx TLS,
# RSS < 200 MiB. Each row runs ROUNDS rounds (default 3) of both servers back to back,
# the order alternating; it shows the medians, their ratio and the per-round range.
# Usage: [ROUNDS=n] [SIZE_MB=2048] bench/http/run.sh [N...]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/bench/tftp/lib.sh"
NS=("${@:-1 4 16 64}"); NS=(${NS[*]})
SIZE_MB=${SIZE_MB:-2048}
ROUNDS=${ROUNDS:-3}
PB_HTTP=${PB_HTTP:-18080}; PB_HTTPS=${PB_HTTPS:-18443}
NG_HTTP=${NG_HTTP:-18081}; NG_HTTPS=${NG_HTTPS:-18444}

install_missing curl curl
install_missing nginx nginx
install_missing openssl openssl

WORK=$(mktemp -d /tmp/podboot-bench-http.XXXXXX)
NGINX_PID=
cleanup() {
  stop_podboot
  [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap "exit 130" INT TERM

mkdir -p "$WORK/www"
chmod 755 "$WORK" "$WORK/www"
head -c "$((SIZE_MB << 20))" /dev/urandom >"$WORK/www/stage2.img"
chmod 644 "$WORK/www/stage2.img"
SIZE=$(stat -c %s "$WORK/www/stage2.img")

# One certificate for both servers (ECDSA P-256, as podboot's own).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

cat >"$WORK/podboot.yaml" <<YAML
boot:
  tftpAddr: "-"
  httpAddr: 127.0.0.1:$PB_HTTP
  httpsAddr: 127.0.0.1:$PB_HTTPS
  tlsCertFile: $WORK/cert.pem
  tlsKeyFile: $WORK/key.pem
YAML
start_podboot "$WORK/podboot.yaml"
register_boot_file stage2.img "$WORK/www/stage2.img" kernel
PB_PATH="/boot/bench/$MACPATH/stage2.img"

# nginx as a distribution would run it for static files: sendfile, 2 workers (= CPUs).
mkdir -p "$WORK/nginx/logs"
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 65;
  client_body_temp_path $WORK/nginx/tmp;
  proxy_temp_path $WORK/nginx/tmp;
  fastcgi_temp_path $WORK/nginx/tmp;
  uwsgi_temp_path $WORK/nginx/tmp;
  scgi_temp_path $WORK/nginx/tmp;
  ssl_protocols TLSv1.2 TLSv1.3;
  server {
    listen 127.0.0.1:$NG_HTTP;
    listen 127.0.0.1:$NG_HTTPS ssl;
    ssl_certificate $WORK/cert.pem;
    ssl_certificate_key $WORK/key.pem;
    root $WORK/www;
  }
}
CONF
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" &
NGINX_PID=$!
for _ in $(seq 1 50); do curl -sf -o /dev/null -r 0-0 "http://127.0.0.1:$NG_HTTP/stage2.img" && break; sleep 0.1; done

# run URL N: N parallel downloads; prints "completed seconds".
run() {
  local url=$1 n=$2 dir="$WORK/res.$RANDOM" pids=()
  mkdir -p "$dir"
  local t0 t1
  t0=$(date +%s.%N)
  for i in $(seq 1 "$n"); do
    curl -sk --max-time 900 -o /dev/null -w '%{size_download}\n' "$url" >"$dir/$i" 2>/dev/null &
    pids+=($!)
  done
  wait "${pids[@]}" || true
  t1=$(date +%s.%N)
  local ok
  ok=$(cat "$dir"/* | grep -cx "$SIZE" || true)
  rm -rf "$dir"
  echo "$ok $(echo "$t1 - $t0" | bc -l)"
}

# Warm the page cache through both servers.
run "http://127.0.0.1:$PB_HTTP$PB_PATH" 1 >/dev/null
run "http://127.0.0.1:$NG_HTTP/stage2.img" 1 >/dev/null

echo "file: $SIZE bytes; $(nproc) CPUs; $(uname -r); $ROUNDS rounds per row"
printf '%-6s %-4s | %-26s | %-26s | %-6s | %s\n' proto N "podboot (done, MB/s)" "nginx (done, MB/s)" ratio "per-round ratios (min-max)"
for proto in http https; do
  for n in "${NS[@]}"; do
    if [ "$proto" = http ]; then
      pb="http://127.0.0.1:$PB_HTTP$PB_PATH"; ng="http://127.0.0.1:$NG_HTTP/stage2.img"
    else
      pb="https://127.0.0.1:$PB_HTTPS$PB_PATH"; ng="https://127.0.0.1:$NG_HTTPS/stage2.img"
    fi
    read -r pb_done ng_done pb_med ng_med ratio lo hi < <(compare_rounds "$pb" "$ng" "$n" "$ROUNDS")
    total=$((n * ROUNDS))
    printf '%-6s %-4s | %4s/%-4s %9.1f MB/s | %4s/%-4s %9.1f MB/s | %6.2f | %.2f-%.2f\n' \
      "$proto" "$n" "$pb_done" "$total" "$pb_med" "$ng_done" "$total" "$ng_med" "$ratio" "$lo" "$hi"
  done
done
echo "podboot peak RSS (VmHWM over the whole run): $(( $(peak_rss_kib "$PODBOOT_PID") / 1024 )) MiB"
