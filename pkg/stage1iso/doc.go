// Package stage1iso builds the per-host stage1 ISO of the virtual-media path: a host
// whose BMC maps this image as a virtual CD boots stage1 with its own static
// provisioning address on the kernel command line, so it needs no DHCP server and no
// relay. The image is built in Go (ISO9660 and El Torito through go-diskfs, the EFI
// system partition as a FAT16 image inside it) and is bootable by BIOS (isolinux) and
// by UEFI (systemd-boot); the loaders are read from the Debian packages isolinux,
// syslinux-common and systemd-boot-efi.
package stage1iso
