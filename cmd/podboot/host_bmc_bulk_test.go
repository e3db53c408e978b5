//go:build bmcbulk

package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
)

// TestHostBMCBulkPowerCycle is the bulk measurement of docs/bmc.md: N ipmi_sim BMCs
// (PODBOOT_BMC_BULK=N, no VMs), one host each in one pod, `host power cycle --pod`
// with --parallel 16. Every host gets its own result line and every BMC sees its cycle.
// Built only with the bmcbulk tag (it starts N ipmi_sim processes): not in the default suite.
func TestHostBMCBulkPowerCycle(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("PODBOOT_BMC_BULK"))
	if n <= 0 {
		n = 200
	}
	admin, files := startWithPodB(t)
	sims := make([]*testutil.IPMISim, n)
	var csv strings.Builder
	csv.WriteString("mac,pod\n")
	for i := range n {
		sims[i] = testutil.StartIPMISim(t, "127.0.0.1", "password")
		sims[i].SetPower(true)
		fmt.Fprintf(&csv, "52:54:00:cc:%02x:%02x,pod-b\n", i/256, i%256)
	}
	admin.MustRun(t, "host", "import", "-f", writeFile(t, files, "bulk.csv", csv.String()))
	pw := writeFile(t, files, "pw", "password\n")
	for i := range n {
		admin.MustRun(t, "host", "bmc", "set", fmt.Sprintf("52:54:00:cc:%02x:%02x", i/256, i%256), "--driver", "ipmi",
			"--address", "127.0.0.1", "--port", strconv.Itoa(sims[i].Port), "--user", "admin", "--password-file", pw)
	}
	start := time.Now()
	out, errs, err := admin.Run(context.Background(), "host", "power", "cycle", "--pod", "pod-b", "--parallel", "16")
	took := time.Since(start)
	if err != nil {
		t.Fatalf("bulk cycle: %v\n%s%s", err, out, errs)
	}
	if lines := strings.Count(out, "power cycle sent"); lines != n {
		t.Fatalf("%d result lines, want %d:\n%s", lines, n, out)
	}
	if !strings.Contains(out, fmt.Sprintf("[%d/%d]", n, n)) {
		t.Fatalf("no final progress line [%d/%d]", n, n)
	}
	for i, s := range sims {
		testutil.WaitFor(t, 15*time.Second, fmt.Sprintf("BMC %d to cycle", i), func() bool {
			l := s.Log()
			return len(l) >= 2 && l[0] == "power_0" && l[1] == "power_1"
		})
	}
	t.Logf("bulk power cycle of %d IPMI BMCs, --parallel 16: %v (%.1f BMCs/s)", n, took.Round(time.Millisecond), float64(n)/took.Seconds())
}
