// Package storm is a boot-storm simulator: it plays N hosts across P pods against a
// real podboot, speaking the protocols the hosts and their relays speak — relayed DHCP
// (it is the relay: giaddr, option 82, from the site's own source address), TFTP of the
// bootloader, the iPXE script, kernel and initrd over HTTP, then the stage1 agent's
// HTTPS calls with the host's token, using the agent's own client, stage2 download and
// signature verification (pkg/agent) and kickstart parser — and times every stage.
//
// The fleet is generated (fleet.go), so the harness that registers it through the CLI
// and the simulator that boots it agree without a file between them. Pods are numbered
// alike, as sites often are (every rack 192.0.2.0/24 behind giaddr 192.0.2.1), and sit
// behind NAT (nat: true, replyTo: relaySource): the documentation ranges hold fewer
// addresses than a thousand hosts need, and a NAT'ed site is where a storm hurts most,
// since every host of a pod shares one source address and its per-source limits.
//
// bench/storm is the command and run.sh; the CI-sized storm is TestStorm.
package storm
