package testutil

import (
	"context"
	"testing"
	"time"
)

// TestEtcdClusterSurvivesMemberRestart starts 3 members, stops one, writes with two,
// restarts it and reads the write back through every endpoint.
func TestEtcdClusterSurvivesMemberRestart(t *testing.T) {
	c := StartEtcd(t, 3)
	cli := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c.Stop(1)
	if _, err := cli.Put(ctx, "k", "v"); err != nil {
		t.Fatalf("put with one member down: %v", err)
	}
	c.Restart(1)
	for _, ep := range c.Endpoints() {
		cli.SetEndpoints(ep)
		WaitFor(t, 10*time.Second, "member "+ep+" to serve the write", func() bool {
			r, err := cli.Get(ctx, "k")
			return err == nil && len(r.Kvs) == 1 && string(r.Kvs[0].Value) == "v"
		})
	}
}
