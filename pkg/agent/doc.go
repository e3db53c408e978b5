// Package agent is podboot's stage1 agent: the program that runs as /init of the
// stage1 initrd on a server being provisioned.
//
// It exists so that the step that matters most — deciding whether an OS image may be
// written to a server — happens on the server itself, against a root CA baked into an
// initrd the operator built, and not on the provisioning server or the network in
// between. The agent therefore trusts nothing it is sent: HTTPS is verified against the
// pinned root, the stage2 signature is verified against the same pinned root while the
// image streams to disk, and a bad signature wipes the start of the disk so nothing
// half-written can boot.
//
// The steps (SPEC sections 2 and 5): mount the kernel file systems, load the drivers
// the hardware needs by modalias (a diagnosis per PCI NIC and storage controller when none
// comes up), bring up the first NIC with carrier by DHCP (relayed like
// any other request), fetch the chain-load descriptor, stream and verify stage2 (resuming
// with Range after an interruption), re-read the partition table and mount the root file
// system, fetch and apply the kickstart and bash package, unmount, sync, call back
// "installed", and reboot or power off. Each step is reported to podboot as a host event.
package agent
