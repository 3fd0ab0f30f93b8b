package test

// What every node of a box on PostgreSQL must share (issue 23): the
// DNSSEC keys. Both nodes publish one DNSKEY RRset, and a validating
// resolver anchored at the DS the admin gave the registrar validates
// answers from either; a KSK rollover started through one node's CLI is
// served by both.

import (
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
