package podmgr

// SecureBoot is how a profile's hosts boot under UEFI Secure Boot (docs/secure-boot.md).
type SecureBoot string

const (
	// SecureBootOff boots the profile's own EFI loader (iPXE by default), unsigned.
	SecureBootOff SecureBoot = ""
	// SecureBootDistro boots the distribution-signed chain over TFTP: shim (signed by
	// Microsoft's UEFI CA), grub (signed by the distribution, verified by shim), and the
	// distribution-signed kernel (verified by grub through shim). The initrd is not
	// authenticated.
	SecureBootDistro SecureBoot = "distro"
	// SecureBootFull boots the profile's UKI: kernel, initrd and command line in one PE
	// signed by the operator's Secure Boot key, which the firmware verifies as a whole.
	SecureBootFull SecureBoot = "full"
)

// File names of the Secure Boot distro chain. shim fetches grubx64.efi from the
// directory of its own DHCP boot file; grubnetx64 always reads grub/grub.cfg (its
// compiled prefix is /grub) and chains to the per-host POD/MAC/grub.cfg.
const (
	ShimName         = "shimx64.efi"
	GrubName         = "grubx64.efi"
	GrubConfigName   = "grub.cfg"
	GlobalGrubConfig = "grub/grub.cfg"
)
