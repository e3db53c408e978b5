package agent

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/podboot/podboot/pkg/agent/kmod"
)

// modprobeLog is where each run of the modprobe helper appends "NAME RESULT TOOK": the
// kernel gives the helper no output, and each run is an exec of the agent, which under
// emulation costs a good part of a second; loadDrivers reports them.
const modprobeLog = "/run/podboot-modprobe.log"

// Modprobe answers the kernel's usermode helper (request_module runs /sbin/modprobe,
// which the initrd links to the agent): "modprobe -q -- NAME" loads NAME, a module or
// an alias, with its dependencies. mlx4_core asks for mlx4_en this way, which has no
// modalias of its own. It returns the exit status.
func Modprobe(args []string) int {
	start := time.Now()
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
	err := modprobe(name)
	result := "ok"
	if err != nil {
		result = "missing"
		if !strings.Contains(err.Error(), "not in this initrd") {
			result = "failed"
			// The console, as the kernel gives the helper no other output.
			if f, err2 := os.OpenFile("/dev/console", os.O_WRONLY, 0); err2 == nil {
				fmt.Fprintf(f, "podboot-agent modprobe %s: %v\n", name, err)
				f.Close()
			}
		}
	}
	if f, err2 := os.OpenFile(modprobeLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err2 == nil {
		fmt.Fprintf(f, "%s %s %s\n", name, result, time.Since(start).Round(time.Millisecond))
		f.Close()
	}
	if err != nil {
		return 1
	}
	return 0
}

func modprobe(name string) error {
	l, err := kmod.OpenLoader(ModulesDir)
	if err != nil {
		return err
	}
	return l.Load(name)
}

// modprobeRequests returns what the kernel asked the modprobe helper for so far, one
// "NAME RESULT TOOK" per request.
func modprobeRequests() []string {
	b, _ := os.ReadFile(modprobeLog)
	return strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(b)), " ", ":"))
}
