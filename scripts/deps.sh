#!/usr/bin/env bash
# Installs the Debian packages the test suite and the benchmarks drive (real clients and
# peers). Idempotent: installs only what is missing. Needs root; without root it says what
# is missing and exits non-zero.
set -euo pipefail

# One package a line; the command it provides follows as a comment.
packages=(
  iproute2          # ip netns, veth, bridges
  isc-dhcp-relay    # dhcrelay: the ToR switch's DHCP relay
  isc-dhcp-client   # dhclient
  udhcpc            # busybox DHCP client that sends options 60/77/93
  atftp             # TFTP client with blksize/tsize
  curl              # TFTP and HTTP client
  nftables          # nft: a ToR's NAT (test/adversarial/boot_test.go)
  openssl           # CMS interop
  qemu-system-x86   # boots under TCG
  ipxe-qemu         # real iPXE ROMs for QEMU
  ipxe              # undionly.kpxe, ipxe.efi
  ovmf              # UEFI firmware for QEMU: UEFI HTTP Boot, Secure Boot (test/e2e)
  isolinux          # isolinux.bin: BIOS loader of the per-host stage1 ISO (pkg/stage1iso)
  syslinux-common   # ldlinux.c32, which isolinux.bin loads
  systemd-boot-efi  # systemd-bootx64.efi: UEFI loader of the stage1 ISO
  shim-signed       # shimx64.efi signed by Microsoft's UEFI CA (Secure Boot distro chain)
  grub-efi-amd64-signed # grubnetx64.efi signed by Debian (Secure Boot distro chain)
  sbsigntool        # sbsign: signs the Secure Boot full-chain UKI; sbattach: the negative tests
  systemd-boot-efi  # linuxx64.efi.stub: the UKI stub (podboot stage1 uki)
  e2fsprogs         # mkfs.ext4 -d, debugfs
  fdisk             # sfdisk: scripts/stage2-image.sh's partition table
  cpio
  xz-utils          # xz: stage1 build decompresses .ko.xz modules (Debian 13 kernels)
  zstd              # zstd: the same for .ko.zst
  time              # /usr/bin/time -v for RSS
  procps
  kea-admin         # perfdhcp: DHCP load through the relays (test/ha)
  tcpdump           # testdata/dhcp-relayed.pcap (PODBOOT_TEST_PCAP=FILE go test -run TestReadmeQuickStart ./test/docs)
  iputils-ping      # ping: the emulated WAN link's own test (internal/testutil)
  openipmi          # ipmi_sim: the IPMI BMC in tests (pkg/bmc)
  ipmitool          # reads back what podboot set over IPMI (interop)
  chromium          # headless browser driving the web dashboard's tests (DevTools protocol)
  prometheus        # scrapes podboot's HTTP service discovery in its test
  lldpd             # the ToR switch's LLDP in the hardware e2e (the neighbour in the inventory)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install -y ${missing[*]})" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
