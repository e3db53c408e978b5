package connlimit

import (
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
)

// TestListener: connections over the per-source or the total cap are closed at accept
// and reported by cap; closing one frees its slot.
func TestListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := make(chan string, 16)
	lim := New(ln, 2, 3, func(c string, _ netip.Addr) { refused <- c })
	defer lim.Close()
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := lim.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func(src string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// closedByServer tells whether the server closed c (a refused connection reads EOF).
	closedByServer := func(c net.Conn) bool {
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		return err == io.EOF || (err != nil && !isTimeout(err))
	}
	tests := []struct {
		src     string
		refused string // the cap reported, "" when accepted
	}{
		{"127.0.0.1", ""},
		{"127.0.0.1", ""},
		{"127.0.0.1", CapPerSource},
		{"127.0.0.2", ""},
		{"127.0.0.3", CapTotal},
	}
	var open []net.Conn
	for i, tt := range tests {
		c := dial(tt.src)
		defer c.Close()
		if got := closedByServer(c); got != (tt.refused != "") {
			t.Fatalf("connection %d from %s: refused=%v, want %q", i, tt.src, got, tt.refused)
		}
		if tt.refused == "" {
			open = append(open, <-accepted)
		} else if got := <-refused; got != tt.refused {
			t.Errorf("connection %d from %s: refused by cap %q, want %q", i, tt.src, got, tt.refused)
		}
	}
	open[0].Close()
	open[0].Close() // a second Close must not free a second slot
	testutil.WaitFor(t, 2*time.Second, "a freed slot", func() bool {
		c := dial("127.0.0.3")
		defer c.Close()
		return !closedByServer(c)
	})
	if c := dial("127.0.0.4"); !closedByServer(c) {
		t.Fatal("a double Close freed two slots")
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
