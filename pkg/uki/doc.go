// Package uki builds stage1 as a signed Unified Kernel Image for the Secure Boot full
// chain (docs/secure-boot.md): one PE made of systemd's EFI stub (Debian's
// systemd-boot-efi linuxx64.efi.stub) with the kernel, the initrd and the kernel command
// line as sections, signed with the operator's Secure Boot key. The firmware verifies
// the one signature over all of it, so the initrd, the agent and its pinned root CA are
// authenticated, which the distro chain cannot do.
//
// The sections are added with binutils' objcopy and the image is signed with
// sbsigntool's sbsign: both are Debian packages the build host already needs for the
// stub, and sbsign's Authenticode is what firmware vendors test against.
package uki
