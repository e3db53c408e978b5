// Package provision is the server side of the stage1 agent: per-host provisioning
// tokens, the agent API on the boot service's HTTPS listener (chain-load descriptor,
// stage2 with Range, signature, kickstart, bash package, events, the "installed" and
// "failed" call-backs) and the management routes that restart or watch provisioning.
//
// Why it is its own package: it is where the netboot gate meets the install. Every
// agent request carries the host's one-time token, and a token is only valid while the
// host's netboot is on, so turning netboot off (the "installed" call-back does it in
// the same transaction that consumes the token) closes the chain-load, stage2 and
// kickstart paths at once, and a replayed call-back finds nothing to consume.
package provision
