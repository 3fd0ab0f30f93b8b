package main

// The box's TLS certificate: a GetCertificate that follows the files
// named by tls_cert and tls_key (so a certificate replaced by
// 'boxmail tls install', the admin panel or a renewal script is served at
// the next handshake, without a restart), and the one function that
// checks and installs a new pair.

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"boxmail/internal/admin"
	"boxmail/internal/config"
	"boxmail/internal/dnsrecords"
)

// certFiles serves the certificate in the tls_cert/tls_key files and
// reloads it when either file changes (checked with a stat at most once
// a second). A pair that does not load (say, the cert written and the key
// not yet) keeps the previous certificate in use and is tried again.
type certFiles struct {
	dir      string
	cfg      config.Config
	log      *slog.Logger
	certPath string
	keyPath  string

	mu        sync.Mutex
	cert      *tls.Certificate
	trusted   bool
	certStat  os.FileInfo
	keyStat   os.FileInfo
	lastCheck time.Time
}

// loadCertFiles loads the pair once; an error here stops serve.
func loadCertFiles(dir string, cfg config.Config, log *slog.Logger) (*certFiles, error) {
	c := &certFiles{dir: dir, cfg: cfg, log: log, certPath: config.Path(dir, cfg.TLSCert), keyPath: config.Path(dir, cfg.TLSKey)}
	if err := c.reload(); err != nil {
		return nil, fmt.Errorf("loading TLS certificate: %w", err)
	}
	return c, nil
}

// reload reads the pair if the files changed since the last load.
func (c *certFiles) reload() error {
	cs, err := os.Stat(c.certPath)
	if err != nil {
		return err
	}
	ks, err := os.Stat(c.keyPath)
	if err != nil {
		return err
	}
	c.mu.Lock()
	same := c.cert != nil && sameFile(c.certStat, cs) && sameFile(c.keyStat, ks)
	c.mu.Unlock()
	if same {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(c.certPath, c.keyPath)
	if err != nil {
		return err
	}
	trusted := false
	if cr := checkCert(c.dir, c.cfg); len(cr) > 0 && cr[0].Level == dnsrecords.OK {
		trusted = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	changed := c.cert != nil
	c.cert, c.trusted, c.certStat, c.keyStat = &cert, trusted, cs, ks
	if changed && c.log != nil {
		c.log.Info("TLS certificate reloaded", "subject", cert.Leaf.Subject.CommonName, "not_after", cert.Leaf.NotAfter.UTC().Format(time.DateOnly), "trusted", trusted)
	}
	return nil
}

func sameFile(a, b os.FileInfo) bool {
	return a != nil && b != nil && os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

// current returns the certificate to serve, checking the files first
// (at most once a second).
func (c *certFiles) current() *tls.Certificate {
	c.mu.Lock()
	check := time.Since(c.lastCheck) >= time.Second
	if check {
		c.lastCheck = time.Now()
	}
	c.mu.Unlock()
	if check {
		if err := c.reload(); err != nil && c.log != nil {
			c.log.Warn("TLS certificate files changed but do not load; serving the previous one", "err", err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cert
}

// GetCertificate is the tls.Config hook.
func (c *certFiles) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.current(), nil
}

// Leaf returns the certificate in use and whether clients trust it for
// the hostname (the web's MTA-STS mode and HSTS follow it).
func (c *certFiles) Leaf() (*x509.Certificate, bool) {
	cert := c.current()
	c.mu.Lock()
	defer c.mu.Unlock()
	if cert == nil {
		return nil, false
	}
	return cert.Leaf, c.trusted
}

// Installed reloads at once (after installCert in this process).
func (c *certFiles) Installed() error {
	c.mu.Lock()
	c.lastCheck = time.Now()
	c.mu.Unlock()
	return c.reload()
}

// TLSConfig is the server config all listeners share.
func (c *certFiles) TLSConfig() *tls.Config {
	return &tls.Config{GetCertificate: c.GetCertificate, MinVersion: tls.VersionTLS12}
}

// installCert checks a PEM certificate chain and private key and writes
// them, each durably (writeFileSync), to the configured tls_key and
// tls_cert files: key first, so a reader between the two writes sees a
// pair that does not match and keeps the old one. Problems with the
// input are *admin.InputError (one line, never the key).
func installCert(dir string, cfg config.Config, certPEM, keyPEM []byte, now time.Time) (*x509.Certificate, error) {
	bad := func(format string, a ...any) error { return &admin.InputError{Msg: fmt.Sprintf(format, a...)} }
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
			return nil, bad("the certificate does not parse: %v", err)
		}
	}
	if err := leaf.VerifyHostname(cfg.Hostname); err != nil {
		return nil, bad("the certificate is not valid for %s (it names %s)", cfg.Hostname, certNames(leaf))
	}
	if now.After(leaf.NotAfter) {
		return nil, bad("the certificate expired on %s", leaf.NotAfter.UTC().Format(time.DateOnly))
	}
	if now.Before(leaf.NotBefore) {
		return nil, bad("the certificate is not valid before %s", leaf.NotBefore.UTC().Format(time.DateOnly))
	}
	if err := writeFileSync(config.Path(dir, cfg.TLSKey), keyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("writing the TLS key: %w", err)
	}
	if err := writeFileSync(config.Path(dir, cfg.TLSCert), certPEM, 0o644); err != nil {
		return nil, fmt.Errorf("writing the TLS certificate: %w", err)
	}
	return leaf, nil
}

func certNames(c *x509.Certificate) string {
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

// cmdTLS: 'boxmail tls show' and 'boxmail tls install --cert F --key F'.
func cmdTLS(e *env, args []string) error {
	sub, args, err := subcommand(args, "tls", "show", "install")
	if err != nil {
		return err
	}
	var dir, certFile, keyFile string
	fs := newFlags(e, "tls "+sub, &dir)
	if sub == "install" {
		fs.StringVar(&certFile, "cert", "", "PEM certificate chain, leaf first (required)")
		fs.StringVar(&keyFile, "key", "", "PEM private key (required)")
	}
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	cfg, err := config.Load(dir)
	if err != nil {
		return err
	}
	if sub == "install" {
		if certFile == "" || keyFile == "" {
			return usagef("--cert FILE and --key FILE are required")
		}
		certPEM, err := os.ReadFile(certFile)
		if err != nil {
			return fmt.Errorf("reading the certificate: %w", err)
		}
		keyPEM, err := os.ReadFile(keyFile)
		if err != nil {
			return fmt.Errorf("reading the key: %w", err)
		}
		leaf, err := installCert(dir, cfg, certPEM, keyPEM, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "installed the certificate for %s (until %s); a running boxmail serves it from its next connection\n", certNames(leaf), leaf.NotAfter.UTC().Format(time.DateOnly))
		return nil
	}
	for _, r := range checkCert(dir, cfg) {
		fmt.Fprintf(e.stdout, "%s: %s\n", r.Level, r.Found)
		if r.Fix != "" {
			fmt.Fprintf(e.stdout, "  fix: %s\n", r.Fix)
		}
	}
	return nil
}
