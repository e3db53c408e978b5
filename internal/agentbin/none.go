//go:build !podboot_agent

package agentbin

// Static returns nil: this podboot was built without the podboot_agent tag (`go build`
// rather than `make build`), so it carries no agent.
func Static() []byte { return nil }
