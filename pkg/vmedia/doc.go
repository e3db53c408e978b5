// Package vmedia publishes the per-host stage1 ISOs of the virtual-media path and serves
// them to the hosts' BMCs. An image is reachable only at its own URL, which carries a
// random secret bound to one host; the first BMC address that fetches it owns it (a BMC
// reads a virtual CD many times, in ranges, so "once" means one fetcher, not one
// request); and it stops working when the host's provisioning window closes or podboot
// withdraws it (after `installed`, or when the host is reprovisioned again).
package vmedia
