//go:build blobbench

package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
)

// TestBlobReplicationBench times `image add` of one file through the real CLI: one serve
// on bbolt, and 3 replicas on a 3-member etcd with minCopies 2 and 3, in one run, and
// prints the medians and their ratio to bbolt. Run it with
//
//	go test -tags blobbench -count=1 -v -run TestBlobReplicationBench ./cmd/podboot/
//
// (MiB and rounds: BLOB_MIB, default 256; 3 rounds each).
func TestBlobReplicationBench(t *testing.T) {
	mib := envInt("BLOB_MIB", 256)
	bin := testutil.BuildPodboot(t)
	files := t.TempDir()
	file := writeFile(t, files, "blob.bin", string(randomBytes(t, mib<<20)))
	const rounds = 3
	timeAdds := func(cli *testutil.CLI, label string) time.Duration {
		var took []time.Duration
		for i := range rounds {
			start := time.Now()
			cli.MustRun(t, "image", "add", fmt.Sprintf("%s-%d:1", label, i), file, "--kind", "kernel")
			took = append(took, time.Since(start))
			// Other content next round: the same bytes would be deduplicated.
			file = writeFile(t, files, "blob.bin", string(randomBytes(t, mib<<20)))
		}
		slices.Sort(took)
		t.Logf("%s: image add of %d MiB, %d rounds: %v (median %v)", label, mib, rounds, took, took[rounds/2])
		return took[rounds/2]
	}

	solo := testutil.StartServe(t, bin, t.TempDir())
	base := timeAdds(testutil.NewCLI(t, bin, solo), "bbolt-1-replica")
	_ = solo.Stop(t)

	etcd := testutil.StartEtcd(t, 3)
	results := map[int]time.Duration{}
	for _, copies := range []int{2, 3} {
		cfg := writeFile(t, files, "podboot.yaml", fmt.Sprintf("artifacts:\n  minCopies: %d\n", copies))
		flags := []string{"--store", "etcd", "--etcd-endpoints", strings.Join(etcd.Endpoints(), ","), "--etcd-prefix", fmt.Sprintf("/bench%d/", copies), "--config", cfg}
		var serves []*testutil.Serve
		for _, name := range []string{"a", "b", "c"} {
			serves = append(serves, testutil.StartServe(t, bin, t.TempDir(), append(flags, "--replica-name", name)...))
		}
		cli := testutil.NewCLI(t, bin, serves[0])
		results[copies] = timeAdds(cli, fmt.Sprintf("etcd-3-replicas-minCopies-%d", copies))
		for _, s := range serves {
			_ = s.Stop(t)
		}
	}
	fmt.Printf("image add %d MiB (median of %d): bbolt 1 replica %v; etcd 3 replicas minCopies 2 %v (%.2fx); minCopies 3 %v (%.2fx)\n",
		mib, rounds, base.Round(time.Millisecond), results[2].Round(time.Millisecond), float64(results[2])/float64(base),
		results[3].Round(time.Millisecond), float64(results[3])/float64(base))
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
