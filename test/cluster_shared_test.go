package test

// What every node of a box on PostgreSQL must share (issue 23):
//
//   - the DNSSEC keys: both nodes publish one DNSKEY RRset, and a
//     validating resolver anchored at the DS the admin gave the registrar
//     validates answers from either; a KSK rollover started through one
//     node's CLI is served by both;
//   - ACME's certificates: the nodes start together and race for the same
//     names; one orders each (certmagic's locks are leases in the
//     database), the other answers the CA's HTTP-01 check from the shared
//     storage, and both serve the one certificate issued per name.

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"boxmail/internal/testutil"
)

// dnskeys are the DNSKEY records a node serves, sorted.
func dnskeys(t *testing.T, b *Box) []string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(b.dig("dig", "+short", "DNSKEY", "example.test")), "\n")
	slices.Sort(lines)
	return lines
}

func TestClusterNodesSignWithOneKeySetThatValidates(t *testing.T) {
	for _, tool := range []string{"unbound", "dig"} {
		needTool(t, tool)
	}
	nodes := startPGCluster(t, 2, nil)
	a, b := nodes[0], nodes[1]
	if ka, kb := dnskeys(t, a), dnskeys(t, b); len(ka) != 2 || !slices.Equal(ka, kb) {
		t.Fatalf("the nodes publish different DNSKEY sets:\nnode 1: %q\nnode 2: %q", ka, kb)
	}
	anchor, _, _ := registrarDS(t, a)
	if other, _, _ := registrarDS(t, b); other != anchor {
		t.Fatalf("the nodes give the registrar different DS records: %s and %s", anchor, other)
	}
	for i, n := range nodes {
		if !validates(t, startUnbound(t, anchor, n.DNS)) {
			t.Errorf("a resolver anchored at the DS does not validate node %d's answers", i+1)
		}
	}

	// A KSK rollover started on node 2 is published by node 1 too.
	if out := mustRun(t, "", "dns", "rollover-ksk", "example.test", "--dir", b.Dir); !strings.Contains(out, "new KSK published") {
		t.Fatalf("rollover-ksk: %s", out)
	}
	testutil.WaitFor(t, "both nodes publishing two KSKs", 10*time.Second, func() bool {
		return kskCount(t, a) == 2 && kskCount(t, b) == 2
	})
	if ka, kb := dnskeys(t, a), dnskeys(t, b); len(ka) != 3 || !slices.Equal(ka, kb) {
		t.Fatalf("during the rollover the nodes publish:\nnode 1: %q\nnode 2: %q", ka, kb)
	}
	for i, n := range nodes {
		if !validates(t, startUnbound(t, anchor, n.DNS)) {
			t.Errorf("during the rollover, a resolver anchored at the old DS does not validate node %d", i+1)
		}
	}
}

func TestClusterNodesOrderEachCertificateOnceAndServeIt(t *testing.T) {
	nodes := startPGCluster(t, 2, nil)
	a, b := nodes[0], nodes[1]
	a.Stop()
	b.Stop()
	// The CA checks node a's ports only (and asks its DNS server).
	pb := startPebbleWith(t, a.DNS, time.Hour, a.HTTP, a.HTTPS)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pb.Root)
	for _, x := range nodes {
		x.configure(map[string]string{"acme": "on", "acme_ca": pb.Dir, "acme_ca_root": pb.CAFile, "acme_challenges": "http-01",
			"public_ipv4": "127.0.0.1"})
	}
	// Node b starts first and orders while the CA checks node a's port.
	// (A check the CA makes before node a is up fails, and certmagic
	// tries again a minute later: the test may take that long.)
	b.Start()
	a.Start()
	name := "mail.example.test"
	for _, x := range nodes {
		testutil.WaitFor(t, "a certificate on both nodes", 150*time.Second, func() bool { return verifies(x.HTTPS, name, roots) == nil })
	}
	oneCertificatePerName(t, pb, name, a, b) // acme_test.go
	for _, x := range nodes {
		if _, err := os.Stat(filepath.Join(x.Dir, "acme", "certificates")); err == nil {
			t.Errorf("node %s keeps ACME certificates in its data dir, not in the database", x.Dir)
		}
	}
}
