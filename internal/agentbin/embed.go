//go:build podboot_agent

package agentbin

import _ "embed"

//go:embed podboot-agent
var static []byte

// Static returns the embedded static podboot-agent (linux/amd64).
func Static() []byte { return static }
