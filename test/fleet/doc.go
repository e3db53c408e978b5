// Package fleet tests the fleet view through the real binary: pod status, host
// timeline, stage deadlines and pod check, with ISC dhcrelay relays (some misconfigured
// on purpose) and hosts driven the way their firmware and stage1 agent drive podboot.
package fleet
