package agent

import (
	"fmt"
	"os"
	"strings"

	"github.com/podboot/podboot/pkg/agent/kmod"
)

// Modprobe answers the kernel's usermode helper (request_module runs /sbin/modprobe,
// which the initrd links to the agent): "modprobe -q -- NAME" loads NAME, a module or
// an alias, with its dependencies. mlx4_core asks for mlx4_en this way, which has no
// modalias of its own. It returns the exit status.
func Modprobe(args []string) int {
	name := ""
	for _, a := range args {
		if a != "--" && !strings.HasPrefix(a, "-") {
			name = a
			break
		}
	}
	if name == "" {
		return 1
	}
	l, err := kmod.OpenLoader(ModulesDir)
	if err != nil {
		return 1
	}
	if err := l.Load(name); err != nil {
		if !strings.Contains(err.Error(), "not in this initrd") {
			// The console, as the kernel gives the helper no other output.
			if f, err2 := os.OpenFile("/dev/console", os.O_WRONLY, 0); err2 == nil {
				fmt.Fprintf(f, "podboot-agent modprobe %s: %v\n", name, err)
				f.Close()
			}
		}
		return 1
	}
	return 0
}
