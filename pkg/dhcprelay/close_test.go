package dhcprelay

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// TestCloseWithoutServe: Close releases the port New bound, twice is no error, and a
// Serve after it refuses to start.
func TestCloseWithoutServe(t *testing.T) {
	e := newTestEnv(t)
	s, err := New(Config{Addr: "127.0.0.1:0"}, e.mgr, nil, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr().String()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	requireUDPFree(t, addr)
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.Serve(context.Background()); err == nil {
		t.Error("Serve after Close returned nil, want an error")
	}
}

// TestCloseStopsServe: Close while Serve runs (it has answered a DISCOVER) makes Serve
// return and releases the port.
func TestCloseStopsServe(t *testing.T) {
	e := newTestEnv(t)
	e.pod(loopbackPod("lo", "127.0.0.2"))
	s, err := New(Config{Addr: "127.0.0.1:0"}, e.mgr, nil, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr().String()
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background()) }()
	relay := newFakeRelay(t, "127.0.0.2")
	relay.send(t, s.Addr(), newPkt(t, dhcpv4.MessageTypeDiscover, "52:54:00:01:00:01"))
	if offer := relay.recv(t, 5*time.Second); offer == nil {
		t.Fatal("no offer: Serve is not answering")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return within 10s of Close")
	}
	requireUDPFree(t, addr)
}

func requireUDPFree(t *testing.T, addr string) {
	t.Helper()
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("%s still bound: %v", addr, err)
	}
	c.Close()
}
