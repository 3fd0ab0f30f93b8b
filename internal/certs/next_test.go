package certs

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"boxmail/internal/dnsrecords"
	"boxmail/internal/testutil"
)

// A pair with a new key, replacing one installed by hand, is staged:
// its TLSA is offered beside the current key's, and the switch comes
// only SwitchWait after the zones carried it.
func TestANewKeyIsStagedAndSwitchedTwoTTLsAfterItsTLSA(t *testing.T) {
	now := time.Now()
	dir := t.TempDir()
	m := New(Options{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem"), NextDir: filepath.Join(dir, "next"),
		Hostname: "box.example.net", Now: func() time.Time { return now }})
	ctx := context.Background()

	self, selfKey, err := SelfSigned([]string{"box.example.net"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.write(self, selfKey); err != nil {
		t.Fatal(err)
	}
	if err := m.Load(); err != nil {
		t.Fatal(err)
	}
	c1, k1 := testutil.CertPEM(t, now.Add(-time.Hour), now.Add(90*24*time.Hour), "box.example.net")
	if m.NeedsStaging(c1) {
		t.Fatal("replacing the generated self-signed pair is staged")
	}
	if _, err := m.Install(ctx, c1, k1); err != nil {
		t.Fatal(err)
	}
	first, _ := m.Leaf()
	c2, k2 := testutil.CertPEM(t, now.Add(-time.Hour), now.Add(90*24*time.Hour), "box.example.net")
	if m.NeedsStaging(c1) || !m.NeedsStaging(c2) {
		t.Fatalf("staging: same key %v, new key %v", m.NeedsStaging(c1), m.NeedsStaging(c2))
	}
	n, err := m.Stage(ctx, c2, k2)
	if err != nil {
		t.Fatal(err)
	}
	if m.NextTLSA() != n.TLSA || n.TLSA == dnsrecords.TLSAValue(first) {
		t.Fatalf("next TLSA %q (staged %q, current %q)", m.NextTLSA(), n.TLSA, dnsrecords.TLSAValue(first))
	}
	if leaf, err := m.SwitchIfDue(ctx, now.Add(time.Hour)); err != nil || leaf != nil {
		t.Fatalf("switched before the TLSA was published: %v %v", leaf, err)
	}
	if err := m.Published(now); err != nil {
		t.Fatal(err)
	}
	if err := m.Published(now.Add(time.Minute)); err != nil { // the first time counts
		t.Fatal(err)
	}
	if leaf, err := m.SwitchIfDue(ctx, now.Add(SwitchWait-time.Second)); err != nil || leaf != nil {
		t.Fatalf("switched before two TTLs: %v %v", leaf, err)
	}
	if cur, _ := m.Leaf(); !cur.Equal(first) {
		t.Fatal("the served certificate changed while staged")
	}
	leaf, err := m.SwitchIfDue(ctx, now.Add(SwitchWait))
	if err != nil || leaf == nil || dnsrecords.TLSAValue(leaf) != n.TLSA {
		t.Fatalf("switch when due: %v %v", leaf, err)
	}
	if cur, _ := m.Leaf(); dnsrecords.TLSAValue(cur) != n.TLSA {
		t.Fatal("the new key is not served after the switch")
	}
	if m.NextTLSA() != "" {
		t.Fatal("still staged after the switch")
	}
}

// A pair installed while another is staged wins: the staged one is
// dropped, so no later switch undoes the install.
func TestAnInstallDropsTheStagedPair(t *testing.T) {
	now := time.Now()
	dir := t.TempDir()
	m := New(Options{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem"), NextDir: filepath.Join(dir, "next"),
		Hostname: "box.example.net", Now: func() time.Time { return now }})
	ctx := context.Background()
	c1, k1 := testutil.CertPEM(t, now.Add(-time.Hour), now.Add(90*24*time.Hour), "box.example.net")
	c2, k2 := testutil.CertPEM(t, now.Add(-time.Hour), now.Add(90*24*time.Hour), "box.example.net")
	if _, err := m.Stage(ctx, c1, k1); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Install(ctx, c2, k2); err != nil {
		t.Fatal(err)
	}
	if m.NextTLSA() != "" {
		t.Fatal("the staged pair survived an install")
	}
	if leaf, err := m.SwitchIfDue(ctx, now.Add(24*time.Hour)); err != nil || leaf != nil {
		t.Fatalf("a switch after the install: %v %v", leaf, err)
	}
}
