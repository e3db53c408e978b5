package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/fleet"
	"github.com/podboot/podboot/pkg/podmgr"
)

// provision is the host events of one attempt, as the services record them.
var provision = []struct {
	action string
	state  podmgr.HostState
}{
	{"dhcp.offer", podmgr.StateOffered}, {"tftp.sent", ""}, {"dhcp.offer", podmgr.StateOffered},
	{"http.script", podmgr.StateBooting}, {"http.sent", podmgr.StateBooting}, {"http.sent", podmgr.StateBooting},
	{"agent.booted", podmgr.StateBooting}, {"agent.verified", podmgr.StateVerified},
	{"kickstart.served", podmgr.StateInstalling}, {"installed", podmgr.StateProvisioned},
}

// podMix is how many of a pod's hosts installed, failed and are still going in the last
// day, and installed two days ago (outside pod status's day).
type podMix struct{ installed, failed, going, old int }

// seedPodEvents writes the pods and their hosts' events into a new store at db, as a
// restore would, with the pods' events interleaved in the sequence.
func seedPodEvents(t *testing.T, db string, mixes map[string]podMix) int {
	t.Helper()
	st, err := podmgr.OpenBolt(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	type attempt struct {
		pod, mac string
		start    time.Time
		steps    int // events of provision; failed: then agent.failed
		failed   bool
	}
	var attempts []attempt
	n := 0
	for pod, m := range mixes {
		for i := range m.installed + m.failed + m.going + m.old {
			a := attempt{pod: pod, mac: fmt.Sprintf("52:54:00:%02x:%02x:%02x", n>>16, n>>8&0xff, n&0xff), start: now.Add(-20 * time.Hour).Add(time.Duration(n) * time.Minute), steps: len(provision)}
			switch {
			case i < m.failed:
				a.steps, a.failed = 7, true
			case i < m.failed+m.going:
				a.steps = 6
			case i < m.failed+m.going+m.old:
				a.start = now.Add(-48 * time.Hour)
			}
			attempts = append(attempts, a)
			n++
		}
	}
	events := 0
	err = st.Update(context.Background(), func(tx podmgr.Tx) error {
		if err := tx.PutProfile(podmgr.Profile{Name: "default"}); err != nil {
			return err
		}
		for i, pod := range []string{"pod-a", "pod-b", "pod-c"} {
			p := podmgr.Pod{Name: pod, Match: []podmgr.MatchRule{{Giaddr: fmt.Sprintf("192.0.2.%d", i+1)}}, Profile: "default",
				Subnets: []podmgr.Subnet{{CIDR: "192.0.2.0/24", Gateway: "192.0.2.1"}}, ServerAddress: "198.51.100.10"}
			if err := tx.PutPod(p); err != nil {
				return err
			}
		}
		for _, a := range attempts {
			if err := tx.PutHost(podmgr.Host{MAC: a.mac, Pod: a.pod, State: podmgr.StateRegistered, Netboot: true}); err != nil {
				return err
			}
		}
		// Step by step across all attempts: each pod's events are spread over the sequence.
		for step := range len(provision) + 1 {
			for _, a := range attempts {
				e := podmgr.Event{Kind: podmgr.KindHost, Pod: a.pod, MAC: a.mac, Time: a.start.Add(time.Duration(step) * time.Second)}
				switch {
				case step < a.steps:
					e.Action, e.State = provision[step].action, provision[step].state
				case step == a.steps && a.failed:
					e.Action, e.State, e.Detail = "agent.failed", podmgr.StateFailed, "no disk"
				default:
					continue
				}
				if _, err := tx.AppendEvent(e); err != nil {
					return err
				}
				events++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return events
}

// TestPodStatusThroughPodIndex: `pod status POD` through the real binary counts each
// pod's provisions of the last day right when the store holds several pods' events,
// more than a read by pod walks in sequence order, so it goes through the pod index.
// The store is written without the index, as a podboot before it left it: serve builds
// the index on open.
func TestPodStatusThroughPodIndex(t *testing.T) {
	bin := testutil.BuildPodboot(t)
	dataDir := t.TempDir()
	db := filepath.Join(dataDir, "podboot.db")
	mixes := map[string]podMix{
		"pod-a": {installed: 40, failed: 7, going: 3, old: 20},
		"pod-b": {installed: 25, failed: 12, going: 0, old: 5},
		"pod-c": {installed: 3, failed: 0, going: 9, old: 0},
	}
	if n := seedPodEvents(t, db, mixes); n <= podmgr.SeqWalkMax {
		t.Fatalf("%d events: too few to read through the pod index", n)
	}
	// The pod index's bucket and mark (pkg/podmgr/podevents.go) gone: an older store.
	bdb, err := bolt.Open(db, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bdb.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket([]byte("meta")).Delete([]byte("host-events-by-pod-seq")); err != nil {
			return err
		}
		return tx.DeleteBucket([]byte("host-events-by-pod"))
	}); err != nil {
		t.Fatal(err)
	}
	bdb.Close()

	srv := testutil.StartServe(t, bin, dataDir)
	cli := testutil.NewCLI(t, bin, srv)
	for pod, m := range mixes {
		var st fleet.PodStatus
		if err := json.Unmarshal([]byte(cli.MustRun(t, "pod", "status", pod, "-o", "json")), &st); err != nil {
			t.Fatalf("pod status %s: not JSON: %v", pod, err)
		}
		if st.ProvisionedDay != m.installed || st.FailedDay != m.failed || st.InProgress != m.going || st.Hosts != m.installed+m.failed+m.going+m.old {
			t.Errorf("%s: provisioned %d failed %d in progress %d of %d hosts; want %+v", pod, st.ProvisionedDay, st.FailedDay, st.InProgress, st.Hosts, m)
		}
		evs := listJSON[podmgr.Event](t, cli, "events", "--kind", "host", "--pod", pod)
		want := m.installed*len(provision) + m.failed*8 + m.going*6 + m.old*len(provision)
		if len(evs) != want {
			t.Errorf("events --pod %s: %d events, want %d", pod, len(evs), want)
		}
		for _, e := range evs {
			if e.Pod != pod {
				t.Fatalf("events --pod %s: %+v", pod, e)
			}
		}
	}
}
