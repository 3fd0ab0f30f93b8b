// Package certs owns the box's TLS certificate: the pair in the files
// named by tls_cert and tls_key, served through a GetCertificate that
// follows the files (a pair replaced by 'boxmail tls install', the admin
// panel or a renewal script is served at the next handshake, without a
// restart), the checks and durable writes of a new pair, whether clients
// trust it, and the self-signed pair of a new box.
//
// It is not a TLS server (every listener takes TLSConfig) and not yet
// an ACME client (issue 15 grows it here).
package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
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

	mu        sync.Mutex
	cert      *tls.Certificate
	trusted   bool
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
		if err := m.reload(); err != nil && m.o.Logger != nil {
			m.o.Logger.Warn("TLS certificate files changed but do not load; serving the previous one", "err", err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cert
}

// GetCertificate is the tls.Config hook.
func (m *Manager) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return m.current(), nil
}

// Leaf returns the certificate in use and whether clients trust it for
// the hostname (the web's MTA-STS mode and HSTS follow it).
func (m *Manager) Leaf() (*x509.Certificate, bool) {
	cert := m.current()
	m.mu.Lock()
	defer m.mu.Unlock()
	if cert == nil {
		return nil, false
	}
	return cert.Leaf, m.trusted
}

// TLSConfig is the server config all listeners share.
func (m *Manager) TLSConfig() *tls.Config {
	return &tls.Config{GetCertificate: m.GetCertificate, MinVersion: tls.VersionTLS12}
}

// Install checks a PEM certificate chain and private key and writes them,
// each durably, to the key file and then the cert file: key first, so a
// reader between the two writes sees a pair that does not match and
// keeps the old one. A loaded Manager serves the new pair at once.
// Problems with the input are *InputError.
func (m *Manager) Install(_ context.Context, certPEM, keyPEM []byte) (*x509.Certificate, error) {
	leaf, err := m.checkPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	if err := m.write(certPEM, keyPEM); err != nil {
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
