// Package dnsd is boxmail's authoritative DNS server (RFC 1034/1035 over
// UDP and TCP, on github.com/miekg/dns). It answers for the zones of the
// record set (dnsrecords.Set: one per hosted domain, plus the hostname's
// when it is under none) and nothing else:
//
//   - answers from its zones carry the AA flag; a name that does not
//     exist is NXDOMAIN, a name without the asked type is NODATA, both
//     with the zone's SOA in the authority section (RFC 2308);
//   - names outside its zones are REFUSED: it is not a resolver;
//   - names are matched case-insensitively, the question is echoed as
//     asked (0x20), and there are no wildcards;
//   - EDNS0 (RFC 6891): UDP answers are sized to the client's buffer
//     (at most 1232 bytes) and truncated (TC) beyond it, so large TXT
//     records (DKIM keys) come over TCP; ANY gets RFC 8482's HINFO;
//   - custom NS records below an apex delegate: the answer is a
//     referral;
//   - response rate limiting (RRL-style): UDP responses to one client
//     network (/24 for IPv4, /56 for IPv6) are limited per second; above
//     the limit every second response is a truncated empty one (so a real
//     resolver retries over TCP, which is never limited) and the others
//     are dropped, so the box cannot be used as an amplifier.
//
// The records change as soon as the store does: the server polls a
// generation counter (store.Generation) and rebuilds the zones when it
// grows; the SOA serial is that generation. ACME DNS-01 challenge
// records (_acme-challenge TXT) are added and removed in memory by the
// certificate manager (challenge.go).
//
// DNSSEC (RFC 4033-4035), when Options.Keys is set: each zone is
// signed online with its own keys (keys.go: a KSK and a ZSK, ECDSA
// P-256, generated on first load and kept in the store, so that every
// node of a box signs with the same keys; the ZSK rolled over by
// pre-publication) when it is built, with a complete NSEC chain for
// denial (sign.go says why). A query with the DO bit gets the RRSIGs and
// NSEC proofs (proofs.go); DNSKEY, CDS and CDNSKEY are answered at each
// apex. The DS the registrar needs is ZoneKeys.DS (read with ReadKeys);
// a KSK rollover (kskroll.go) is started and finished through Request.
//
// Zone transfers (transfer.go): AXFR over TCP to Options.Secondaries
// only, with a NOTIFY to them whenever the zones are reloaded.
package dnsd

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"boxmail/internal/dnsrecords"
	"boxmail/internal/metrics"
)

// Options configure a Server.
type Options struct {
	Logger *slog.Logger
	// Generation returns a number that grows whenever the records may
	// have changed (store.Generation).
	Generation func(ctx context.Context) (int64, error)
	// Records builds the record set for a generation; its SOA serial
	// should be the generation.
	Records func(ctx context.Context, generation int64) (*dnsrecords.Set, error)
	// PollInterval is how often Generation is polled (default 250ms).
	PollInterval time.Duration
	// RateLimit is the UDP responses per second allowed per client
	// network (default 50; negative disables rate limiting).
	RateLimit int
	// RateLimitExempt are client networks never limited (cmd/boxmail
	// exempts loopback, which cannot be spoofed from outside).
	RateLimitExempt []netip.Prefix
	// Metrics counts the queries answered; nil: none.
	Metrics *metrics.Metrics
	// Keys keeps the zones' DNSSEC keys (keys.go: store.Store); nil:
	// the zones are not signed.
	Keys KeyStore
	// KeyDir is where an earlier version kept the keys in files: a zone
	// without keys in Keys imports its file from there once (keys.go).
	KeyDir string
	// Now is the clock of signatures and key rollover (default
	// time.Now).
	Now func() time.Time
	// ParentDS returns the DS RRset the parent zone publishes for a zone
	// (through a resolver); while a zone rolls its KSK, it is asked
	// every minute, and the old KSK goes once the parent has had the new
	// DS for its TTL (kskroll.go). Nil: only the admin finishes a
	// rollover.
	ParentDS func(ctx context.Context, zone string) ([]*dns.DS, error)
	// SharedChallenges returns the ACME DNS-01 records the nodes of a box
	// share (store.ACMEChallenges: a node ordering a certificate adds
	// them, and the CA may ask any node), values by name; they are read
	// at each build of the zones (a change bumps Generation) and served
	// beside those of AddChallenge. Nil: only AddChallenge's.
	SharedChallenges func(ctx context.Context) (map[string][]string, error)
	// Secondaries may transfer the zones (by address, over TCP) and are
	// sent a NOTIFY (at the address and port) when the zones change
	// (transfer.go).
	Secondaries []netip.AddrPort
}

// Server is the authoritative DNS server.
type Server struct {
	opts    Options
	log     *slog.Logger
	zones   atomic.Pointer[zoneSet]
	limiter *limiter

	mu       sync.Mutex
	servers  []*dns.Server
	stop     chan struct{}
	stopOnce sync.Once
	pollOnce sync.Once
	loadMu   sync.Mutex
	loaded   int64 // generation of the current zones, -1 before the first load

	chMu       sync.Mutex
	challenges map[string][]string // ACME DNS-01 TXT values by fqdn (challenge.go)
	shared     map[string][]string // those of Options.SharedChallenges, at the last build

	// DNSSEC, under loadMu: the last record set, the zones' keys, when
	// the keys were last advanced and when the first signature expires.
	set       *dnsrecords.Set
	keys      map[string]*ZoneKeys
	keysAt    time.Time
	parentAt  time.Time
	sigExpiry time.Time
	sigs      sigCache
}

// New returns a server; it loads the records on the first Serve.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 250 * time.Millisecond
	}
	if opts.RateLimit == 0 {
		opts.RateLimit = 50
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, log: opts.Logger, stop: make(chan struct{}), loaded: -1}
	if opts.RateLimit > 0 {
		s.limiter = newLimiter(opts.RateLimit, opts.RateLimitExempt)
	}
	return s
}

// Refresh rebuilds the zones if the generation changed (or always before
// the first load).
func (s *Server) Refresh(ctx context.Context) error {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	gen, err := s.opts.Generation(ctx)
	if err != nil {
		return err
	}
	if gen == s.loaded {
		return s.maintain()
	}
	set, err := s.opts.Records(ctx, gen)
	if err != nil {
		return err
	}
	if err := s.build(set); err != nil {
		return err
	}
	if s.loaded >= 0 {
		s.log.Info("zones reloaded", "serial", gen, "zones", len(s.zones.Load().apexes))
	}
	s.loaded = gen
	s.notify(s.zones.Load())
	return nil
}

// keyCheck is how often the keys' rollover is moved on.
const keyCheck = time.Minute

// maintain moves the keys' rollover on and re-signs the zones when
// their first signature nears expiry; called with loadMu held.
func (s *Server) maintain() error {
	now := s.opts.Now()
	if s.opts.Keys == nil || s.set == nil {
		return nil
	}
	if !s.checkParents(now) && now.Sub(s.keysAt) < keyCheck && s.sigExpiry.Sub(now) > resignBefore {
		return nil
	}
	return s.build(s.set)
}

// build makes and installs the zones of set, signed when there is a
// key directory; called with loadMu held.
func (s *Server) build(set *dnsrecords.Set) error {
	s.loadSharedChallenges() // challenge.go
	var extra []dns.RR
	if s.opts.Keys != nil {
		extra = s.challengeRRs()
	}
	z, err := buildZones(set, extra)
	if err != nil {
		return err
	}
	if s.opts.Keys != nil {
		if err := s.loadKeys(z); err != nil {
			return err
		}
		if s.sigExpiry, err = z.signZones(s.keys, &s.sigs, s.opts.Now); err != nil {
			return err
		}
	}
	s.set = set
	s.zones.Store(z)
	return nil
}

// loadKeys reads (or makes) the keys of every zone of z from the key
// store, as another node or command may have changed them, and moves
// their rollover on, storing the keys that changed; a step another node
// took first is read back instead.
func (s *Server) loadKeys(z *zoneSet) error {
	now := s.opts.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	keys := make(map[string]*ZoneKeys, len(z.apexes))
	for apex := range z.apexes {
		zk, err := s.zoneKeys(ctx, apex, now)
		if err != nil {
			return err
		}
		c := zk.clone()
		changed, err := c.advance(now)
		if err == nil && changed {
			err = c.save(ctx, s.opts.Keys)
		}
		switch {
		case errors.Is(err, ErrKeyConflict):
			s.log.Debug("DNSSEC zone-signing key rollover: another node took the step first", "zone", apex)
			if zk, err = ReadKeys(ctx, s.opts.Keys, "", apex); err != nil {
				return err
			}
		case err != nil:
			return err
		case changed:
			s.log.Info("DNSSEC zone-signing key rollover", "zone", apex, "keys", len(c.Keys))
			zk = c
		}
		keys[apex] = zk
	}
	if s.keys == nil {
		s.parentAt = now // the parents are first asked parentCheck after the start, as every minute after
	}
	s.keys, s.keysAt = keys, now
	return nil
}

// zoneKeys returns apex's keys as the store has them now: the ones held
// when their version did not change (they are parsed already), else
// read (made, the first time).
func (s *Server) zoneKeys(ctx context.Context, apex string, now time.Time) (*ZoneKeys, error) {
	held := s.keys[apex]
	if held != nil {
		_, version, err := s.opts.Keys.ZoneKeys(ctx, apex)
		if err != nil {
			return nil, err
		}
		if version == held.version {
			return held, nil
		}
	}
	zk, err := loadOrCreateKeys(ctx, s.opts.Keys, s.opts.KeyDir, apex, now)
	if err == nil && held != nil {
		s.log.Info("DNSSEC keys changed in the store", "zone", apex, "ksk_rolling", zk.NextKSK() != nil, "signing", zk.Signing, "ds", DSOf(zk.parentKSK()).String())
	}
	return zk, err
}

func (s *Server) start() error {
	var err error
	s.pollOnce.Do(func() {
		if err = s.Refresh(context.Background()); err != nil {
			return
		}
		go s.poll()
	})
	if err == nil && s.zones.Load() == nil {
		err = errors.New("dnsd: zones not loaded")
	}
	return err
}

func (s *Server) poll() {
	t := time.NewTicker(s.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := s.Refresh(ctx); err != nil {
				s.log.Warn("reloading zones", "err", err)
			}
			cancel()
			if s.limiter != nil {
				s.limiter.sweep(now)
			}
		}
	}
}

// Serve answers DNS over TCP on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.start(); err != nil {
		ln.Close()
		return err
	}
	return s.run(&dns.Server{Listener: ln, Net: "tcp", Handler: s,
		ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, IdleTimeout: func() time.Duration { return 10 * time.Second }})
}

// ServePacket answers DNS over UDP on pc until Shutdown.
func (s *Server) ServePacket(pc net.PacketConn) error {
	if err := s.start(); err != nil {
		pc.Close()
		return err
	}
	return s.run(&dns.Server{PacketConn: pc, Net: "udp", Handler: s, UDPSize: maxUDP})
}

func (s *Server) run(srv *dns.Server) error {
	s.mu.Lock()
	select {
	case <-s.stop:
		s.mu.Unlock()
		return nil
	default:
	}
	s.servers = append(s.servers, srv)
	s.mu.Unlock()
	err := srv.ActivateAndServe()
	select {
	case <-s.stop:
		return nil // closed by Shutdown
	default:
	}
	return err
}

// Shutdown stops every listener; queries in progress finish.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() { close(s.stop) })
	s.mu.Lock()
	srvs := s.servers
	s.servers = nil
	s.mu.Unlock()
	var first error
	for _, srv := range srvs {
		if err := srv.ShutdownContext(ctx); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// maxUDP is the largest UDP answer: the DNS flag day 2020 size, which
// avoids IP fragmentation.
const maxUDP = 1232

var _ dns.Handler = (*Server)(nil)

// ServeDNS answers one query.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if isTransfer(req) {
		s.transfer(w, req)
		return
	}
	udp := false
	if _, ok := w.RemoteAddr().(*net.UDPAddr); ok {
		udp = true
	}
	resp, size := s.answer(req, udp)
	if resp == nil {
		return // not worth an answer (a response, or garbage)
	}
	s.opts.Metrics.DNSQuery(dns.RcodeToString[resp.Rcode])
	if udp && s.limiter != nil {
		if ap, ok := w.RemoteAddr().(*net.UDPAddr); ok {
			switch s.limiter.allow(ap.AddrPort().Addr(), time.Now()) {
			case drop:
				return
			case slip:
				slipped := new(dns.Msg)
				slipped.SetReply(req)
				slipped.Truncated = true
				slipped.Authoritative = resp.Authoritative
				slipped.Rcode = resp.Rcode
				w.WriteMsg(slipped)
				return
			}
		}
	}
	if udp {
		resp.Truncate(size)
	}
	w.WriteMsg(resp)
}

// answer builds the response and the UDP size limit for it.
func (s *Server) answer(req *dns.Msg, udp bool) (*dns.Msg, int) {
	if req.Response {
		return nil, 0
	}
	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = false
	m.Compress = true
	size := dns.MinMsgSize
	do := false
	if opt := req.IsEdns0(); opt != nil {
		if opt.Version() != 0 {
			m.SetRcode(req, dns.RcodeBadVers)
			m.SetEdns0(maxUDP, false)
			return m, size
		}
		size = min(max(int(opt.UDPSize()), dns.MinMsgSize), maxUDP)
		do = opt.Do()
		defer m.SetEdns0(maxUDP, do) // RFC 3225: the DO bit is copied
	}
	if req.Opcode != dns.OpcodeQuery {
		m.SetRcode(req, dns.RcodeNotImplemented)
		return m, size
	}
	if len(req.Question) != 1 {
		m.SetRcode(req, dns.RcodeFormatError)
		return m, size
	}
	q := req.Question[0]
	z := s.zones.Load()
	if z == nil {
		m.SetRcode(req, dns.RcodeServerFailure)
		return m, size
	}
	if q.Qclass != dns.ClassINET {
		m.SetRcode(req, dns.RcodeRefused)
		return m, size
	}
	var name string
	var zn *zone
	if s.challenge(m, q, z) {
		name = strings.ToLower(q.Name)
		zn = z.findZone(name)
	} else {
		name, zn = z.resolve(m, q)
	}
	if do {
		z.addDNSSEC(m, name, zn)
	}
	return m, size
}
