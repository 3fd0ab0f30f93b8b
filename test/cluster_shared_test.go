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
//     storage, or its DNS-01 check with the records the first wrote into
//     the database, and both serve the one certificate issued per name;
//   - the TLS pair and a staged key, and so the TLSA records.

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"regexp"
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
		if !validates(t, startUnboundWith(t, unboundOptions{Stubs: []stubZone{{Name: "example.test", Anchor: anchor, Port: n.DNS, Host: n.Host()}}})) {
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
		if !validates(t, startUnboundWith(t, unboundOptions{Stubs: []stubZone{{Name: "example.test", Anchor: anchor, Port: n.DNS, Host: n.Host()}}})) {
			t.Errorf("during the rollover, a resolver anchored at the old DS does not validate node %d", i+1)
		}
	}
}

func TestClusterNodesOrderEachCertificateOnceAndServeIt(t *testing.T) {
	for _, challenge := range []string{"http-01", "dns-01"} {
		t.Run(challenge, func(t *testing.T) { clusterOrders(t, challenge) })
	}
}

// clusterOrders starts two nodes that race for the box's certificates
// with the CA checking node a only (its HTTP port for http-01, its DNS
// server for dns-01, where the records are those node b wrote into the
// database).
func clusterOrders(t *testing.T, challenge string) {
	nodes := startPGCluster(t, 2, nil)
	a, b := nodes[0], nodes[1]
	a.Stop()
	b.Stop()
	pb := startPebbleWith(t, a.HostPort(a.DNS), time.Hour, a.HTTP, a.HTTPS)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pb.Root)
	for _, x := range nodes {
		x.configure(map[string]string{"acme": "on", "acme_ca": pb.Dir, "acme_ca_root": pb.CAFile, "acme_challenges": challenge,
			"public_ipv4": a.Host()}) // the CA checks node a
	}
	// Node b starts first and orders while the CA checks node a.
	// (A check the CA makes before node a is up fails, and certmagic
	// tries again a minute later: the test may take that long.)
	b.Start()
	a.Start()
	name := "mail.example.test"
	for _, x := range nodes {
		testutil.WaitFor(t, "a certificate on both nodes", 150*time.Second, func() bool { return verifiesAt(x.HostPort(x.HTTPS), name, roots) == nil })
	}
	oneCertificatePerName(t, pb, name, a, b) // acme_test.go
	// Either node's status shows the box's certificate (in the database).
	for _, x := range nodes {
		if st, _, _ := x.Cmd("", "status", "--no-ports", "--timeout", "300ms"); !regexp.MustCompile(`mail\.example\.test\s+TLS certificate \(ACME\)\s+mail\.example\.test; issuer Pebble`).MatchString(st) {
			t.Errorf("status of node %s does not show the ACME certificate:\n%s", x.Dir, st)
		}
		if out := mustRun(t, "", "tls", "show", "--dir", x.Dir); !strings.Contains(out, "mail.example.test; issuer Pebble") ||
			challenge == "dns-01" && !strings.Contains(out, "challenge dns-01") { // (an http-01 answer is seen by the node the CA asks)
			t.Errorf("tls show on node %s does not show the ACME certificate:\n%s", x.Dir, out)
		}
	}
	for _, x := range nodes {
		if _, err := os.Stat(filepath.Join(x.Dir, "acme", "certificates")); err == nil {
			t.Errorf("node %s keeps ACME certificates in its data dir, not in the database", x.Dir)
		}
	}
}

// tlsaOf are the TLSA records a node publishes for port 25, sorted.
func tlsaOf(t *testing.T, b *Box) []string {
	t.Helper()
	lines := strings.Split(strings.ToLower(strings.ReplaceAll(strings.TrimSpace(b.dig("dig", "+short", "TLSA", "_25._tcp.mail.example.test")), " ", "")), "\n")
	slices.Sort(lines)
	return lines
}

// The pair the nodes serve (the first node's self-signed one, then a
// pair installed by hand on one node) and a staged new key are the same
// on every node, so the box publishes one TLSA RRset whichever node a
// resolver asks, and it names the key every node serves.
func TestClusterNodesServeOnePairAndPublishOneTLSA(t *testing.T) {
	needTool(t, "dig")
	nodes := startPGCluster(t, 2, nil)
	a, b := nodes[0], nodes[1]
	// Node b set up by itself would have its own self-signed pair: it
	// takes the box's when it joins.
	b.Stop()
	now := time.Now()
	own, ownKey := testutil.CertPEM(t, now.Add(-time.Hour), now.Add(24*time.Hour), "mail.example.test")
	for p, data := range map[string][]byte{"tls/cert.pem": own, "tls/key.pem": ownKey} {
		if err := os.WriteFile(filepath.Join(b.Dir, p), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b.Start()
	served := func(x *Box) string { return spkiOn25(t, x) } // tlsarotate_test.go
	if served(a) != served(b) || served(b) == pemSPKI(t, own) {
		t.Fatalf("node a serves key %s, node b %s (its own: %s)", served(a), served(b), pemSPKI(t, own))
	}
	if ta, tb := tlsaOf(t, a), tlsaOf(t, b); !slices.Equal(ta, tb) {
		t.Fatalf("the nodes publish different TLSA records: %q and %q", ta, tb)
	}

	// A pair installed on node a: served by both, one TLSA.
	c1, k1 := testutil.CertPEM(t, now.Add(-time.Hour), now.Add(90*24*time.Hour), "mail.example.test")
	if out, errs, code := a.Cmd("", "tls", "install", "--cert", writeTemp(t, string(c1)), "--key", writeTemp(t, string(k1))); code != 0 {
		t.Fatalf("tls install on node a: %s %s", out, errs)
	}
	key1 := pemSPKI(t, c1)
	testutil.WaitFor(t, "both nodes serving and publishing the installed pair", 30*time.Second, func() bool {
		return served(a) == key1 && served(b) == key1 && slices.Equal(tlsaOf(t, a), tlsaOf(t, b)) && tlsaOf(t, b)[0] == "311"+key1
	})

	// A new key installed on node b is staged: both nodes publish its
	// TLSA beside the served key's.
	c2, k2 := testutil.CertPEM(t, now.Add(-time.Hour), now.Add(90*24*time.Hour), "mail.example.test")
	if out, errs, code := b.Cmd("", "tls", "install", "--cert", writeTemp(t, string(c2)), "--key", writeTemp(t, string(k2))); code != 0 || !strings.Contains(out, "staged") {
		t.Fatalf("tls install of a new key on node b: %d %s %s", code, out, errs)
	}
	testutil.WaitFor(t, "both nodes publishing the staged key's TLSA", 30*time.Second, func() bool {
		ta, tb := tlsaOf(t, a), tlsaOf(t, b)
		return len(ta) == 2 && slices.Equal(ta, tb)
	})
	if served(a) != key1 || served(b) != key1 {
		t.Errorf("a node switched to the staged key at once: %s, %s", served(a), served(b))
	}
}
