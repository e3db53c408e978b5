// Command poweroff is the /init of the tiny stage1 initrd of the QEMU boot test: it
// proves the kernel and initrd podboot served were run, then powers the VM off so that
// QEMU (started with -no-reboot) exits by itself.
package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func main() {
	fmt.Fprintln(os.Stdout, "podboot-e2e: stage1 init is running; powering off")
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		fmt.Fprintln(os.Stdout, "podboot-e2e: power off failed:", err)
	}
	select {}
}
