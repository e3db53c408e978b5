// Package e2e provisions real (virtual) machines end to end, the way an operator and a
// CI pipeline use podboot: podboot serve in a central namespace, ISC dhcrelay on a ToR
// across a routed WAN link, QEMU with Debian's iPXE firmware in the rack, Debian's generic
// kernel with the initrd from `podboot stage1 build`, and a signed stage2 image pushed
// with a CI token. Other hosts boot with Debian's OVMF: by UEFI HTTP Boot (no iPXE ROM,
// no TFTP: uefi_test.go), and under Secure Boot through the distribution-signed shim
// and grub (secureboot_test.go). wan_test.go puts the ToR behind an emulated WAN
// (TestWANBoot in CI; TestWANBench for bench/wan). ipmivm_test.go reprovisions a host
// whose BMC is OpenIPMI's ipmi_sim by an IPMI power cycle (TestBMCBench, bench/bmc,
// times the IPMI, Redfish and virtual-media paths). The tests need root (namespaces,
// taps) and run in CI; the package takes about 10 min (go test -timeout 30m).
package e2e
