// Package replica lets several `podboot serve` replicas share one etcd store and split
// the pods between them (docs/ha.md).
//
// Each replica holds an etcd lease (its session) and, bound to it, a member record
// PREFIX/members/NAME with the addresses it advertises. The record vanishes when the
// replica stops keeping the lease alive, so the members prefix lists the live replicas
// without any other bookkeeping. Pods are assigned by rendezvous hashing over the live
// members (owner.go); the owner holds PREFIX/owners/POD bound to its lease, and every
// lease write for the pod compares that key in its transaction (fence.go), so a replica
// that lost a pod cannot commit for it any more.
package replica
