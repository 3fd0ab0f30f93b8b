package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"boxmail/internal/dnsrecords"
)

// testCA issues certificates the way an ACME CA would: a leaf signed by
// a CA key, so it is not self-signed.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T) *testCA {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Intermediate"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: c, key: key}
}

// issue returns a PEM leaf and key for names, valid from nb to na.
func (ca *testCA) issue(t *testing.T, nb, na time.Time, names ...string) (certPEM, keyPEM []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: nb, NotAfter: na, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// fakeACME is an ACME state whose cache holds the given pairs, as if
// certmagic had obtained them.
func fakeACME(t *testing.T, m *Manager, pairs ...[2][]byte) {
	var cfg *certmagic.Config
	cache := certmagic.NewCache(certmagic.CacheOptions{GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return cfg, nil }})
	t.Cleanup(cache.Stop)
	cfg = certmagic.New(cache, certmagic.Config{DefaultServerName: m.o.Hostname, Storage: &certmagic.FileStorage{Path: t.TempDir()}})
	for _, p := range pairs {
		if _, err := cfg.CacheUnmanagedCertificatePEMBytes(context.Background(), p[0], p[1], nil); err != nil {
			t.Fatal(err)
		}
	}
	m.acme.Store(&acmeState{cfg: cfg, cache: cache, cancel: func() {}, status: &statusFile{}})
}

func serialOf(t *testing.T, c *tls.Certificate) *big.Int {
	t.Helper()
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf.SerialNumber
}

// TestACMECertificatesReplaceOnlyTheSelfSignedPair: the self-signed
// pair yields to ACME (by server name, the hostname's when none
// matches); a pair installed by hand wins over ACME until removed.
func TestACMECertificatesReplaceOnlyTheSelfSignedPair(t *testing.T) {
	now := time.Now()
	m, _ := newManager(t, now)
	if err := m.WriteSelfSigned("box.example.net", "localhost"); err != nil {
		t.Fatal(err)
	}
	if err := m.Load(); err != nil {
		t.Fatal(err)
	}
	ca := newTestCA(t)
	hc, hk := ca.issue(t, now.Add(-time.Hour), now.Add(90*24*time.Hour), "box.example.net")
	mc, mk := ca.issue(t, now.Add(-time.Hour), now.Add(90*24*time.Hour), "mta-sts.example.net")
	fakeACME(t, m, [2][]byte{hc, hk}, [2][]byte{mc, mk})
	hostLeaf, _ := tls.X509KeyPair(hc, hk)
	mtaLeaf, _ := tls.X509KeyPair(mc, mk)
	for sni, want := range map[string]*tls.Certificate{"box.example.net": &hostLeaf, "MTA-STS.example.net": &mtaLeaf, "": &hostLeaf, "127.0.0.1": &hostLeaf} {
		got, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: sni})
		if err != nil || serialOf(t, got).Cmp(serialOf(t, want)) != 0 {
			t.Errorf("SNI %q: got another certificate (%v)", sni, err)
		}
	}
	if got, err := m.GetCertificate(nil); err != nil || serialOf(t, got).Cmp(serialOf(t, &hostLeaf)) != 0 {
		t.Errorf("no hello: not the hostname's ACME certificate (%v)", err)
	}
	if leaf, trusted := m.Leaf(); !trusted || leaf.Issuer.CommonName != "Test Intermediate" {
		t.Errorf("Leaf with an ACME certificate: %v trusted %v", leaf.Subject, trusted)
	}

	// Installed by hand: it wins for every name.
	ic, ik := ca.issue(t, now.Add(-time.Hour), now.Add(60*24*time.Hour), "box.example.net")
	if _, err := m.Install(context.Background(), ic, ik); err != nil {
		t.Fatal(err)
	}
	inst, _ := tls.X509KeyPair(ic, ik)
	for _, sni := range []string{"box.example.net", "mta-sts.example.net"} {
		got, _ := m.GetCertificate(&tls.ClientHelloInfo{ServerName: sni})
		if serialOf(t, got).Cmp(serialOf(t, &inst)) != 0 {
			t.Errorf("SNI %s: the certificate installed by hand is not served", sni)
		}
	}
	// Removed (back to a self-signed pair): ACME again.
	time.Sleep(1100 * time.Millisecond) // the files are checked at most once a second
	if err := m.WriteSelfSigned("box.example.net"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	got, _ := m.GetCertificate(&tls.ClientHelloInfo{ServerName: "box.example.net"})
	if serialOf(t, got).Cmp(serialOf(t, &hostLeaf)) != 0 {
		t.Error("after the hand-installed pair was replaced by a self-signed one, ACME's is not served")
	}
}

// TestChecksShowEachACMECertificate: one status line per name with its
// names, issuer, expiry, challenge and next renewal; warn at 14 days,
// fail at 3, warn after a failed renewal; a name without a certificate
// yet warns.
func TestChecksShowEachACMECertificate(t *testing.T) {
	now := time.Now()
	m, o := newManager(t, now)
	if err := m.WriteSelfSigned("box.example.net"); err != nil {
		t.Fatal(err)
	}
	acmeDir := filepath.Join(filepath.Dir(filepath.Dir(o.CertFile)), "acme")
	m.o.ACMEDir, m.o.ACMECA = acmeDir, "https://ca.example/dir"
	ca := newTestCA(t)
	store := func(name string, life time.Duration, left time.Duration) {
		c, _ := ca.issue(t, now.Add(left-life), now.Add(left), name)
		p := filepath.Join(acmeDir, filepath.FromSlash(certmagic.StorageKeys.SiteCert(issuerKey(m.o.ACMECA), name)))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, c, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	store("box.example.net", 90*24*time.Hour, 80*24*time.Hour)
	store("autoconfig.example.net", 90*24*time.Hour, 10*24*time.Hour)
	store("autodiscover.example.net", 90*24*time.Hour, 2*24*time.Hour)
	store("mta-sts.example.net", 90*24*time.Hour, 50*24*time.Hour)
	sf := &statusFile{storage: &durableStorage{FileStorage: &certmagic.FileStorage{Path: acmeDir}}}
	sf.presented("box.example.net", "dns-01")
	sf.event(context.Background(), "cert_obtained", map[string]any{"identifier": "box.example.net"})
	sf.presented("mta-sts.example.net", "dns-01")
	sf.event(context.Background(), "cert_obtained", map[string]any{"identifier": "mta-sts.example.net"})
	sf.event(context.Background(), "cert_failed", map[string]any{"identifier": "mta-sts.example.net", "renewal": true, "error": errors.New("connection refused")})

	res := m.Checks([]string{"box.example.net", "autoconfig.example.net", "autodiscover.example.net", "mta-sts.example.net", "mail.example.net"})
	want := []struct {
		level dnsrecords.Level
		found string
	}{
		{dnsrecords.OK, "box.example.net; issuer Test Intermediate; expires "},
		{dnsrecords.Warn, "challenge unknown; next renewal due now"},
		{dnsrecords.Fail, "autodiscover.example.net; issuer"},
		{dnsrecords.Warn, "renewal failed at "},
		{dnsrecords.Warn, "no certificate from https://ca.example/dir yet"},
	}
	if len(res) != len(want) {
		t.Fatalf("%d lines, want %d: %+v", len(res), len(want), res)
	}
	for i, w := range want {
		if res[i].Level != w.level || !strings.Contains(res[i].Found, w.found) {
			t.Errorf("line %d: %s %q, want %s with %q", i, res[i].Level, res[i].Found, w.level, w.found)
		}
	}
	if !strings.Contains(res[0].Found, "challenge dns-01; next renewal ") || !strings.Contains(res[3].Found, "connection refused") {
		t.Errorf("lines: %q / %q", res[0].Found, res[3].Found)
	}
	if !m.Trusted() {
		t.Error("a valid ACME certificate for the hostname is not trusted (MTA-STS would stay in testing)")
	}
}

func TestWholePEM(t *testing.T) {
	ca := newTestCA(t)
	c, k := ca.issue(t, time.Now(), time.Now().Add(time.Hour), "box.example.net")
	chain := append(append([]byte{}, c...), c...)
	for _, x := range []struct {
		data []byte
		want bool
	}{{c, true}, {k, true}, {chain, true}, {chain[:len(chain)-10], false}, {chain[:len(c)+20], false}, {nil, false}, {[]byte("junk"), false}} {
		if got := wholePEM(x.data); got != x.want {
			t.Errorf("wholePEM(%d bytes) = %v, want %v", len(x.data), got, x.want)
		}
	}
}
