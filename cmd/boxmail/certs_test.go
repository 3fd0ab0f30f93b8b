package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
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

	"boxmail/internal/admin"
	"boxmail/internal/config"
)

func testPair(t *testing.T, name string, notBefore, notAfter time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: notBefore, NotAfter: notAfter, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

func TestInstallCertChecksThePairAndCertFilesFollowsIt(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default("box.example.net")
	now := time.Now()
	c0, k0 := testPair(t, "box.example.net", now.Add(-time.Hour), now.Add(24*time.Hour))
	if _, err := installCert(dir, cfg, c0, k0, now); err != nil {
		t.Fatal(err)
	}
	certs, err := loadCertFiles(dir, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := certs.Leaf()

	good, goodKey := testPair(t, "box.example.net", now.Add(-time.Hour), now.Add(90*24*time.Hour))
	_, otherKey := testPair(t, "box.example.net", now.Add(-time.Hour), now.Add(90*24*time.Hour))
	wrongName, wrongNameKey := testPair(t, "other.example", now.Add(-time.Hour), now.Add(90*24*time.Hour))
	expired, expiredKey := testPair(t, "box.example.net", now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	for _, c := range []struct {
		name       string
		cert, key  []byte
		wantSubstr string
	}{
		{"key of another cert", good, otherKey, "does not belong"},
		{"other host", wrongName, wrongNameKey, "not valid for box.example.net (it names other.example)"},
		{"expired", expired, expiredKey, "expired on"},
		{"garbage cert", []byte("hello"), goodKey, "not a PEM certificate"},
		{"garbage key", good, []byte("hello"), "not a PEM private key"},
		{"no key", good, nil, "private key is missing"},
	} {
		_, err := installCert(dir, cfg, c.cert, c.key, now)
		var ie *admin.InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), c.wantSubstr) {
			t.Errorf("%s: %v, want an input error mentioning %q", c.name, err, c.wantSubstr)
		}
		if err != nil && strings.Contains(err.Error(), "PRIVATE KEY-----\n") {
			t.Errorf("%s: the error shows the key", c.name)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, cfg.TLSCert)); string(b) != string(c0) {
		t.Fatal("a refused pair changed the certificate file")
	}
	if _, err := installCert(dir, cfg, good, goodKey, now); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, cfg.TLSKey)); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", fi.Mode().Perm())
	}
	if err := certs.Installed(); err != nil {
		t.Fatal(err)
	}
	c, err := certs.GetCertificate(nil)
	if err != nil || c.Leaf.Equal(first) || c.Leaf.NotAfter.Before(now.Add(80*24*time.Hour)) {
		t.Fatalf("GetCertificate after install serves %v (err %v), want the new certificate", c.Leaf.NotAfter, err)
	}
	// A half-written pair (new cert, old key) keeps the previous one.
	c2, _ := testPair(t, "box.example.net", now.Add(-time.Hour), now.Add(30*24*time.Hour))
	os.WriteFile(filepath.Join(dir, cfg.TLSCert), c2, 0o644)
	if err := certs.Installed(); err == nil {
		t.Error("a mismatched pair loaded")
	}
	if c, _ := certs.GetCertificate(nil); c.Leaf.NotAfter.Before(now.Add(80 * 24 * time.Hour)) {
		t.Error("a mismatched pair replaced the certificate in use")
	}
}
