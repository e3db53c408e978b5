// Package e2e provisions real (virtual) machines end to end, the way an operator and a
// CI pipeline use podboot: podboot serve in a central namespace, ISC dhcrelay on a ToR
// across a routed WAN link, QEMU with Debian's iPXE firmware in the rack, Debian's generic
// kernel with the initrd from `podboot stage1 build`, and a signed stage2 image pushed
// with a CI token. The tests need root (namespaces, taps) and run in CI.
package e2e
