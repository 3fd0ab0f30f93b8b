// Package certs owns the box's TLS certificates and is asked by every
// TLS listener (TLSConfig): which certificate a handshake gets, and
// whether clients trust it (MTA-STS mode, HSTS, /setup follow it).
//
// Two sources, in this order:
//
//   - the pair in the files named by tls_cert and tls_key when it was
//     installed by hand ('boxmail tls install', the admin panel's TLS
//     page, or a renewal script): followed at the next handshake, without
//     a restart. The self-signed pair that init and quickstart write is
//     never "installed by hand": it is served only while nothing better
//     exists;
//   - ACME (RFC 8555, on github.com/caddyserver/certmagic) when acme = on:
//     a certificate for each name the box answers to (the hostname, and
//     autoconfig., autodiscover., mta-sts. of each domain), obtained in
//     the background through DNS-01 answered by the box's own DNS server
//     (RFC 8555 8.4; no port 80 or 443 needed), else HTTP-01 on port 80
//     or TLS-ALPN-01 on 443 (RFC 8737), renewed at 2/3 of its lifetime
//     (or when the CA's renewal information, RFC 9773, says), retried
//     with backoff; a failed renewal keeps the old certificate.
//
// On disk, under the data dir: the pair in tls_cert/tls_key; ACME's
// account keys, certificates and keys under acme/ (certmagic's layout,
// each file 0600 and written through safefile; certmagic's lock files
// keep two processes from renewing one certificate at once), and
// acme/boxmail-status.json, how each name was last obtained or why it
// failed, for 'boxmail status'. On a store several nodes share
// (PostgreSQL, Share), ACME's account keys, certificates and keys are in
// the store instead (storage.go), so one node obtains and renews each
// certificate and every node serves it, and the pair in the files and a
// staged pair are mirrored through the store (mirror.go), so every node
// serves the same one and the box publishes one TLSA RRset.
//
// It is not a TLS server, and not a DNS server: DNS-01 records go into
// the zones through the Challenger the caller passes (dnsd).
package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"boxmail/internal/safefile"
)

// Options say where the pair lives and which name it must be valid for.
type Options struct {
	CertFile string // PEM chain, leaf first (absolute path)
	KeyFile  string // PEM private key (absolute path)
	Hostname string // the box's host name: a pair must be valid for it
	Logger   *slog.Logger
	// Now is the clock of the checks (default time.Now).
	Now func() time.Time
	// NextDir is where a pair waits for its TLSA to be published before
	// it is served (next.go); empty: pairs are installed at once.
	NextDir string
	// ACMEDir is where ACME keeps its account and certificates, and
	// ACMECA the CA's directory URL; empty when ACME is off.
	ACMEDir, ACMECA string
}

// InputError is a pair a person must correct (its message is one line
// and never shows the key).
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

// Manager serves and installs the pair. The zero state serves nothing:
// Load reads the pair (serve); commands that only check or install a
// pair need no Load.
type Manager struct {
	o Options

	acme   atomic.Pointer[acmeState]    // running ACME client (acme.go), nil when off
	shared atomic.Pointer[storeStorage] // ACME's storage in a shared store (storage.go), nil: ACMEDir
	mirror atomic.Pointer[mirror]       // the pair and the staged one kept the same on every node (mirror.go)

	mu        sync.Mutex
	cert      *tls.Certificate
	trusted   bool
	generated bool // the pair in the files is the self-signed one init wrote: not installed by hand
	certStat  os.FileInfo
	keyStat   os.FileInfo
	lastCheck time.Time
}

// New returns a Manager of the pair in o's files.
func New(o Options) *Manager {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Manager{o: o}
}

// Load reads the pair once; a server that cannot load it must not start.
func (m *Manager) Load() error {
	m.syncShared(true) // mirror.go
	if err := m.reload(); err != nil {
		return fmt.Errorf("loading TLS certificate: %w", err)
	}
	return nil
}

// reload reads the pair if the files changed since the last load. A pair
// that does not load (the cert written and the key not yet) keeps the
// previous certificate in use.
func (m *Manager) reload() error {
	cs, err := os.Stat(m.o.CertFile)
	if err != nil {
		return err
	}
	ks, err := os.Stat(m.o.KeyFile)
	if err != nil {
		return err
	}
	m.mu.Lock()
	same := m.cert != nil && sameFile(m.certStat, cs) && sameFile(m.keyStat, ks)
	m.mu.Unlock()
	if same {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(m.o.CertFile, m.o.KeyFile)
	if err != nil {
		return err
	}
	trusted := m.Trusted()
	m.mu.Lock()
	defer m.mu.Unlock()
	changed := m.cert != nil
	m.cert, m.trusted, m.certStat, m.keyStat = &cert, trusted, cs, ks
	m.generated = isGenerated(cert.Leaf)
	if changed && m.o.Logger != nil {
		m.o.Logger.Info("TLS certificate reloaded", "subject", cert.Leaf.Subject.CommonName, "not_after", cert.Leaf.NotAfter.UTC().Format(time.DateOnly), "trusted", trusted)
	}
	return nil
}

func sameFile(a, b os.FileInfo) bool {
	return a != nil && b != nil && os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

// current returns the certificate to serve, checking the files first (at
// most once a second).
func (m *Manager) current() *tls.Certificate {
	m.mu.Lock()
	check := time.Since(m.lastCheck) >= time.Second
	if check {
		m.lastCheck = time.Now()
	}
	m.mu.Unlock()
	if check {
		m.syncShared(false) // mirror.go
		if err := m.reload(); err != nil && m.o.Logger != nil {
			m.o.Logger.Warn("TLS certificate files changed but do not load; serving the previous one", "err", err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cert
}

// GetCertificate is the tls.Config hook: the pair installed by hand,
// else the ACME certificate of the name asked for (or of the hostname),
// else the self-signed pair. A TLS-ALPN-01 handshake of the CA gets its
// challenge certificate.
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	st := m.acme.Load()
	if st != nil && challengeHello(hello) {
		st.status.presented(hello.ServerName, "tls-alpn-01")
		return st.cfg.GetCertificate(hello)
	}
	cert := m.current()
	if st != nil && m.fileIsFallback(cert) {
		if c := st.acmeCert(hello); c != nil {
			return c, nil
		}
	}
	return cert, nil
}

// fileIsFallback tells whether the pair in the files yields to ACME
// (it is the generated self-signed pair, or missing).
func (m *Manager) fileIsFallback(cert *tls.Certificate) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return cert == nil || m.generated
}

// Leaf returns the hostname's certificate in use and whether it is one
// clients can trust: installed by hand and passing Check, or issued by
// the ACME CA (the web's MTA-STS mode, HSTS and /setup follow it).
func (m *Manager) Leaf() (*x509.Certificate, bool) {
	cert := m.current()
	if st := m.acme.Load(); st != nil && m.fileIsFallback(cert) {
		if c := st.acmeCert(&tls.ClientHelloInfo{ServerName: m.o.Hostname}); c != nil {
			return c.Leaf, true
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if cert == nil {
		return nil, false
	}
	return cert.Leaf, m.trusted
}

// TLSConfig is the server config all listeners share. A TLS-ALPN-01
// handshake of the CA negotiates acme-tls/1 (RFC 8737 3).
func (m *Manager) TLSConfig() *tls.Config {
	return &tls.Config{GetCertificate: m.GetCertificate, MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			if m.acme.Load() == nil || !challengeHello(hello) {
				return nil, nil
			}
			return &tls.Config{GetCertificate: m.GetCertificate, MinVersion: tls.VersionTLS12, NextProtos: []string{hello.SupportedProtos[0]}}, nil
		}}
}

// isGenerated tells whether a certificate is the self-signed one that
// init and quickstart write (SelfSigned: signed by its own key, under
// its own name, with the organisation selfSignedOrg). A self-signed
// certificate someone installs by hand is theirs, and is served.
func isGenerated(c *x509.Certificate) bool {
	return c != nil && slices.Contains(c.Subject.Organization, selfSignedOrg) && bytes.Equal(c.RawIssuer, c.RawSubject) &&
		c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// Install checks a PEM certificate chain and private key and writes them,
// each durably, to the key file and then the cert file: key first, so a
// reader between the two writes sees a pair that does not match and
// keeps the old one. A loaded Manager serves the new pair at once, and
// a pair staged before (next.go) is dropped: the one installed last wins.
// Problems with the input are *InputError.
func (m *Manager) Install(_ context.Context, certPEM, keyPEM []byte) (*x509.Certificate, error) {
	leaf, err := m.checkPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	if err := m.write(certPEM, keyPEM); err != nil {
		return nil, err
	}
	if err := m.Unstage(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	loaded := m.cert != nil
	m.lastCheck = time.Now()
	m.mu.Unlock()
	if loaded {
		if err := m.reload(); err != nil {
			return nil, err
		}
	}
	return leaf, nil
}

// write writes the pair durably, key first.
func (m *Manager) write(certPEM, keyPEM []byte) error {
	if err := safefile.Write(m.o.KeyFile, keyPEM, 0o600); err != nil {
		return fmt.Errorf("writing the TLS key: %w", err)
	}
	if err := safefile.Write(m.o.CertFile, certPEM, 0o644); err != nil {
		return fmt.Errorf("writing the TLS certificate: %w", err)
	}
	return nil
}

// checkPair returns the leaf of a pair that loads, matches, names the
// hostname and is valid now.
func (m *Manager) checkPair(certPEM, keyPEM []byte) (*x509.Certificate, error) {
	bad := func(format string, a ...any) error { return &InputError{Msg: fmt.Sprintf(format, a...)} }
	if len(strings.TrimSpace(string(certPEM))) == 0 {
		return nil, bad("the certificate is missing")
	}
	if len(strings.TrimSpace(string(keyPEM))) == 0 {
		return nil, bad("the private key is missing")
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "tls: ")
		switch {
		case strings.Contains(msg, "does not match"):
			return nil, bad("the private key does not belong to the certificate")
		case strings.Contains(msg, "certificate input"):
			return nil, bad("the certificate is not a PEM certificate (-----BEGIN CERTIFICATE-----)")
		case strings.Contains(msg, "key input") || strings.Contains(msg, "private key"):
			return nil, bad("the private key is not a PEM private key (-----BEGIN PRIVATE KEY-----)")
		}
		return nil, bad("the certificate and key do not load: %s", msg)
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, bad("the certificate does not parse: %s", err)
		}
	}
	if err := leaf.VerifyHostname(m.o.Hostname); err != nil {
		return nil, bad("the certificate is not valid for %s (it names %s)", m.o.Hostname, Names(leaf))
	}
	now := m.o.Now()
	if now.After(leaf.NotAfter) {
		return nil, bad("the certificate expired on %s", leaf.NotAfter.UTC().Format(time.DateOnly))
	}
	if now.Before(leaf.NotBefore) {
		return nil, bad("the certificate is not valid before %s", leaf.NotBefore.UTC().Format(time.DateOnly))
	}
	return leaf, nil
}

// Names lists the names a certificate is valid for, for messages.
func Names(c *x509.Certificate) string {
	var n []string
	n = append(n, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		n = append(n, ip.String())
	}
	if len(n) == 0 && c.Subject.CommonName != "" {
		n = append(n, c.Subject.CommonName)
	}
	if len(n) == 0 {
		return "no name"
	}
	return strings.Join(n, ", ")
}
