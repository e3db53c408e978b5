// Command podboot-agent is podboot's stage1 agent: /init of the stage1 initrd. It is
// built static (CGO_ENABLED=0) and does everything itself; see package agent. Run as
// /sbin/modprobe (a link in the initrd) it answers the kernel's module requests.
package main

import (
	"os"
	"path/filepath"

	"github.com/podboot/podboot/pkg/agent"
)

func main() {
	if filepath.Base(os.Args[0]) == "modprobe" {
		os.Exit(agent.Modprobe(os.Args[1:]))
	}
	agent.Main()
}
