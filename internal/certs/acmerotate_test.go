package certs

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"boxmail/internal/testutil"
)

// The first ACME certificate is ordered for the generated pair's key
// (its TLSA is the one published), and the seeded key alone is not a
// broken certificate to set aside; a pair installed by hand is not
// seeded.
func TestTheFirstACMECertificateKeepsTheGeneratedKey(t *testing.T) {
	now := time.Now()
	m, o := newManager(t, now)
	m.o.ACMEDir, m.o.ACMECA = filepath.Join(t.TempDir(), "acme"), "https://ca.example/dir"
	if err := m.WriteSelfSigned("box.example.net"); err != nil {
		t.Fatal(err)
	}
	if err := m.Load(); err != nil {
		t.Fatal(err)
	}
	storage := &durableStorage{FileStorage: &certmagic.FileStorage{Path: m.o.ACMEDir}}
	ctx := context.Background()
	m.seedACMEKey(ctx, storage)
	keyPath := filepath.Join(m.o.ACMEDir, filepath.FromSlash(certmagic.StorageKeys.SitePrivateKey(issuerKey(m.o.ACMECA), "box.example.net")))
	seeded, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatalf("no seeded key: %v", err)
	}
	served, err := os.ReadFile(o.KeyFile)
	if err != nil || !bytes.Equal(seeded, served) {
		t.Fatalf("seeded key differs from the served one (%v)", err)
	}
	m.setAsideBroken("box.example.net")
	if _, err := os.Stat(keyPath); err != nil {
		t.Fatalf("the seeded key was set aside: %v", err)
	}

	// A pair installed by hand is the admin's: never given to ACME.
	m2, _ := newManager(t, now)
	m2.o.ACMEDir, m2.o.ACMECA = filepath.Join(t.TempDir(), "acme"), "https://ca.example/dir"
	c, k := testutil.CertPEM(t, now.Add(-time.Hour), now.Add(24*time.Hour), "box.example.net")
	if _, err := m2.Install(ctx, c, k); err != nil {
		t.Fatal(err)
	}
	if err := m2.Load(); err != nil {
		t.Fatal(err)
	}
	m2.seedACMEKey(ctx, &durableStorage{FileStorage: &certmagic.FileStorage{Path: m2.o.ACMEDir}})
	if _, err := os.Stat(filepath.Join(m2.o.ACMEDir, filepath.FromSlash(certmagic.StorageKeys.SitePrivateKey(issuerKey(m2.o.ACMECA), "box.example.net")))); err == nil {
		t.Fatal("a pair installed by hand gave its key to ACME")
	}
	if err := m2.RequestKeyRotation(); err == nil {
		t.Fatal("a key rotation of ACME requested while a pair installed by hand is served")
	}
}
