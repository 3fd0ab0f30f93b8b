package testutil

import (
	"context"
	"crypto/x509"
	"testing"
	"time"
)

// The certificate is for the names asked (loopback names by default) and
// a client that trusts it verifies it for each.
func TestCertIsForTheNamesAsked(t *testing.T) {
	for _, tc := range []struct {
		names, verify []string
	}{
		{nil, []string{"localhost", "127.0.0.1", "::1"}},
		{[]string{"mx.friends.example"}, []string{"mx.friends.example"}},
	} {
		c := Cert(t, tc.names...)
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AddCert(leaf)
		for _, n := range tc.verify {
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: n, Roots: pool}); err != nil {
				t.Errorf("names %v: not valid for %s: %v", tc.names, n, err)
			}
		}
	}
}

// A store from Store takes accounts (at the low password cost) and is
// closed when the test ends; WaitFor returns once the condition holds.
func TestStoreAndWaitFor(t *testing.T) {
	st := Store(t)
	ctx := context.Background()
	if err := st.AddDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddAccount(ctx, "me@example.test", "correct horse battery", false); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Authenticate(ctx, "me@example.test", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	WaitFor(t, "a tenth of a second", 5*time.Second, func() bool { return time.Since(start) > 100*time.Millisecond })
	if p := FreePorts(t, 3); p[0] == p[1] || p[1] == p[2] || p[0] == p[2] {
		t.Errorf("FreePorts gave %v", p)
	}
}
