#!/usr/bin/env bash
# stage1 benchmark (issue 14): builds stage1 from Debian's generic kernel with the full
# driver set and reports kernel + initrd size (target <= 32 MiB), then boots it in QEMU
# TCG (1 vCPU, no KVM) once per device set and reports how long the agent took to load
# the drivers by modalias (target < 3 s; the agent logs "drivers loaded by modalias ...
# took=", from opening the alias table until the last module loaded and the last driver
# bound, with a breakdown).
# The guests boot the kernel directly (-kernel/-initrd) with a user-mode NIC restricted
# to the guest (restrict=on): the agent gets a DHCP lease from QEMU, finds no podboot at
# 192.0.2.9 (unreachable by design) and powers off. No traffic leaves the VM.
# Usage: [ROUNDS=n] [KEEP=1] [APPEND=kernel-args] [PODBOOT_E2E_CACHE=dir] bench/stage1/run.sh [SET...]
# KEEP=1 keeps the build and the guest consoles; APPEND adds kernel arguments (e.g. initcall_debug).
# Sets: e1000e-ahci e1000-nvme vmxnet3-megasas virtio-scsi (igb when this QEMU has it).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ROUNDS=${ROUNDS:-1}
CACHE=${PODBOOT_E2E_CACHE:-${TMPDIR:-/tmp}/podboot-e2e-cache}
WORK=$(mktemp -d /tmp/podboot-bench-stage1.XXXXXX)
if [ -n "${KEEP:-}" ]; then echo "guest logs kept in $WORK"; else trap 'rm -rf "$WORK"' EXIT; fi

cd "$ROOT"
go build -o "$WORK/podboot" ./cmd/podboot
"$WORK/podboot" ca init --dir "$WORK/pki" --key-type ecdsa >/dev/null
"$WORK/podboot" stage1 build --root-ca "$WORK/pki/ca.pem" --out "$WORK/stage1" --kernel-cache "$CACHE" >"$WORK/build.txt" 2>"$WORK/build.err" ||
  { cat "$WORK/build.err"; exit 1; }
k=$(stat -c %s "$WORK/stage1/vmlinuz"); i=$(stat -c %s "$WORK/stage1/initrd.img")
mods=$(grep -c '^module ' "$WORK/build.txt")
printf 'kernel %d bytes, initrd %d bytes, total %.1f MiB (target <= 32 MiB), %d requested modules, %s\n' \
  "$k" "$i" "$(echo "($k+$i)/1048576" | bc -l)" "$mods" "$(grep -c packed "$WORK/build.txt") packed"

declare -A SETS=(
  [e1000e-ahci]="-device e1000e,netdev=n0 -device ich9-ahci,id=sata1 -drive file=DISK,format=raw,if=none,id=d0 -device ide-hd,drive=d0,bus=sata1.0"
  [e1000-nvme]="-device e1000,netdev=n0 -drive file=DISK,format=raw,if=none,id=d0 -device nvme,serial=bench0,drive=d0"
  [vmxnet3-megasas]="-device vmxnet3,netdev=n0 -device megasas,id=hba0 -drive file=DISK,format=raw,if=none,id=d0 -device scsi-hd,drive=d0,bus=hba0.0"
  [virtio-scsi]="-device virtio-net-pci,netdev=n0 -device virtio-scsi-pci,id=hba0 -drive file=DISK,format=raw,if=none,id=d0 -device scsi-hd,drive=d0,bus=hba0.0"
  [igb-virtio-blk]="-device igb,netdev=n0 -drive file=DISK,format=raw,if=virtio"
)
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(e1000e-ahci e1000-nvme vmxnet3-megasas virtio-scsi igb-virtio-blk)
truncate -s 64M "$WORK/disk.img"
echo "load before: $(uptime)"
printf '%-18s %-6s %-8s %s\n' set round took "(modules; slowest finit_module calls; kernel modprobe requests)"
for set in "${names[@]}"; do
  dev=${SETS[$set]:?unknown set $set}
  model=${dev#-device }; model=${model%%,*}
  if ! qemu-system-x86_64 -device help 2>/dev/null | grep -q "name \"$model\""; then
    printf '%-18s %-6s %s\n' "$set" - "this QEMU has no $model device"; continue
  fi
  for r in $(seq "$ROUNDS"); do
    # shellcheck disable=SC2086
    timeout 300 qemu-system-x86_64 -accel tcg -machine q35 -m 512 -smp 1 -nographic -no-reboot -vga none \
      -kernel "$WORK/stage1/vmlinuz" -initrd "$WORK/stage1/initrd.img" \
      -append "console=ttyS0 panic=-1 loglevel=4 podboot.server=https://192.0.2.9:8443 podboot.mac=52:54:00:12:34:56 podboot.token=pbh_bench ${APPEND:-}" \
      -netdev user,id=n0,restrict=on ${dev//DISK/$WORK/disk.img} -device virtio-rng-pci >"$WORK/$set-$r.log" 2>&1 || true
    line=$(tr -d '\r' <"$WORK/$set-$r.log" | grep -m1 'drivers loaded by modalias' || true)
    field() { sed -n "s/.* $1=\\(\"[^\"]*\"\\|[^ ]*\\).*/\\1/p" <<<"$line" | tr -d '"'; }
    n=$(field modules | tr ',' '\n' | grep -c . || true)
    printf '%-18s %-6s %-8s (%s modules; %s; requests: %s)\n' "$set" "$r" "$(field took)" "$n" "$(field slowest)" "$(field kernel_requests)"
    [ -n "$line" ] || printf '%-18s %-6s no agent line\n' "$set" "$r"
  done
done
echo "load after: $(uptime)"
