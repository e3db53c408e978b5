#!/usr/bin/env bash
# stage2-image.sh builds a stage2 image (a whole-disk image: an MBR partition table and
# one ext4 root file system at 1 MiB) with Debian tools (e2fsprogs, fdisk), no root and
# no loop devices needed:
#
#   stage2-image.sh [--root DIR] [--size MiB] OUT.img
#
# --root DIR is the root file system to put in it, e.g. one made with
# `debootstrap --variant=minbase bookworm DIR` plus your OS's packages. Without --root
# it writes a tiny placeholder root (passwd, shadow, hostname, motd) that is enough to
# watch podboot verify, install and configure it, not to boot it afterwards.
# Sign the result with `podboot image sign` and push it with `podboot image push`.
set -euo pipefail

root= size= out=
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "stage2-image.sh: unknown flag $1 (see --help)" >&2; exit 2 ;;
    *) [ -z "$out" ] || { echo "stage2-image.sh: one OUT.img only (see --help)" >&2; exit 2; }; out=$1; shift ;;
  esac
done
[ -n "$out" ] || { echo "usage: stage2-image.sh [--root DIR] [--size MiB] OUT.img" >&2; exit 2; }
for tool in mkfs.ext4 sfdisk truncate dd; do
  command -v "$tool" >/dev/null || PATH=$PATH:/usr/sbin:/sbin
  command -v "$tool" >/dev/null || { echo "stage2-image.sh: $tool is missing: apt-get install e2fsprogs fdisk coreutils" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -z "$root" ]; then
  root=$work/root
  mkdir -p "$root/etc" "$root/root"
  chmod 0700 "$root/root"
  echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
  echo 'root:*:19000:0:99999:7:::' >"$root/etc/shadow"
  echo 'stage2-template' >"$root/etc/hostname"
  echo 'installed by podboot from a signed stage2 image' >"$root/etc/motd"
fi
[ -d "$root" ] || { echo "stage2-image.sh: --root $root is not a directory" >&2; exit 1; }
if [ -z "$size" ]; then
  # the root's size plus a third and 8 MiB for ext4's own structures
  used=$(du -sm "$root" | cut -f1)
  size=$((used + used / 3 + 8))
fi

# The file system first (mkfs.ext4 -d copies the tree in; root_owner keeps / root's),
# then the disk: 1 MiB for the partition table, the file system, and nothing after.
truncate -s "${size}M" "$work/rootfs.img"
mkfs.ext4 -q -F -L root -E root_owner=0:0 -d "$root" "$work/rootfs.img"
truncate -s $((size + 1))M "$out"
echo 'start=2048, type=83' | sfdisk -q --label dos "$out"
dd if="$work/rootfs.img" of="$out" bs=1M seek=1 conv=notrunc status=none
echo "stage2 image $out: $((size + 1)) MiB, ext4 root at 1 MiB ($(sha256sum "$out" | cut -d' ' -f1))"
