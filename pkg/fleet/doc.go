// Package fleet turns what podboot already records into answers an operator of many
// pods needs: each provision's timeline (which stage it reached, how long each took,
// where it stopped), per-pod health (hosts by state, provisions, failures by stage and
// reason, stage latency percentiles, relays that went quiet), stage deadlines that fail
// a host stuck in a stage, and a relay check that names the misconfigurations podboot
// can see from its side of the WAN. Timelines are computed from the stored host events,
// so every replica answers the same; relay observations are each replica's own.
package fleet
