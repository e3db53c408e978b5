package provision

import (
	"context"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/agent"
	"github.com/podboot/podboot/pkg/agentproto"
	"github.com/podboot/podboot/pkg/etcdstore"
	"github.com/podboot/podboot/pkg/podmgr"
	"github.com/podboot/podboot/pkg/replica"
)

// replicaEnv is one replica: its Manager on the shared etcd store, its ownership, and
// its agent API.
type replicaEnv struct {
	*env
	own *replica.Ownership
}

// startReplicaEnv joins name to the replicas on etcd's prefix /fence/ and serves its
// agent API with the ownership set; seed adds pod-a (pinned to r1) and its host.
func startReplicaEnv(t *testing.T, etcd *testutil.EtcdCluster, name string, seed bool) *replicaEnv {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: etcd.Endpoints(), Prefix: "/fence/", RequestTimeout: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	mgr, err := podmgr.Open(ctx, st, log)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, mgr, seed)
	m, err := replica.Join(ctx, st.Client(), st.Prefix(), replica.Config{Name: name, TTL: 3 * time.Second, ConfirmDelay: 500 * time.Millisecond, Poll: 50 * time.Millisecond}, log)
	if err != nil {
		t.Fatalf("join %s: %v", name, err)
	}
	own, err := replica.NewOwnership(m, replica.Hooks{
		Pods: func() []replica.Pod {
			var out []replica.Pod
			for _, p := range mgr.Pods() {
				out = append(out, replica.Pod{Name: p.Name, Pin: p.Replica})
			}
			return out
		},
		Load: func(context.Context, string, int64) error { return nil },
	}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	e.svc.SetOwner(own)
	var wg sync.WaitGroup
	wg.Go(func() { m.Run(ctx) })   //nolint:errcheck // ends with ctx
	wg.Go(func() { own.Run(ctx) }) //nolint:errcheck
	t.Cleanup(func() { cancel(); wg.Wait(); st.Close() })
	return &replicaEnv{env: e, own: own}
}

// hostRecord is the host and its event count as stored.
func hostRecord(t *testing.T, e *env) (podmgr.Host, int) {
	t.Helper()
	var h podmgr.Host
	err := e.mgr.Store().View(context.Background(), func(tx podmgr.ReadTx) error {
		var err error
		h, _, err = tx.Host(mac)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := e.mgr.HostEvents(context.Background(), mac)
	if err != nil {
		t.Fatal(err)
	}
	return h, len(evs)
}

// agentOf is an agent client of the host with the given servers, in order.
func agentOf(token string, servers ...*env) *agent.Client {
	pool := x509.NewCertPool()
	var urls []*url.URL
	for _, e := range servers {
		pool.AddCert(e.srv.Certificate())
		u, _ := url.Parse(e.srv.URL)
		urls = append(urls, u)
	}
	return agent.NewClient(agent.Params{Server: urls[0], Fallback: urls[1:], MAC: mac, Token: token}, pool, slog.New(slog.DiscardHandler))
}

// TestOnlyThePodOwnerWrites runs two replicas on one etcd: r1 owns pod-a (pinned).
// r2 issues no token and takes no agent write for its host (503 naming the owner,
// nothing written); r1 does; an agent that starts at r2 moves on to r1; and a write
// whose owner key changes between its read and its commit writes nothing.
func TestOnlyThePodOwnerWrites(t *testing.T) {
	etcd := testutil.StartEtcd(t, 1)
	r1 := startReplicaEnv(t, etcd, "r1", true)
	r2 := startReplicaEnv(t, etcd, "r2", false)
	ctx := context.Background()
	testutil.WaitFor(t, 20*time.Second, "r1 owns pod-a and r2 sees it", func() bool {
		_, ok := r2.mgr.Registry().Host(mac)
		return ok && r1.own.Owns("pod-a") && r2.own.OwnerOf("pod-a") == "r1"
	})
	h, _ := r2.mgr.Registry().Host(mac)
	_, added := hostRecord(t, r1.env) // the host's registration

	// The iPXE script's token: only the owner issues it.
	if _, err := r2.svc.HostToken(ctx, h, podmgr.HostStep{Action: "http.script"}); !strings.Contains(errString(err), "replica r2 does not own pod pod-a; owner is r1") {
		t.Fatalf("token from the non-owner: %v", err)
	}
	if got, n := hostRecord(t, r1.env); got.TokenHash != "" || n != added {
		t.Fatalf("the non-owner wrote: token %q, %d events", got.TokenHash, n)
	}
	tok, err := r1.svc.HostToken(ctx, h, podmgr.HostStep{})
	if err != nil {
		t.Fatalf("token from the owner: %v", err)
	}
	testutil.WaitFor(t, 10*time.Second, "r2's registry has the token", func() bool {
		h, _ := r2.mgr.Registry().Host(mac)
		return h.TokenHash != ""
	})
	_, before := hostRecord(t, r1.env)

	// The agent API of the non-owner: 503, Retry-After, the owner's name; nothing written.
	for _, tc := range []struct{ method, path, body string }{
		{"GET", agentproto.ChainloadPath, ""},
		{"POST", agentproto.EventsPath, `{"action":"booted"}`},
		{"POST", agentproto.InstalledPath, `{"disk":"/dev/vda"}`},
		{"POST", agentproto.FailedPath, `{"step":"disk","reason":"test"}`},
		{"POST", agentproto.InventoryPath, `{}`},
	} {
		code, retry, body := agentRequest(t, r2.env, tok, tc.method, tc.path, tc.body)
		if code != http.StatusServiceUnavailable || retry != RetryAfterNotOwner || !strings.Contains(body, "replica r2 does not own pod pod-a; owner is r1") {
			t.Errorf("%s %s at the non-owner: %d, Retry-After %q, %q", tc.method, tc.path, code, retry, body)
		}
	}
	if got, n := hostRecord(t, r1.env); n != before || got.TokenHash == "" || got.State != podmgr.StateRegistered {
		t.Fatalf("the non-owner wrote: %d events (had %d), token %q, state %s", n, before, got.TokenHash, got.State)
	}

	// An agent that starts at the non-owner moves on to the owner, which writes.
	if err := agentOf(tok, r2.env, r1.env).Post(ctx, agentproto.EventsPath, agentproto.Event{Action: agentproto.ActionBooted}); err != nil {
		t.Fatalf("event through failover: %v", err)
	}
	if got, n := hostRecord(t, r1.env); n != before+1 || got.State != podmgr.StateBooting {
		t.Fatalf("the owner's write: %d events (had %d), state %s", n, before, got.State)
	}
	_, before = hostRecord(t, r1.env)

	// The owner key moves between the fence's read and the commit: the commit fails,
	// runs again, sees the new owner, writes nothing and answers 503.
	moved := &movingOwner{Ownership: r1.own, move: func() {
		rec := `{"replica":"r2","lease":0}` // no live session: nobody claims or releases it
		if _, err := etcd.Client().Put(ctx, replica.OwnerKey("/fence/", "pod-a"), rec); err != nil {
			t.Error(err)
		}
	}}
	racing := newEnvWith(t, r1.mgr, false)
	racing.svc.SetOwner(moved)
	err = agentOf(tok, racing).Post(ctx, agentproto.EventsPath, agentproto.Event{Action: agentproto.ActionVerified})
	if status(err) != http.StatusServiceUnavailable || !strings.Contains(err.Error(), "does not own pod pod-a") || moved.fences < 2 {
		t.Fatalf("write whose owner moved: %v (fence read %d times)", err, moved.fences)
	}
	if got, n := hostRecord(t, r1.env); n != before || got.State != podmgr.StateBooting {
		t.Fatalf("the fenced write wrote: %d events (had %d), state %s", n, before, got.State)
	}
}

// movingOwner is an owner whose key moves (move) right after the first fence read of
// a write, before its commit: the race the fence's compare closes.
type movingOwner struct {
	*replica.Ownership
	move   func()
	fences int
}

func (o *movingOwner) Fence(tx podmgr.ReadTx, pod string) (bool, error) {
	ok, err := o.Ownership.Fence(tx, pod)
	if o.fences++; o.fences == 1 {
		o.move()
	}
	return ok, err
}

// agentRequest sends the host's agent request to e: status, Retry-After, body.
func agentRequest(t *testing.T, e *env, token, method, path, body string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+agentproto.Prefix+"hosts/"+mac+"/"+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
