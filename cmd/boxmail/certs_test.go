package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"boxmail/internal/admin"
	"boxmail/internal/config"
	"boxmail/internal/testutil"
)

func TestInstallCertChecksThePairAndCertFilesFollowsIt(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default("box.example.net")
	now := time.Now()
	c0, k0 := testutil.CertPEM(t, now.Add(-time.Hour), now.Add(24*time.Hour), "box.example.net")
	if _, err := installCert(dir, cfg, c0, k0, now); err != nil {
		t.Fatal(err)
	}
	certs, err := loadCertFiles(dir, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := certs.Leaf()

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
	c2, _ := testutil.CertPEM(t, now.Add(-time.Hour), now.Add(30*24*time.Hour), "box.example.net")
	os.WriteFile(filepath.Join(dir, cfg.TLSCert), c2, 0o644)
	if err := certs.Installed(); err == nil {
		t.Error("a mismatched pair loaded")
	}
	if c, _ := certs.GetCertificate(nil); c.Leaf.NotAfter.Before(now.Add(80 * 24 * time.Hour)) {
		t.Error("a mismatched pair replaced the certificate in use")
	}
}
