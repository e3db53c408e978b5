// Package ha tests podboot replicas sharing one etcd cluster through the real binary,
// real relays and real DHCP clients: ownership, failover, fencing (docs/ha.md).
package ha
