// Package pxe is podboot's boot service: the TFTP, HTTP and HTTPS endpoints that hand a
// booting server its bootloader, its per-host iPXE script, its stage1 kernel and initrd
// and its signed stage2 image, for every pod, from one process.
//
// Paths carry the pod and the MAC (podmgr.TFTPBootFile, podmgr.HTTPBootPath), so the
// service never guesses a host from a source address; it reads the pod, the host and
// its profile from the podmgr.Registry (memory, never the database) and the bytes from
// the content-addressed artifact store.
//
// Every request passes the same gate (resolve.go), in this order:
//
//  1. the path is exactly POD/MAC/FILE (no "..", no absolute path, no extra segments,
//     names from a strict alphabet); the file is never used as a file-system path:
//     artifacts are opened by digest through an os.Root;
//  2. the host exists and belongs to the pod named in the path;
//  3. unless the pod is NAT'ed, the request comes from the address leased or reserved
//     for that host;
//  4. netboot is on for the host (off: nothing over TFTP, a local-boot script over HTTP);
//  5. the file is one the pod has onboarded: referenced by the host's profile, the pod's
//     profile, a profile of another host of the pod, or the pod's Artifacts list
//     (selective onboarding). Anything else is "not found", whoever asks.
//
// Refusals all look the same to the client (TFTP "file not found", HTTP 404) so that
// probing reveals nothing; the reason is logged and counted per pod.
//
// The netboot gate is also why scripts are rendered per request: a host that was just
// provisioned gets `exit` on its next boot with no cache to invalidate.
//
// A script carries a provisioning token only when the token gate allows it
// (tokengate.go): a NAT pod has no source address to check, so its tokens are bound to
// the host's last relayed DHCP exchange instead — fresh, from the relay's address, once.
// TFTP transfers share their slots per source and per pod, and one whose first DATA is
// not acknowledged gives its slot back early (tftpslots.go): one source cannot take
// every pod's slots. A request that finds no slot is dropped without an answer rather
// than refused with an ERROR: a PXE ROM gives up on an ERROR but retransmits an
// unanswered request, so a boot storm beyond the slots waits instead of failing. The HTTP and HTTPS listeners cap their connections per
// source and in total (conncap.go), for the same reason.
package pxe
