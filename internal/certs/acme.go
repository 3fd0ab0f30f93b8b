package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3"
	"github.com/mholt/acmez/v3/acme"

	"boxmail/internal/safefile"
)

// ACMEOptions say where ACME certificates come from and how the CA's
// challenges are answered. The storage directory is Options.ACMEDir.
type ACMEOptions struct {
	// Roots are the certificates to trust when talking to the CA over
	// HTTPS (a test CA); nil: the system's.
	Roots *x509.CertPool
	// Email is the account's contact address (optional).
	Email string
	// Names are the names to hold a certificate for (one each).
	Names []string
	// DNS answers DNS-01 in the box's own zones; nil: no DNS-01.
	DNS Challenger
	// HTTP and TLSALPN say the box serves port 80 (HTTP-01, through
	// HandleHTTPChallenge) and port 443 (TLS-ALPN-01, through
	// GetCertificate) to the CA.
	HTTP, TLSALPN bool
	// ListenHost, HTTPPort and HTTPSPort are where the box's own web
	// server listens: the challenges are answered there, and the ACME
	// library never opens a listener of its own.
	ListenHost          string
	HTTPPort, HTTPSPort int
	// RenewalFailed, if set, is told once when a renewal fails (again
	// only after a success): the admins' mailbox gets one message, not
	// one per retry.
	RenewalFailed func(name, msg string)
	// RenewCheck is how often certificates are checked for renewal
	// (default 10 minutes). Each is renewed at 2/3 of its lifetime (or
	// when the CA's renewal information says so), retried with backoff.
	RenewCheck time.Duration
}

// Challenger writes the TXT records of DNS-01 into the zones the box
// serves (dnsd.Server).
type Challenger interface {
	AddChallenge(name, value string)
	RemoveChallenge(name, value string)
}

// renewRatio is the part of a certificate's lifetime left when it is
// renewed: 1/3, so renewal starts at 2/3 of the lifetime.
const renewRatio = 1.0 / 3.0

// acmeState is a running ACME client: certmagic's cache and config.
type acmeState struct {
	cfg    *certmagic.Config
	cache  *certmagic.Cache
	cancel context.CancelFunc
	ctx    context.Context
	http   *certmagic.ACMEIssuer // the issuer that answers HTTP-01, if any
	status *statusFile

	mu    sync.Mutex
	names []string // the names managed
}

// StartACME starts getting and renewing certificates for o.Names in the
// background: it never blocks on the CA, and until a name has its
// certificate the pair in the files is served for it. A pair installed
// by hand (anything but the self-signed pair init wrote) is served instead of every ACME certificate
// while it is in the files.
func (m *Manager) StartACME(o ACMEOptions) error {
	if m.o.ACMEDir == "" || m.o.ACMECA == "" {
		return errors.New("ACME needs a storage directory and a CA")
	}
	if o.DNS == nil && !o.HTTP && !o.TLSALPN {
		return errors.New("ACME has no way to answer the CA: the box serves neither DNS (dns_port), nor HTTP on port 80, nor HTTPS on port 443")
	}
	if o.RenewCheck <= 0 {
		o.RenewCheck = certmagic.DefaultRenewCheckInterval
	}
	zl := zapLogger(m.o.Logger)
	storage := m.acmeStorage()
	st := &acmeState{names: o.Names, status: &statusFile{storage: storage, log: m.o.Logger, notify: o.RenewalFailed}}
	var cfg *certmagic.Config
	st.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   func(certmagic.Certificate) (*certmagic.Config, error) { return cfg, nil },
		RenewCheckInterval: o.RenewCheck,
		OCSPCheckInterval:  24 * time.Hour,
		Logger:             zl,
	})
	cfg = certmagic.New(st.cache, certmagic.Config{
		// A renewal keeps the key: the box publishes DANE TLSA "3 1 1"
		// records (the key's hash) for its ports, which stay true across
		// renewals only so (the usual DANE practice, RFC 7671 8.1).
		ReusePrivateKeys:   true,
		RenewalWindowRatio: renewRatio,
		Storage:            storage,
		Logger:             zl,
		DefaultServerName:  m.o.Hostname,
		OCSP:               certmagic.OCSPConfig{DisableStapling: true},
		OnEvent:            st.status.event,
	})
	base := certmagic.ACMEIssuer{CA: m.o.ACMECA, Email: o.Email, Agreed: true, TrustedRoots: o.Roots, Logger: zl}
	var issuers []certmagic.Issuer
	if o.DNS != nil {
		dns := base
		dns.DNS01Solver = &dnsSolver{c: o.DNS, status: st.status}
		issuers = append(issuers, certmagic.NewACMEIssuer(cfg, dns))
	}
	if o.HTTP || o.TLSALPN {
		web := base
		web.DisableHTTPChallenge, web.DisableTLSALPNChallenge = !o.HTTP, !o.TLSALPN
		// Its own solver servers would bind these; they are the box's,
		// so it finds them taken and leaves the answers to the box's
		// handlers (HandleHTTPChallenge, GetCertificate).
		web.ListenHost, web.AltHTTPPort, web.AltTLSALPNPort = o.ListenHost, o.HTTPPort, o.HTTPSPort
		iss := certmagic.NewACMEIssuer(cfg, web)
		if o.HTTP {
			st.http = iss
		}
		issuers = append(issuers, iss)
	}
	cfg.Issuers = issuers
	st.cfg = cfg
	ctx, cancel := context.WithCancel(context.Background())
	st.ctx, st.cancel = ctx, cancel
	m.acme.Store(st)
	m.seedACMEKey(ctx, storage) // acmerotate.go
	go m.watchRotation(st)
	var errs []error
	for _, n := range o.Names { // one name's trouble never stops the others
		m.setAsideBroken(n)
		if err := cfg.ManageAsync(ctx, []string{n}); err != nil {
			errs = append(errs, fmt.Errorf("ACME: %w", err))
		}
	}
	return errors.Join(errs...)
}

// wholePEM tells whether data is PEM blocks and nothing else (a file
// cut short leaves a partial block behind the complete ones).
func wholePEM(data []byte) bool {
	rest := data
	for {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
	}
	return len(bytes.TrimSpace(rest)) == 0 && len(rest) < len(data)
}

// setAsideBroken renames a stored certificate of name that does not
// load (a half-written or damaged file: certmagic would refuse to
// manage the name) so that a new one is obtained.
func (m *Manager) setAsideBroken(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ik := issuerKey(m.o.ACMECA)
	storage := m.acmeStorage()
	certKey, keyKey := certmagic.StorageKeys.SiteCert(ik, name), certmagic.StorageKeys.SitePrivateKey(ik, name)
	c, cerr := storage.Load(ctx, certKey)
	k, kerr := storage.Load(ctx, keyKey)
	if errors.Is(cerr, fs.ErrNotExist) && (errors.Is(kerr, fs.ErrNotExist) || kerr == nil && wholePEM(k)) {
		return // nothing yet, or only the key of the first certificate (seedACMEKey)
	}
	if cerr == nil && kerr == nil && wholePEM(c) && wholePEM(k) {
		if _, err := tls.X509KeyPair(c, k); err == nil {
			return
		}
	}
	dir := path.Dir(certKey)
	aside := dir + ".broken-" + time.Now().UTC().Format("20060102T150405")
	var err error
	if s := m.shared.Load(); s != nil {
		err = s.move(ctx, dir, aside)
	} else {
		err = os.Rename(filepath.Join(m.o.ACMEDir, filepath.FromSlash(dir)), filepath.Join(m.o.ACMEDir, filepath.FromSlash(aside)))
	}
	if m.o.Logger != nil {
		m.o.Logger.Warn("ACME: the stored certificate does not load; getting a new one", "name", name, "moved_to", aside, "err", err)
	}
}

// ManageNames adds the names not yet held (a domain added while the box
// runs) and starts getting their certificates in the background.
func (m *Manager) ManageNames(names []string) error {
	st := m.acme.Load()
	if st == nil {
		return nil
	}
	st.mu.Lock()
	var added []string
	for _, n := range names {
		if !slices.Contains(st.names, n) {
			added = append(added, n)
		}
	}
	st.names = append(st.names, added...)
	st.mu.Unlock()
	if len(added) == 0 {
		return nil
	}
	if m.o.Logger != nil {
		m.o.Logger.Info("ACME: new names", "names", strings.Join(added, " "))
	}
	return st.cfg.ManageAsync(st.ctx, added)
}

// StopACME stops renewals (serve's shutdown).
func (m *Manager) StopACME() {
	if st := m.acme.Swap(nil); st != nil {
		st.cancel()
		st.cache.Stop()
	}
}

// HandleHTTPChallenge answers an HTTP-01 request of the CA (on port
// 80) and tells whether it did.
func (m *Manager) HandleHTTPChallenge(w http.ResponseWriter, r *http.Request) bool {
	st := m.acme.Load()
	if st == nil || st.http == nil || !strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
		return false
	}
	if st.http.HandleHTTPChallenge(w, r) {
		st.status.presented(hostOnly(r.Host), "http-01")
		return true
	}
	return false
}

// acmeCert returns the ACME certificate to serve for a TLS handshake:
// the newest valid one for its server name, else the hostname's; nil
// when there is none (yet).
func (st *acmeState) acmeCert(hello *tls.ClientHelloInfo) *tls.Certificate {
	var name string
	if hello != nil {
		name = strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	}
	if c := newest(st.cache.AllMatchingCertificates(name)); c != nil {
		return c
	}
	return newest(st.cache.AllMatchingCertificates(st.cfg.DefaultServerName))
}

func newest(cs []certmagic.Certificate) *tls.Certificate {
	var best *tls.Certificate
	now := time.Now()
	for i := range cs {
		c := &cs[i].Certificate
		if c.Leaf == nil || now.After(c.Leaf.NotAfter) {
			continue
		}
		if best == nil || c.Leaf.NotAfter.After(best.Leaf.NotAfter) {
			best = c
		}
	}
	return best
}

// challengeHello is a TLS-ALPN-01 handshake of the CA (RFC 8737 3).
func challengeHello(hello *tls.ClientHelloInfo) bool {
	return hello != nil && hello.ServerName != "" && len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == acmez.ACMETLS1Protocol
}

// dnsSolver answers DNS-01 in the box's own zones: the record is served
// the moment it is added, so there is nothing to wait for.
type dnsSolver struct {
	c      Challenger
	status *statusFile
}

var _ acmez.Solver = (*dnsSolver)(nil)

func (s *dnsSolver) Present(_ context.Context, ch acme.Challenge) error {
	s.c.AddChallenge(ch.DNS01TXTRecordName(), ch.DNS01KeyAuthorization())
	s.status.presented(ch.Identifier.Value, "dns-01")
	return nil
}

func (s *dnsSolver) CleanUp(_ context.Context, ch acme.Challenge) error {
	s.c.RemoveChallenge(ch.DNS01TXTRecordName(), ch.DNS01KeyAuthorization())
	return nil
}

// durableStorage is certmagic's file storage (its layout and its locks,
// which keep two processes from renewing one certificate at once) with
// every write made durable and private by safefile.
type durableStorage struct {
	*certmagic.FileStorage
}

func (s *durableStorage) Store(_ context.Context, key string, value []byte) error {
	return safefile.Write(s.Filename(key), value, 0o600)
}

func hostOnly(hostport string) string {
	h := hostport
	if i := strings.LastIndexByte(h, ':'); i > 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	return strings.ToLower(strings.Trim(h, "[]"))
}

// issuerKey is the storage folder of the CA's certificates.
func issuerKey(ca string) string { return (&certmagic.ACMEIssuer{CA: ca}).IssuerKey() }

// storedLeaf reads the stored ACME certificate of name (nil: none).
func (m *Manager) storedLeaf(name string) *x509.Certificate {
	if m.o.ACMEDir == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	data, err := m.acmeStorage().Load(ctx, certmagic.StorageKeys.SiteCert(issuerKey(m.o.ACMECA), name))
	if err != nil {
		return nil
	}
	chain := parseChain(data)
	if len(chain) == 0 {
		return nil
	}
	return chain[0]
}

// Share keeps the certificates the same on every node when st is
// shared by several nodes (st.Shared): ACME's account, certificates and
// keys live in st (its cert_files table) instead of ACMEDir, so every
// node serves the certificate one node obtained, and certmagic's locks
// (leases in st) let one node at a time order or renew it; the pair in
// the files and a staged pair are mirrored through st (mirror.go). The
// serving process calls it before Load and StartACME.
func (m *Manager) Share(st SharedStore) {
	if st.Shared() {
		m.shared.Store(newStoreStorage(st))
		m.mirror.Store(&mirror{st: st, seen: map[string]time.Time{}})
		m.syncShared(true)
		m.mu.Lock()
		loaded := m.cert != nil
		m.mu.Unlock()
		if err := m.reload(); loaded && err != nil && m.o.Logger != nil {
			m.o.Logger.Warn("TLS certificate of the other nodes does not load; serving this node's", "err", err)
		}
	}
}

// ReadACMEFrom reads ACME's certificates from st when several nodes
// share it (their storage, Share): what a command shows and checks
// (status, the TLSA records) is then the box's, not this data dir's.
func (m *Manager) ReadACMEFrom(st SharedStore) {
	if st.Shared() {
		m.shared.Store(newStoreStorage(st))
	}
}

// acmeStorage is where ACME keeps its files: the shared store's, or
// ACMEDir.
func (m *Manager) acmeStorage() certmagic.Storage {
	if s := m.shared.Load(); s != nil {
		return s
	}
	return &durableStorage{FileStorage: &certmagic.FileStorage{Path: m.o.ACMEDir}}
}

// sharedChallenger writes the DNS-01 records of an order into a store
// several nodes share as well as into this node's DNS server: the CA
// may ask any node's DNS server, and each serves the store's records
// (dnsd Options.SharedChallenges) from its next poll on.
type sharedChallenger struct {
	st    SharedStore
	local Challenger
	log   *slog.Logger
}

// ShareChallenges is the Challenger of a node of several: local (its
// DNS server) and st.
func ShareChallenges(st SharedStore, local Challenger, log *slog.Logger) Challenger {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return sharedChallenger{st: st, local: local, log: log}
}

// challengeLife bounds how long a shared challenge record is served if
// the node that added it dies before removing it; challengeSpread is
// how long the other nodes are given to serve a new one (their DNS
// servers poll the store's generation every 250 ms) before the CA is
// told to look.
const (
	challengeLife   = time.Hour
	challengeSpread = 2 * time.Second
)

func (c sharedChallenger) AddChallenge(name, value string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.local.AddChallenge(name, value)
	if err := c.st.AddACMEChallenge(ctx, fqdn(name), value, time.Now().Add(challengeLife)); err != nil {
		c.log.Warn("ACME: the DNS-01 record is served by this node only", "name", name, "err", err)
		return
	}
	time.Sleep(challengeSpread)
}

func (c sharedChallenger) RemoveChallenge(name, value string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.st.RemoveACMEChallenge(ctx, fqdn(name), value); err != nil {
		c.log.Warn("ACME: removing the shared DNS-01 record (it goes within an hour)", "name", name, "err", err)
	}
	c.local.RemoveChallenge(name, value)
}

// fqdn is name with its trailing dot.
func fqdn(name string) string { return strings.TrimSuffix(name, ".") + "." }
