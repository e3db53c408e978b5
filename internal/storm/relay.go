package storm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// Client kinds: what a host says about itself in each of its three DHCP exchanges.
type clientKind int

const (
	kindPXE   clientKind = iota // the NIC's PXE ROM (BIOS): vendor class PXEClient, arch 0
	kindIPXE                    // iPXE after it loaded: the same plus user class iPXE
	kindAgent                   // the stage1 agent: vendor class podboot-agent
)

// relay is a pod's DHCP relay: one UDP socket on the site's address, port 67, through
// which every host of the pod does its DORA. Replies come back to it (replyTo:
// relaySource) and are handed to the waiting exchange by transaction ID.
type relay struct {
	pod    *Pod
	server *net.UDPAddr
	conn   *net.UDPConn

	mu      sync.Mutex
	waiting map[uint32]chan *dhcpv4.DHCPv4
}

func newRelay(pod *Pod, server netip.Addr) (*relay, error) {
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(pod.Source, 67)))
	if err != nil {
		return nil, fmt.Errorf("relay socket for pod %s on %s:67: %w", pod.Name, pod.Source, err)
	}
	r := &relay{pod: pod, server: net.UDPAddrFromAddrPort(netip.AddrPortFrom(server, 67)), conn: conn, waiting: map[uint32]chan *dhcpv4.DHCPv4{}}
	go r.read()
	return r, nil
}

func (r *relay) close() { r.conn.Close() }

// read hands each reply to the exchange waiting for its transaction ID.
func (r *relay) read() {
	buf := make([]byte, 4096)
	for {
		n, err := r.conn.Read(buf)
		if err != nil {
			return
		}
		m, err := dhcpv4.FromBytes(buf[:n])
		if err != nil || m.OpCode != dhcpv4.OpcodeBootReply {
			continue
		}
		r.mu.Lock()
		ch := r.waiting[binaryXID(m.TransactionID)]
		r.mu.Unlock()
		if ch != nil {
			select {
			case ch <- m:
			default:
			}
		}
	}
}

func binaryXID(x dhcpv4.TransactionID) uint32 {
	return uint32(x[0])<<24 | uint32(x[1])<<16 | uint32(x[2])<<8 | uint32(x[3])
}

// lease is what a DORA got.
type lease struct {
	addr     netip.Addr
	bootFile string
	retries  int
}

// dhcpTries are the waits for a reply before each retransmission, as a PXE ROM's
// (4, 8, 16, 32 s; PXE spec).
var dhcpTries = []time.Duration{4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second}

// dora runs DISCOVER-OFFER-REQUEST-ACK for mac through the relay.
func (r *relay) dora(ctx context.Context, mac net.HardwareAddr, kind clientKind) (lease, error) {
	var l lease
	mods := r.modifiers(kind)
	disc, err := dhcpv4.NewDiscovery(mac, mods...)
	if err != nil {
		return l, fmt.Errorf("build DISCOVER: %w", err)
	}
	offer, n, err := r.exchange(ctx, disc, dhcpv4.MessageTypeOffer)
	l.retries += n
	if err != nil {
		return l, fmt.Errorf("DISCOVER: %w", err)
	}
	req, err := dhcpv4.NewRequestFromOffer(offer, mods...)
	if err != nil {
		return l, fmt.Errorf("build REQUEST: %w", err)
	}
	ack, n, err := r.exchange(ctx, req, dhcpv4.MessageTypeAck)
	l.retries += n
	if err != nil {
		return l, fmt.Errorf("REQUEST %s: %w", offer.YourIPAddr, err)
	}
	addr, ok := netip.AddrFromSlice(ack.YourIPAddr.To4())
	if !ok || !addr.IsValid() || addr.IsUnspecified() {
		return l, fmt.Errorf("ACK without an address")
	}
	l.addr = addr
	l.bootFile = ack.BootFileNameOption()
	if l.bootFile == "" {
		l.bootFile = ack.BootFileName
	}
	return l, nil
}

// modifiers make a client packet of kind as the relay forwards it: giaddr, one hop,
// option 82 with the pod's circuit-id.
func (r *relay) modifiers(kind clientKind) []dhcpv4.Modifier {
	m := []dhcpv4.Modifier{
		dhcpv4.WithRelay(net.ParseIP(Giaddr).To4()),
		dhcpv4.WithOption(dhcpv4.OptRelayAgentInfo(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(dhcpv4.AgentCircuitIDSubOption), []byte(r.pod.Circuit)))),
	}
	switch kind {
	case kindPXE, kindIPXE:
		m = append(m, dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
			dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC)))
		if kind == kindIPXE {
			m = append(m, dhcpv4.WithOption(dhcpv4.OptUserClass("iPXE")))
		}
	case kindAgent:
		m = append(m, dhcpv4.WithOption(dhcpv4.OptClassIdentifier("podboot-agent")))
	}
	return m
}

var errNoReply = errors.New("no reply")

// exchange sends msg and waits for a reply of type want with its transaction ID,
// retransmitting on the PXE schedule. It returns the number of retransmissions.
func (r *relay) exchange(ctx context.Context, msg *dhcpv4.DHCPv4, want dhcpv4.MessageType) (*dhcpv4.DHCPv4, int, error) {
	xid := binaryXID(msg.TransactionID)
	ch := make(chan *dhcpv4.DHCPv4, 4)
	r.mu.Lock()
	r.waiting[xid] = ch
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.waiting, xid)
		r.mu.Unlock()
	}()
	b := msg.ToBytes()
	for try, wait := range dhcpTries {
		if _, err := r.conn.WriteToUDP(b, r.server); err != nil {
			return nil, try, fmt.Errorf("send: %w", err)
		}
		t := time.NewTimer(wait)
		for done := false; !done; {
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, try, ctx.Err()
			case <-t.C:
				done = true
			case m := <-ch:
				switch m.MessageType() {
				case want:
					t.Stop()
					return m, try, nil
				case dhcpv4.MessageTypeNak:
					t.Stop()
					return nil, try, fmt.Errorf("NAK: %s", m.Message())
				}
			}
		}
	}
	return nil, len(dhcpTries) - 1, fmt.Errorf("%w after %d tries", errNoReply, len(dhcpTries))
}
