//go:build stormbench

package storm

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
)

// TestStormBench is bench/storm/run.sh's storm, sized by the environment (run.sh
// documents the variables). It reports; it fails only when the harness does.
func TestStormBench(t *testing.T) {
	c := stormCase{
		hosts: envInt(t, "STORM_HOSTS", 1000), pods: envInt(t, "STORM_PODS", 100),
		stage2MiB: envInt(t, "STORM_STAGE2_MIB", 16), kernelMiB: envInt(t, "STORM_KERNEL_MIB", 8), initrdMiB: envInt(t, "STORM_INITRD_MIB", 4),
		ramp:        envDuration(t, "STORM_RAMP", 0),
		profile:     envDuration(t, "STORM_PROFILE", 10*time.Second),
		timeout:     envDuration(t, "STORM_TIMEOUT", 20*time.Minute),
		serveConfig: os.Getenv("STORM_SERVE_CONFIG"),
	}
	if rtt := envDuration(t, "STORM_RTT", 0); rtt > 0 || os.Getenv("STORM_LOSS") != "" {
		loss, err := strconv.ParseFloat(envStr("STORM_LOSS", "0"), 64)
		if err != nil {
			t.Fatalf("STORM_LOSS: %v", err)
		}
		c.wan = &testutil.WANConfig{Delay: rtt / 2, Loss: loss}
	}
	s := newStormSite(t, c)
	r := s.storm(c)
	var b strings.Builder
	b.WriteString(r.summary())
	if r.pprof != "" {
		b.WriteString("\npodboot CPU profile (the whole storm, in " + c.profile.String() + " slices):\n" + r.pprof)
	}
	if out := os.Getenv("STORM_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("\n%s", b.String())
}

func envStr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func envInt(t *testing.T, k string, def int) int {
	n, err := strconv.Atoi(envStr(k, strconv.Itoa(def)))
	if err != nil {
		t.Fatalf("%s: %v", k, err)
	}
	return n
}

func envDuration(t *testing.T, k string, def time.Duration) time.Duration {
	d, err := time.ParseDuration(envStr(k, def.String()))
	if err != nil {
		t.Fatalf("%s: %v", k, err)
	}
	return d
}
