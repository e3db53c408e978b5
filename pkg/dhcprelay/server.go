package dhcprelay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/podboot/podboot/pkg/podmgr"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// readBufSize bounds the datagrams read: one that fills the buffer (this size or more)
// is dropped unparsed and counted as oversize. DHCP messages fit an Ethernet frame.
const readBufSize = 4096

// Server is the DHCP service. Create it with New and run it with Serve; Close releases
// the sockets of a server that is not served.
type Server struct {
	cfg     Config
	mgr     *podmgr.Manager
	h       *handler
	q       *fairQueue
	conn    *net.UDPConn
	lconn   *net.UDPConn   // local interface service, optional
	probes  []*net.UDPConn // wrong-port probes (probe.go)
	laddr   netip.Addr
	lindex  int // the local interface's index; 0 without one
	m       *metrics
	log     *slog.Logger
	bufs    sync.Pool
	commits chan result
	events  chan hostEvent
	exch    *exchanges // the last relayed ACK of each MAC (exchange.go)

	// closed is cancelled by Close; a running Serve stops when it is.
	// owner, when set, says which pods this replica answers for (owner.go).
	owner      Owner
	closed     context.Context
	markClosed context.CancelFunc
	closeOnce  sync.Once
	closeErr   error
}

// New binds the sockets, loads the stored leases and returns a Server ready to Serve.
func New(cfg Config, mgr *podmgr.Manager, reg prometheus.Registerer, log *slog.Logger) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("service", "dhcp")
	s := &Server{cfg: cfg, mgr: mgr, log: log,
		q:       newFairQueue(cfg.QueueLen, 8*cfg.QueueLen),
		commits: make(chan result, 4*cfg.CommitBatch),
		events:  make(chan hostEvent, 1024),
		exch:    newExchanges(),
	}
	s.closed, s.markClosed = context.WithCancel(context.Background())
	s.bufs.New = func() any { b := make([]byte, readBufSize); return &b }
	if s.m, err = newMetrics(reg, func() float64 { return float64(s.q.depth()) }); err != nil {
		return nil, fmt.Errorf("dhcp: register metrics: %w", err)
	}
	s.h = &handler{cfg: cfg, mgr: mgr, reg: mgr.Registry(), leases: newLeaseTable(registryGen(mgr.Registry())), m: s.m, log: log, now: time.Now,
		watch: newRelayWatch(cfg.RelayWatch)}
	if err := s.loadLeases(context.Background()); err != nil {
		return nil, err
	}
	if cfg.Interface != "" {
		if s.laddr, s.lindex, err = interfaceAddr(cfg.Interface); err != nil {
			return nil, err
		}
	}
	// With a local interface, the relays' socket learns each packet's interface: the
	// broadcasts of the local segment reach it too, and are the interface socket's.
	shared := cfg.Interface != ""
	if s.conn, err = listen(context.Background(), cfg.Addr, sockOpts{share: shared, pktinfo: shared}); err != nil {
		return nil, err
	}
	if shared {
		_, port, _ := net.SplitHostPort(cfg.Addr)
		if s.lconn, err = listen(context.Background(), ":"+port, sockOpts{device: cfg.Interface, share: true}); err != nil {
			s.conn.Close()
			return nil, err
		}
	}
	s.h.port = s.Addr().Port()
	if err := s.openProbes(); err != nil {
		s.closeSockets()
		return nil, err
	}
	return s, nil
}

func (s *Server) loadLeases(ctx context.Context) error {
	var leases []podmgr.Lease
	err := s.mgr.Store().View(ctx, func(tx podmgr.ReadTx) error {
		var err error
		leases, err = tx.Leases()
		return err
	})
	if err != nil {
		return fmt.Errorf("dhcp: load leases: %w", err)
	}
	n := s.h.leases.load(leases, s.h.now())
	s.log.Info("leases loaded", "live", n, "stored", len(leases))
	return nil
}

// Addr is the address the relays' socket is bound to.
func (s *Server) Addr() netip.AddrPort {
	return s.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// LeaseIP is the address a host holds a live lease (or offer) for: the boot service
// checks a host's source address against it.
func (s *Server) LeaseIP(pod, mac string) (netip.Addr, bool) {
	return s.h.leases.lookup(pod, mac, s.h.now())
}

// Serve answers DHCP until ctx is done (or Close is called), then stops reading,
// finishes the queued packets, commits and sends what is pending, closes the sockets and
// returns nil. Call it once, and not after Close.
func (s *Server) Serve(ctx context.Context) error {
	if s.closed.Err() != nil {
		return errors.New("dhcp: serve after close")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.closed, cancel)()
	var workers, committing, recording, readers sync.WaitGroup
	cm := &committer{store: s.mgr.Store(), in: s.commits, max: s.cfg.CommitBatch, send: s.sendCommitted, after: s.queueEvent, m: s.m, log: s.log, owner: s.owner,
		leases: s.h.leases, now: s.h.now}
	// The drain after shutdown still commits and records: it must not see ctx cancelled.
	drainCtx := context.WithoutCancel(ctx)
	committing.Go(func() { cm.run(drainCtx) })
	recording.Go(func() { s.recordEvents(drainCtx) })
	for range s.cfg.Workers {
		workers.Go(func() { s.work(drainCtx) })
	}
	readers.Go(func() { s.read(ctx, s.conn, local{}, s.lindex) })
	if s.lconn != nil {
		readers.Go(func() { s.read(ctx, s.lconn, local{addr: s.laddr}, 0) })
	}
	for _, c := range s.probes {
		readers.Go(func() { s.readProbe(ctx, c) })
	}
	s.log.Info("serving", "addr", s.Addr().String(), "interface", s.cfg.Interface, "workers", s.cfg.Workers)
	<-ctx.Done()
	// Unblock the readers; the sockets stay open for the replies still to be sent.
	s.conn.SetReadDeadline(time.Now())
	if s.lconn != nil {
		s.lconn.SetReadDeadline(time.Now())
	}
	for _, c := range s.probes {
		c.SetReadDeadline(time.Now())
	}
	readers.Wait()
	s.q.close()
	workers.Wait()
	close(s.commits)
	committing.Wait()
	close(s.events)
	recording.Wait()
	if err := s.closeSockets(); err != nil {
		s.log.Warn("close sockets", "err", err)
	}
	s.log.Info("stopped")
	return nil
}

// Close closes the server's sockets at once. It is for a server Serve will not run,
// such as after a failed start-up: Serve closes them itself when it returns. A Serve
// running when Close is called stops (replies still pending are not sent); a later
// Serve returns an error. Close is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.markClosed()
		s.closeErr = s.closeSockets()
	})
	return s.closeErr
}

// closeSockets closes the relays' and the interface's socket; one already closed is no
// error.
func (s *Server) closeSockets() error {
	var errs []error
	for _, c := range append([]*net.UDPConn{s.conn, s.lconn}, s.probes...) {
		if c == nil {
			continue
		}
		if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dhcp: close sockets: %w", err)
	}
	return nil
}

// read is the read loop of one socket: it only queues, never handles. Packets that
// arrived on the interface with index skip are left to that interface's socket.
func (s *Server) read(ctx context.Context, conn *net.UDPConn, loc local, skip int) {
	var oob []byte
	if skip != 0 {
		oob = make([]byte, unix.CmsgSpace(unix.SizeofInet4Pktinfo))
	}
	for ctx.Err() == nil {
		bp := s.bufs.Get().(*[]byte)
		n, peer, err := readPacket(conn, *bp, oob, skip)
		if err != nil {
			s.bufs.Put(bp)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, net.ErrClosed) {
				continue // shutdown: the loop condition ends it
			}
			s.log.Warn("read failed", "err", err)
			continue
		}
		if n < 0 {
			s.bufs.Put(bp)
			continue
		}
		key := peer.Addr().Unmap()
		if n >= len(*bp) {
			// Filled the buffer: the datagram was cut, whatever it said is lost.
			s.bufs.Put(bp)
			s.m.drop(key.String(), "oversize")
			continue
		}
		if !s.q.push(key, packet{buf: bp, n: n, peer: peer, loc: loc}) {
			s.bufs.Put(bp)
			s.m.drop(key.String(), "queue_full")
		}
	}
}

// readPacket reads one datagram into buf; n is -1 when it arrived on interface skip.
func readPacket(conn *net.UDPConn, buf, oob []byte, skip int) (int, netip.AddrPort, error) {
	if skip == 0 {
		return conn.ReadFromUDPAddrPort(buf)
	}
	n, oobn, _, peer, err := conn.ReadMsgUDPAddrPort(buf, oob)
	if err != nil {
		return 0, peer, err
	}
	if idx, ok := arrivalIfindex(oob[:oobn]); ok && idx == skip {
		return -1, peer, nil
	}
	return n, peer, nil
}

// work handles queued packets until the queue is closed and empty.
func (s *Server) work(ctx context.Context) {
	for {
		p, ok := s.q.pop()
		if !ok {
			return
		}
		res := s.h.handle(ctx, (*p.buf)[:p.n], p.peer, p.loc)
		s.bufs.Put(p.buf)
		if res.persist != nil || res.remove != nil {
			s.commits <- res
			continue
		}
		if res.reply != nil {
			s.send(res)
		}
	}
}

// send sends a result's reply, if it has one, and counts the result: its outcome (an
// ACK counts as "ack") only when the reply left.
func (s *Server) send(r result) {
	outcome := r.outcome
	if r.reply != nil {
		conn := s.conn
		if r.dst.broadcast {
			conn = s.lconn
		}
		switch _, err := writeTo(conn, r.reply, r.dst.addr); {
		case conn == nil:
			outcome = "no_route"
		case err != nil:
			outcome = "send_failed"
			s.log.Warn("send failed", "pod", r.pod, "host", r.persistMAC(), "to", r.dst.addr.String(), "err", err)
		}
	}
	s.m.packet(r.pod, r.relay, r.typ, outcome)
}

// writeTo sends b on conn; a nil conn sends nothing.
func writeTo(conn *net.UDPConn, b []byte, to netip.AddrPort) (int, error) {
	if conn == nil {
		return 0, nil
	}
	return conn.WriteToUDPAddrPort(b, to)
}

func (s *Server) queueEvent(r result) {
	if r.event == nil {
		return
	}
	select {
	case s.events <- *r.event:
	default:
		s.m.eventsShed.Inc()
	}
}

// recordEvents writes host events (dhcp.offer, state offered) off the hot path.
func (s *Server) recordEvents(ctx context.Context) {
	for e := range s.events {
		if _, err := s.mgr.RecordHostEvent(ctx, e.mac, e.source, "dhcp.offer", e.detail, podmgr.HostUpdate{State: podmgr.StateOffered, From: e.from}); err != nil && !podmgr.IsNotFound(err) {
			s.log.Warn("recording host event failed", "host", e.mac, "err", err)
		}
	}
}
