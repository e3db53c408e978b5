// Command podboot-agent is podboot's stage1 agent: /init of the stage1 initrd. It is
// built static (CGO_ENABLED=0) and does everything itself; see package agent.
package main

import "github.com/podboot/podboot/pkg/agent"

func main() { agent.Main() }
