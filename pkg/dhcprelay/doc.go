// Package dhcprelay is podboot's DHCPv4 service for relayed traffic: one central server
// answers for every pod across the WAN.
//
// A packet goes through three stages. The read loop (server.go) reads it and queues it
// in a bounded queue per relay (fairqueue.go), so one pod's boot storm is shed and
// counted instead of starving the other pods or growing goroutines. A fixed pool of
// workers runs the packet path (handler.go): parse and sanity checks (request.go), pod
// resolution by the registry's match rules (relayinfo.go), the host by MAC, the address
// (leases.go), the boot program (boot.go) and the reply (reply.go, marshal.go). Replies
// that bind a lease (ACK) go through the committer (commit.go), which writes many leases
// in one store transaction and only then sends their ACKs: a lease is durable before its
// ACK leaves. Everything else is answered at once. The sockets (socket.go) are the
// relays' one and, optionally, one bound to a local interface for hosts on the central
// node's own segment. The last relayed ACK of each MAC is kept in memory for the boot
// service, which binds NAT pods' provisioning tokens to it (exchange.go).
package dhcprelay
