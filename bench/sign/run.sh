#!/usr/bin/env bash
# bench/sign/run.sh: signing and verification throughput and memory on a
# 4 GiB image, against sha256sum and Go's single-core SHA-256.
#
# Usage: bench/sign/run.sh [SIZE_GIB]   (default 4)
# Uses `podboot image sign/verify` when the CLI has them wired in, otherwise
# bench/sign/cmd, which calls the same library functions.
set -euo pipefail
cd "$(dirname "$0")/../.."

size_gib=${1:-4}
work=$(mktemp -d "${TMPDIR:-/tmp}/podboot-signbench.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ ! -x /usr/bin/time ]; then
  echo "installing GNU time for max RSS measurements" >&2
  (apt-get install -y time >/dev/null 2>&1 || sudo apt-get install -y time >/dev/null) ||
    { echo "need /usr/bin/time (apt-get install time)" >&2; exit 1; }
fi

echo "== building"
go build -o "$work/signbench" ./bench/sign/cmd
use_cli=0
if go build -o "$work/podboot" ./cmd/podboot 2>/dev/null &&
   "$work/podboot" image sign --help >/dev/null 2>&1 &&
   "$work/podboot" image verify --help >/dev/null 2>&1; then
  use_cli=1
fi

echo "== making a ${size_gib} GiB image (a 64 MiB random chunk repeated)"
head -c 64M /dev/urandom > "$work/chunk"
for _ in $(seq $((size_gib * 16))); do cat "$work/chunk"; done > "$work/image"
rm -f "$work/chunk"
bytes=$(stat -c %s "$work/image")
mib=$((bytes / 1048576))
cat "$work/image" > /dev/null # warm the page cache so every tool reads from memory

echo "== PKI (RSA-3072 CA and code-signing certificate)"
"$work/signbench" pki "$work/pki"
cert="$work/pki/bench.pem" key="$work/pki/bench.key" root="$work/pki/ca.pem"

# measure LABEL CMD...: wall seconds and max RSS (KiB) into $wall and $rss.
measure() {
  local label=$1; shift
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" > "$work/out" 2>&1 ||
    { echo "$label failed:"; cat "$work/out"; exit 1; }
  read -r wall rss < "$work/time"
}
rate() { awk -v m="$mib" -v s="$1" 'BEGIN { printf "%.0f", (s > 0 ? m / s : 0) }'; }

measure sha256sum sha256sum "$work/image"
sha_wall=$wall
go_sha=$("$work/signbench" gosha256 4096 | awk '{print $1}')

if [ "$use_cli" = 1 ]; then
  tool="podboot image sign/verify"
  measure sign "$work/podboot" image sign --cert "$cert" --key "$key" "$work/image" -o "$work/image.p7s"
  sign_wall=$wall sign_rss=$rss
  measure verify "$work/podboot" image verify --root-ca "$root" "$work/image.p7s" "$work/image"
else
  tool="bench/sign/cmd (CLI not wired yet; same library calls)"
  measure sign "$work/signbench" sign "$cert" "$key" "$work/image" "$work/image.p7s"
  sign_wall=$wall sign_rss=$rss
  measure verify "$work/signbench" verify "$root" "$work/image.p7s" "$work/image"
fi
verify_wall=$wall verify_rss=$rss

if command -v openssl >/dev/null; then
  measure "openssl verify" openssl cms -verify -binary -inform DER -in "$work/image.p7s" \
    -content "$work/image" -CAfile "$root" -purpose any -out /dev/null
  openssl_wall=$wall openssl_rss=$rss
fi

sha_rate=$(rate "$sha_wall") sign_rate=$(rate "$sign_wall") verify_rate=$(rate "$verify_wall")
echo
echo "== results: ${mib} MiB image, $(nproc) CPUs, $(go version | awk '{print $3}'), driver: $tool"
printf '%-28s %8s s %8s MiB/s %10s\n' "what" "wall" "" "max RSS"
printf '%-28s %8s s %8s MiB/s %10s\n' "sha256sum" "$sha_wall" "$sha_rate" "-"
printf '%-28s %8s s %8s MiB/s %10s\n' "Go SHA-256 (1 core, memory)" "-" "${go_sha%.*}" "-"
printf '%-28s %8s s %8s MiB/s %7s MiB\n' "sign" "$sign_wall" "$sign_rate" "$((sign_rss / 1024))"
printf '%-28s %8s s %8s MiB/s %7s MiB\n' "verify" "$verify_wall" "$verify_rate" "$((verify_rss / 1024))"
if [ -n "${openssl_wall:-}" ]; then
  printf '%-28s %8s s %8s MiB/s %7s MiB\n' "openssl cms -verify" "$openssl_wall" "$(rate "$openssl_wall")" "$((openssl_rss / 1024))"
fi
awk -v v="$verify_rate" -v g="$go_sha" -v s="$sha_rate" 'BEGIN {
  printf "ratio verify/GoSHA256:  %.2f (target >= 0.80)\n", v / g
  printf "ratio verify/sha256sum: %.2f\n", v / s }'
ok=1
[ "$sign_rss" -lt 65536 ] || { echo "FAIL: sign max RSS ${sign_rss} KiB >= 64 MiB"; ok=0; }
[ "$verify_rss" -lt 65536 ] || { echo "FAIL: verify max RSS ${verify_rss} KiB >= 64 MiB"; ok=0; }
awk -v v="$verify_rate" -v g="$go_sha" 'BEGIN { exit !(v / g >= 0.8) }' ||
  { echo "FAIL: verify below 80 % of Go SHA-256"; ok=0; }
[ "$ok" = 1 ] && echo "PASS: RSS under 64 MiB, verify >= 80 % of Go SHA-256"
[ "$ok" = 1 ]
