package certs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"boxmail/internal/dnsrecords"
	"boxmail/internal/testutil"
)

func newManager(t *testing.T, now time.Time) (*Manager, Options) {
	dir := t.TempDir()
	o := Options{CertFile: filepath.Join(dir, "tls", "cert.pem"), KeyFile: filepath.Join(dir, "tls", "key.pem"),
		Hostname: "box.example.net", Now: func() time.Time { return now }}
	return New(o), o
}

func TestInstallChecksThePairAndTheManagerFollowsIt(t *testing.T) {
	now := time.Now()
	m, o := newManager(t, now)
	ctx := context.Background()
	c0, k0 := testutil.CertPEM(t, now.Add(-time.Hour), now.Add(24*time.Hour), "box.example.net")
	if _, err := m.Install(ctx, c0, k0); err != nil {
		t.Fatal(err)
	}
	if err := m.Load(); err != nil {
		t.Fatal(err)
	}
	first, _ := m.Leaf()

	good, goodKey := testutil.CertPEM(t, now.Add(-time.Hour), now.Add(90*24*time.Hour), "box.example.net")
	_, otherKey := testutil.CertPEM(t, now.Add(-time.Hour), now.Add(90*24*time.Hour), "box.example.net")
	wrongName, wrongNameKey := testutil.CertPEM(t, now.Add(-time.Hour), now.Add(90*24*time.Hour), "other.example")
	expired, expiredKey := testutil.CertPEM(t, now.Add(-48*time.Hour), now.Add(-24*time.Hour), "box.example.net")
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
		{"no cert", nil, goodKey, "certificate is missing"},
	} {
		_, err := m.Install(ctx, c.cert, c.key)
		var ie *InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), c.wantSubstr) {
			t.Errorf("%s: %v, want an input error mentioning %q", c.name, err, c.wantSubstr)
		}
		if err != nil && strings.Contains(err.Error(), "PRIVATE KEY-----\n") {
			t.Errorf("%s: the error shows the key", c.name)
		}
	}
	if b, err := os.ReadFile(o.CertFile); err != nil || string(b) != string(c0) {
		t.Fatalf("a refused pair changed the certificate file (%v)", err)
	}
	if _, err := m.Install(ctx, good, goodKey); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(o.KeyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v (%v)", fi.Mode().Perm(), err)
	}
	// A loaded Manager serves an installed pair at once.
	c, err := m.GetCertificate(nil)
	if err != nil || c.Leaf.Equal(first) || c.Leaf.NotAfter.Before(now.Add(80*24*time.Hour)) {
		t.Fatalf("GetCertificate after install serves %v (err %v), want the new certificate", c.Leaf.NotAfter, err)
	}
	// A half-written pair (new cert, old key) keeps the previous one.
	c2, _ := testutil.CertPEM(t, now.Add(-time.Hour), now.Add(30*24*time.Hour), "box.example.net")
	if err := os.WriteFile(o.CertFile, c2, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.reload(); err == nil {
		t.Error("a mismatched pair loaded")
	}
	if c, _ := m.GetCertificate(nil); c.Leaf.NotAfter.Before(now.Add(80 * 24 * time.Hour)) {
		t.Error("a mismatched pair replaced the certificate in use")
	}
}

func TestLoadFailsWithoutFiles(t *testing.T) {
	m, _ := newManager(t, time.Now())
	if err := m.Load(); err == nil || !strings.Contains(err.Error(), "loading TLS certificate") {
		t.Fatalf("Load = %v", err)
	}
	if leaf, trusted := m.Leaf(); leaf != nil || trusted {
		t.Fatal("an unloaded Manager has a certificate")
	}
}

func TestCheckOfSelfSignedAndExpiringPairs(t *testing.T) {
	now := time.Now()
	m, o := newManager(t, now)
	if r := m.Check(); len(r) != 1 || r[0].Level != dnsrecords.Fail || !strings.Contains(r[0].Found, "cannot read") {
		t.Fatalf("no file: %+v", r)
	}
	if err := m.WriteSelfSigned("box.example.net", "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if r := m.Check(); r[0].Level != dnsrecords.Warn || !strings.Contains(r[0].Found, "not trusted") || m.Trusted() {
		t.Fatalf("self-signed: %+v", r)
	}
	if err := m.Load(); err != nil {
		t.Fatal(err)
	}
	if leaf, trusted := m.Leaf(); leaf == nil || trusted || Names(leaf) != "box.example.net, 127.0.0.1" {
		t.Fatalf("Leaf = %v %v", leaf, trusted)
	}
	soon, _ := testutil.CertPEM(t, now.Add(-time.Hour), now.Add(5*24*time.Hour), "box.example.net")
	if err := os.WriteFile(o.CertFile, soon, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := m.Check(); r[0].Level != dnsrecords.Warn || !strings.Contains(r[0].Found, "expires on") {
		t.Fatalf("expiring: %+v", r)
	}
	other, _ := testutil.CertPEM(t, now.Add(-time.Hour), now.Add(90*24*time.Hour), "other.example")
	if err := os.WriteFile(o.CertFile, other, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := m.Check(); r[0].Level != dnsrecords.Fail || !strings.Contains(r[0].Found, "not valid for box.example.net") {
		t.Fatalf("other name: %+v", r)
	}
}
