package dhcprelay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/podboot/podboot/internal/ratelog"
	"github.com/podboot/podboot/pkg/podmgr"
)

// handler is the packet path: parse, resolve, decide, encode. It touches the store only
// to record a discovered host (capped per pod); leases go to the committer via result.
type handler struct {
	cfg    Config
	mgr    *podmgr.Manager
	reg    *podmgr.Registry
	leases *leaseTable
	m      *metrics
	log    *slog.Logger
	now    func() time.Time
	// refusals rate-limits the log of refused packets.
	refusals ratelog.Limiter
	// owner, when set, says which pods this replica answers for (owner.go).
	owner Owner
	// serverID, when valid, replaces the pods' serverAddress in replies (owner.go).
	serverID netip.Addr
	// watch remembers what each relay sent (relaywatch.go); port is the server port.
	watch *relayWatch
	port  uint16
}

// result is what one packet produced. A non-nil persist or remove must be durable
// before reply is sent.
type result struct {
	reply   []byte
	dst     destination
	persist *podmgr.Lease
	remove  *podmgr.Lease
	event   *hostEvent
	// gen is the incarnation of the pod the packet was answered for (podGen): its lease
	// is written only if that pod still exists in the store.
	gen time.Time
	// stale: the pod was deleted before the lease was written; nothing is sent.
	stale bool
	// fenced: this replica no longer owns the pod; nothing was written or is sent.
	fenced bool
	// prior is what the ACK's lease commit changed in the lease table (handler.request).
	prior prior
	// relaySrc is the UDP source of a relayed packet (exchange.go); zero otherwise.
	relaySrc netip.Addr
	// labels for the metrics
	pod, relay, typ, outcome string
}

// pending reports whether the result still has something to do after the handler: a
// lease to make durable or a reply to send.
func (r result) pending() bool { return r.reply != nil || r.persist != nil || r.remove != nil }

// persistMAC is the MAC of the lease written or removed, for logs.
func (r result) persistMAC() string {
	switch {
	case r.persist != nil:
		return r.persist.MAC
	case r.remove != nil:
		return r.remove.MAC
	}
	return ""
}

// hostEvent is recorded after the reply left, off the hot path.
type hostEvent struct {
	mac, source, detail string
	from                podmgr.HostState // the host's state when it was ACKed
}

// local describes the interface a non-relayed packet came in on; zero for the WAN socket.
type local struct {
	addr netip.Addr
}

// origin is how a packet's pod was found, which says how far its claims are trusted.
type origin uint8

const (
	// originRelay: relayed (giaddr set), resolved by the pod's match rules.
	originRelay origin = iota
	// originLocal: not relayed, on the local interface's segment, the pod's own link.
	originLocal
	// originSourceRule: not relayed, its IP source matched a pod's relaySource-only rule
	// (a pod behind NAT, whose renewals arrive from the NAT's address).
	originSourceRule
	// originMAC: not relayed, resolved from the MAC alone (its host's pod, or where it
	// holds a lease): nothing but the packet itself says where it came from.
	originMAC
)

// noPodRelay is the relay label of packets no pod claims: one value, so that forged
// giaddrs or sources cannot grow the label set.
const noPodRelay = "unknown"

// handle runs the whole packet path for one packet and counts its outcome, except for a
// pending result, which the server counts once it is done.
func (h *handler) handle(ctx context.Context, raw []byte, peer netip.AddrPort, loc local) result {
	res, r := h.process(ctx, raw, peer, loc)
	if r != nil && r.giaddr.IsValid() && h.watch != nil {
		h.watch.observe(h.now(), peer, h.port, false, r.matchKeys(), r.relay.present, res.pod, res.outcome)
	}
	switch {
	case res.pod == "" && res.typ == "":
		h.m.drop(res.relay, res.outcome)
	case res.pending():
		// Counted once its lease is durable and its reply left (Server.send), so that
		// an ACK withheld or not sent is not counted as one.
	default:
		h.m.packet(res.pod, res.relay, res.typ, res.outcome)
	}
	return res
}

// process is the packet path; it also returns the parsed request (nil when it did not
// parse) for the relay watch.
func (h *handler) process(ctx context.Context, raw []byte, peer netip.AddrPort, loc local) (result, *request) {
	res := result{relay: peer.Addr().Unmap().String()}
	r, err := parseRequest(raw, peer)
	if err != nil {
		res.outcome = dropReason(err)
		return res, nil
	}
	// The relay label is the UDP source (giaddr is whatever the sender wrote), or the
	// local segment's address.
	if loc.addr.IsValid() {
		res.relay = loc.addr.String()
	}
	if r.giaddr.IsValid() {
		res.relaySrc = peer.Addr().Unmap()
	}
	res.typ = typeLabel(r.msgType)
	// On the WAN socket a packet is relayed (giaddr) or a unicast renew/release (ciaddr).
	// Anything else is a broadcast that reached the central node by mistake.
	if !loc.addr.IsValid() && !r.giaddr.IsValid() && !r.ciaddr.IsValid() {
		res.outcome = "not_relayed"
		return res, r
	}
	pc, o, ok := h.resolvePod(r, loc)
	if !ok {
		if h.log.Enabled(ctx, slog.LevelDebug) { // the arguments would cost on every packet
			h.log.Debug("no pod for packet", "source", r.peer.Addr().Unmap().String(), "giaddr", r.giaddr, "host", r.mac, "type", res.typ)
		}
		res.outcome = "no_pod"
		if !loc.addr.IsValid() {
			res.relay = noPodRelay
		}
		return res, r
	}
	res.pod, res.gen = pc.Pod.Name, pc.Pod.CreatedAt
	if h.owner != nil && !h.owner.Owns(pc.Pod.Name) {
		res.outcome = "not_owner" // another replica answers for this pod
		return res, r
	}
	if h.serverID.IsValid() { // this replica's own address, not the pod's shared one
		own := *pc
		own.ServerAddr = h.serverID
		pc = &own
	}
	r.toSource = pc.Pod.ReplyTo == podmgr.ReplyToRelaySource
	log := &pktLog{l: h.log, pod: pc.Pod.Name, host: r.mac, relay: res.relay, typ: res.typ}
	if o == originRelay {
		// A relay sends from its own address; one from a host's was written by the host.
		if subnet, ok := h.reg.HostSource(res.relaySrc); ok {
			h.refuse(&res, log, refuseHostRelay, "giaddr", r.giaddr, "source", res.relaySrc, "subnet", subnet)
			return res, r
		}
	}
	if r.direct() {
		if reason := h.checkDirect(r, pc, o); reason != "" {
			h.refuse(&res, log, reason, "ciaddr", r.ciaddr, "source", r.peer.Addr().Unmap())
			return res, r
		}
	}
	switch r.msgType {
	case dhcpv4.MessageTypeDiscover:
		h.discover(ctx, r, pc, loc, &res, log)
	case dhcpv4.MessageTypeRequest:
		h.request(ctx, r, pc, loc, &res, log)
	case dhcpv4.MessageTypeDecline:
		h.decline(r, pc, &res, log)
	case dhcpv4.MessageTypeRelease:
		h.release(r, pc, &res, log)
	case dhcpv4.MessageTypeInform:
		h.inform(r, pc, loc, &res, log)
	default:
		res.outcome = "unsupported"
	}
	return res, r
}

func typeLabel(t dhcpv4.MessageType) string {
	switch t {
	case dhcpv4.MessageTypeDiscover, dhcpv4.MessageTypeRequest, dhcpv4.MessageTypeDecline,
		dhcpv4.MessageTypeRelease, dhcpv4.MessageTypeInform:
		return strings.ToLower(strings.TrimPrefix(t.String(), "DHCP"))
	}
	return "other"
}

// resolvePod finds the pod: relayed packets by the match rules; local ones as if relayed
// by the interface address; unicast renewals (no giaddr) by a relaySource rule on their
// source, else by the host's pod, else by the pod where the MAC holds its lease. A
// packet that was not relayed is not resolved by its options 82 or 118: the client wrote
// them.
func (h *handler) resolvePod(r *request, loc local) (*podmgr.PodContext, origin, bool) {
	if r.giaddr.IsValid() {
		pc, ok := h.reg.Resolve(r.matchKeys())
		return pc, originRelay, ok
	}
	if loc.addr.IsValid() {
		pc, ok := h.reg.Resolve(podmgr.MatchKeys{Giaddr: loc.addr})
		return pc, originLocal, ok
	}
	if pc, ok := h.reg.Resolve(podmgr.MatchKeys{RelaySource: r.peer.Addr().Unmap()}); ok {
		return pc, originSourceRule, true
	}
	if host, ok := h.reg.Host(r.mac); ok {
		pc, ok := h.reg.Pod(host.Pod)
		return pc, originMAC, ok
	}
	if pod, ok := h.leases.ownerOf(r.mac); ok {
		pc, ok := h.reg.Pod(pod)
		return pc, originMAC, ok
	}
	return nil, originMAC, false
}

// checkDirect is the rule for a packet a client sent itself, naming its address (no
// giaddr, ciaddr set: renew, rebind, release, decline, inform): its IP source must be
// ciaddr (except behind a pod's NAT, matched by a relaySource rule), and ciaddr must be
// the MAC's current lease in the pod. From the pod's own link (the local segment, the
// NAT) a MAC holding no lease may still name a free address, as through a relay; it
// never moves a MAC that holds another. It returns the refusal reason, or "".
func (h *handler) checkDirect(r *request, pc *podmgr.PodContext, o origin) string {
	if o != originSourceRule && r.peer.Addr().Unmap() != r.ciaddr {
		return refuseSource
	}
	cur, ok := h.leases.pod(pc.Pod.Name).bound(r.mac, h.now())
	switch {
	case ok && cur == r.ciaddr:
		return ""
	case o == originMAC:
		return refuseNotLeased
	case ok:
		return refuseMoves
	}
	return ""
}

// refuse counts and logs a request refused by a rule; nothing is answered. The log is
// rate-limited (ratelog): forged packets come in floods.
func (h *handler) refuse(res *result, log *pktLog, reason string, args ...any) {
	res.outcome = "refused"
	h.m.refuse(res.pod, res.typ, reason)
	lvl, n := h.refusals.Level(h.now())
	log.log(lvl, "request refused", append(args, "reason", reason, "refused_since_last_warning", n)...)
}

// pktLog logs with the packet's pod, host, relay and message type, and formats them only
// when a record is written: slog's With pre-formats its attributes on every call, which
// on the packet path cost more than building the reply, for records mostly never written.
type pktLog struct {
	l                     *slog.Logger
	pod, host, relay, typ string
}

func (p *pktLog) log(level slog.Level, msg string, args ...any) {
	ctx := context.Background()
	if !p.l.Enabled(ctx, level) {
		return
	}
	p.l.With("pod", p.pod, "host", p.host, "relay", p.relay, "type", p.typ).Log(ctx, level, msg, args...)
}

func (p *pktLog) Debug(msg string, args ...any) { p.log(slog.LevelDebug, msg, args...) }
func (p *pktLog) Info(msg string, args ...any)  { p.log(slog.LevelInfo, msg, args...) }
func (p *pktLog) Warn(msg string, args ...any)  { p.log(slog.LevelWarn, msg, args...) }
func (p *pktLog) Error(msg string, args ...any) { p.log(slog.LevelError, msg, args...) }

// client is who is asking, from the pod's point of view.
type client struct {
	host    podmgr.Host
	known   bool // registered (or discovered) in this pod
	netboot bool // may get a boot program
}

// lookupClient applies the unknown-host policy. ok is false when the pod stays silent.
func (h *handler) lookupClient(ctx context.Context, r *request, pc *podmgr.PodContext, mayDiscover bool, res *result, log *pktLog) (client, bool) {
	host, ok := h.reg.Host(r.mac)
	if ok {
		if host.Pod != pc.Pod.Name {
			log.Warn("host is registered in another pod; not answering", "host_pod", host.Pod)
			res.outcome = "wrong_pod"
			return client{}, false
		}
		return client{host: host, known: true, netboot: host.Netboot}, true
	}
	switch pc.Pod.UnknownHosts {
	case podmgr.PolicyLease:
		return client{host: podmgr.Host{MAC: r.mac, Pod: pc.Pod.Name}}, true
	case podmgr.PolicyDiscover:
		if !mayDiscover {
			return client{host: podmgr.Host{MAC: r.mac, Pod: pc.Pod.Name}}, true
		}
		dh, err := h.mgr.Discover(ctx, pc.Pod.Name, r.mac, podmgr.DiscoverInfo{
			Arch: r.client.archName(), VendorClass: r.client.vendorClass, GUID: r.client.guid, Source: r.peer.Addr().Unmap().String()})
		if err != nil {
			if errors.Is(err, podmgr.ErrDiscoverLimit) {
				log.Debug("discover limit reached; leasing without boot program")
			} else {
				log.Error("recording discovered host failed", "err", err)
			}
			return client{host: podmgr.Host{MAC: r.mac, Pod: pc.Pod.Name}}, true
		}
		return client{host: dh, known: true, netboot: dh.Netboot}, true
	}
	res.outcome = "unknown_host"
	return client{}, false
}

// Why wantFor found no address for a client.
var (
	errNoSubnet = errors.New("no provisioning subnet for the client's link or reservation")
	// errUnusable: the reservation is a subnet's network, broadcast or gateway address,
	// or the relay's. Validation refuses such reservations; a stored one is not served.
	errUnusable = errors.New("reserved address is the subnet's network, broadcast or gateway address, or the relay's")
)

// wantFor says which addresses c may have on the request's link.
func (h *handler) wantFor(r *request, pc *podmgr.PodContext, c client, loc local) (want, error) {
	w := want{isReserved: func(a netip.Addr) (string, bool) { return h.reg.ReservedBy(pc.Pod.Name, a) }, relay: r.giaddr}
	// The link: the relay's (link selection, option 118, giaddr); on the local segment
	// the interface's; for a unicast renew the client's own address. Options 82 and 118
	// of a packet that was not relayed are the client's words and name nothing.
	link := r.linkAddr()
	switch {
	case !r.giaddr.IsValid() && loc.addr.IsValid():
		link, w.relay = loc.addr, loc.addr
	case !r.giaddr.IsValid():
		link = r.ciaddr
	}
	if c.known && c.host.ProvisioningIP != "" {
		a, err := netip.ParseAddr(c.host.ProvisioningIP)
		if err != nil {
			return w, errNoSubnet
		}
		si, ok := pc.SubnetInfoFor(a)
		if !ok {
			return w, errNoSubnet
		}
		if !hostAddrOK(a, si, w.relay) {
			return w, errUnusable
		}
		w.reserved, w.subnet = a, si
		return w, nil
	}
	si, ok := pc.SubnetInfoFor(link)
	if !ok {
		infos := pc.SubnetInfos()
		if len(infos) != 1 {
			return w, errNoSubnet
		}
		si = infos[0]
	}
	w.subnet = si
	return w, nil
}

// serverID is option 54: the relay's server identifier override, or the pod's address.
func serverID(r *request, pc *podmgr.PodContext) netip.Addr {
	if r.relay.serverOverride.IsValid() && !r.relay.serverOverride.IsUnspecified() {
		return r.relay.serverOverride
	}
	return pc.ServerAddr
}

func (h *handler) bootFor(pc *podmgr.PodContext, c client, r *request) bootProgram {
	if !c.known || !c.netboot {
		return bootProgram{}
	}
	prof, ok := h.reg.EffectiveProfile(c.host)
	if !ok {
		prof = pc.Profile
	}
	return chooseBoot(pc, c.host, prof, r.client, h.cfg.BootHTTPPort, h.cfg.BootHTTPSPort)
}

func (h *handler) discover(ctx context.Context, r *request, pc *podmgr.PodContext, loc local, res *result, log *pktLog) {
	c, ok := h.lookupClient(ctx, r, pc, true, res, log)
	if !ok {
		return
	}
	w, err := h.wantFor(r, pc, c, loc)
	if errors.Is(err, errUnusable) {
		h.refuse(res, log, refuseUnusable, "reservation", c.host.ProvisioningIP)
		return
	}
	if err != nil {
		res.outcome = "no_subnet"
		return
	}
	w.hint = r.requested
	now := h.now()
	ip, err := h.leases.pod(pc.Pod.Name).offer(r.mac, w, now, h.cfg.OfferHold)
	if err != nil {
		res.outcome = outcomeOf(err)
		log.Debug("no offer", "err", err)
		return
	}
	a := answer{msgType: dhcpv4.MessageTypeOffer, yiaddr: ip, subnet: &w.subnet, serverID: serverID(r, pc),
		leaseDur: leaseDuration(w.subnet), boot: h.bootFor(pc, c, r)}
	h.finish(r, a, loc, res, "offer", log)
}

func (h *handler) request(ctx context.Context, r *request, pc *podmgr.PodContext, loc local, res *result, log *pktLog) {
	sid := serverID(r, pc)
	pl := h.leases.pod(pc.Pod.Name)
	var ip netip.Addr
	switch {
	case r.serverID.IsValid(): // SELECTING
		if r.serverID != sid && r.serverID != pc.ServerAddr {
			pl.cancelOffer(r.mac)
			res.outcome = "other_server"
			return
		}
		ip = r.requested
	case r.requested.IsValid(): // INIT-REBOOT
		ip = r.requested
	default: // RENEWING, REBINDING
		ip = r.ciaddr
	}
	if r.direct() && ip != r.ciaddr {
		// checkDirect vouched for ciaddr only: a unicast REQUEST never moves a host.
		h.refuse(res, log, refuseMoves, "ciaddr", r.ciaddr, "requested", ip)
		return
	}
	c, ok := h.lookupClient(ctx, r, pc, false, res, log)
	if !ok {
		return
	}
	w, err := h.wantFor(r, pc, c, loc)
	if errors.Is(err, errUnusable) {
		h.refuse(res, log, refuseUnusable, "reservation", c.host.ProvisioningIP)
		return
	}
	if err != nil || !ip.IsValid() {
		h.nak(r, sid, loc, res, log)
		return
	}
	now := h.now()
	d := leaseDuration(w.subnet)
	p, err := pl.commit(r.mac, ip, w, now, d)
	if err != nil {
		log.Info("NAK", "requested", ip, "err", err)
		h.nak(r, sid, loc, res, log)
		return
	}
	h.leases.setOwner(r.mac, pc.Pod.Name)
	res.prior = p
	res.persist = &podmgr.Lease{Pod: pc.Pod.Name, IP: ip.String(), MAC: r.mac, Expires: now.Add(d).UTC()}
	boot := h.bootFor(pc, c, r)
	a := answer{msgType: dhcpv4.MessageTypeAck, yiaddr: ip, subnet: &w.subnet, serverID: sid, leaseDur: d, boot: boot}
	h.finish(r, a, loc, res, "ack", log)
	if res.reply != nil && boot.kind != bootNone && c.known && !c.host.Discovered && attemptStart(c.host.State) {
		res.event = &hostEvent{mac: r.mac, source: res.relay, detail: fmt.Sprintf("address %s, boot %s", ip, boot.file), from: c.host.State}
	}
}

func (h *handler) nak(r *request, sid netip.Addr, loc local, res *result, log *pktLog) {
	h.finish(r, answer{msgType: dhcpv4.MessageTypeNak, serverID: sid}, loc, res, "nak", log)
}

func (h *handler) decline(r *request, pc *podmgr.PodContext, res *result, log *pktLog) {
	ip := r.requested
	if r.direct() && !ip.IsValid() {
		ip = r.ciaddr
	}
	if !ip.IsValid() {
		res.outcome = "ignored"
		return
	}
	now := h.now()
	if r.direct() && ip != r.ciaddr || !h.leases.pod(pc.Pod.Name).decline(r.mac, ip, now, h.cfg.DeclineQuarantine) {
		h.refuse(res, log, refuseNotOwn, "address", ip)
		return
	}
	log.Warn("address declined: quarantined", "address", ip, "until", now.Add(h.cfg.DeclineQuarantine))
	res.persist = &podmgr.Lease{Pod: pc.Pod.Name, IP: ip.String(), MAC: r.mac, Expires: now.Add(h.cfg.DeclineQuarantine).UTC(), Declined: true}
	res.outcome = "declined"
}

func (h *handler) release(r *request, pc *podmgr.PodContext, res *result, log *pktLog) {
	if !r.ciaddr.IsValid() {
		res.outcome = "ignored"
		return
	}
	if !h.leases.pod(pc.Pod.Name).release(r.mac, r.ciaddr, h.now()) {
		h.refuse(res, log, refuseNotOwn, "address", r.ciaddr)
		return
	}
	res.remove = &podmgr.Lease{Pod: pc.Pod.Name, IP: r.ciaddr.String(), MAC: r.mac}
	res.outcome = "released"
}

func (h *handler) inform(r *request, pc *podmgr.PodContext, loc local, res *result, log *pktLog) {
	if !r.ciaddr.IsValid() {
		res.outcome = "ignored"
		return
	}
	si, ok := pc.SubnetInfoFor(r.ciaddr)
	if !ok {
		res.outcome = "no_subnet"
		return
	}
	h.finish(r, answer{msgType: dhcpv4.MessageTypeAck, subnet: &si, serverID: serverID(r, pc)}, loc, res, "inform", log)
}

// finish encodes the answer and routes it.
func (h *handler) finish(r *request, a answer, loc local, res *result, outcome string, log *pktLog) {
	dst, ok := replyDest(r, loc.addr.IsValid())
	if !ok {
		res.outcome = "no_route"
		return
	}
	b, err := buildReply(r, a)
	if err != nil {
		log.Warn("reply not sent", "err", err)
		res.outcome = "too_big"
		res.persist = nil
		return
	}
	res.reply, res.dst, res.outcome = b, dst, outcome
}

func outcomeOf(err error) string {
	switch {
	case errors.Is(err, errNoAddress):
		return "no_address"
	case errors.Is(err, errConflict):
		return "conflict"
	}
	return "error"
}

// attemptStart reports whether a boot program ACKed to a host in state st starts a
// provision attempt (a dhcp.offer event, state offered): a registered host's first, or a
// failed host's retry. Later DHCP of the same attempt (iPXE, renewals) records nothing.
func attemptStart(st podmgr.HostState) bool {
	return st == podmgr.StateRegistered || st == podmgr.StateFailed
}
