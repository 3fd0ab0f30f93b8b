package admin

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"boxmail/internal/dnsrecords"
	"boxmail/internal/resolver"
	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

// switchedWorld is the box of newBox (example.net, a@ and b@) after MX
// moved to it, with SPF "v=spf1 mx include:box.example.net -all" (the
// record the old 'spf include' made of "v=spf1 mx -all": after the
// switch "mx" means the box), DKIM published, and the Service asking a
// DNS server that serves it all.
func switchedWorld(t *testing.T) (*Service, *store.Store) {
	t.Helper()
	_, st := newBox(t)
	keys, err := DefaultDomainKeys("example.net")
	if err != nil {
		t.Fatal(err)
	}
	in := dnsrecords.Input{Hostname: "box.example.net", IPv4: []netip.Addr{netip.MustParseAddr("198.51.100.7")},
		Domains: []dnsrecords.Domain{{Name: "example.net", DKIM: []dnsrecords.DKIMKey{{Selector: keys[0].Selector, PrivatePEM: keys[0].Private}}}}}
	set, err := dnsrecords.Build(in)
	if err != nil {
		t.Fatal(err)
	}
	fake := resolver.NewFake(
		"example.net. MX 10 box.example.net.",
		"box.example.net. A 198.51.100.7",
		`box.example.net. TXT "v=spf1 ip4:198.51.100.7 -all"`,
		`example.net. TXT "v=spf1 mx include:box.example.net -all"`,
		`_dmarc.example.net. TXT "v=DMARC1; p=quarantine; rua=mailto:postmaster@example.net"`,
	)
	for _, r := range set.Zone("example.net") {
		if r.Type == "TXT" && strings.HasSuffix(r.Name, "._domainkey.example.net") {
			rr, err := r.RR()
			if err != nil {
				t.Fatal(err)
			}
			if err := fake.Add(rr.String()); err != nil {
				t.Fatal(err)
			}
		}
	}
	dnsAddr := testutil.ServeDNS(t, fake, fake)
	s := New(Options{Store: st, Hostname: "box.example.net", Resolvers: []string{dnsAddr},
		Records: func(context.Context) (*dnsrecords.Set, dnsrecords.Input, error) { return set, in, nil }})
	return s, st
}

func migrationSteps(t *testing.T, s *Service) []MigrationStep {
	t.Helper()
	out, err := s.Migration(context.Background(), []string{"example.net"}, 2*time.Second)
	if err != nil || len(out) != 1 || len(out[0].Steps) != 8 {
		t.Fatalf("Migration: %+v, %v", out, err)
	}
	return out[0].Steps
}

func login(t *testing.T, st *store.Store, email string) {
	t.Helper()
	ctx := context.Background()
	acc, err := st.AccountByEmail(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RecordLogin(ctx, acc.ID, "imap", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
}

// importRun starts an import of email's old mailbox and, when done,
// records it verified; it returns the run's ID.
func importRun(t *testing.T, st *store.Store, email string, done bool) int64 {
	t.Helper()
	ctx := context.Background()
	acc, err := st.AccountByEmail(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	id, err := st.StartImportRun(ctx, acc.ID, "imaps://old.example")
	if err != nil {
		t.Fatal(err)
	}
	if done {
		importFinished(t, st, id)
	}
	return id
}

func importFinished(t *testing.T, st *store.Store, id int64) {
	t.Helper()
	if err := st.FinishImportRun(context.Background(), store.ImportRun{ID: id, Verified: true, Copied: 3}); err != nil {
		t.Fatal(err)
	}
}

// The checklist never calls SPF hardened, let alone the migration
// complete, while a user still sends through the old provider (no login
// at the box) or an import is missing; it does once everything is done.
func TestMigrationNeverHardenedWhileUsersSendThroughTheOldProvider(t *testing.T) {
	s, st := switchedWorld(t)
	ctx := context.Background()
	login(t, st, "a@example.net")
	importRun(t, st, "a@example.net", true)
	importRun(t, st, "b@example.net", true)

	// b@ never logged in at the box: MX switched, and "mx" now means
	// the box, so b@'s mail through the old provider fails SPF.
	ns, err := s.NotSwitched(ctx)
	if err != nil || !slices.Equal(ns["example.net"], []string{"b@example.net"}) {
		t.Fatalf("NotSwitched: %v, %v", ns, err)
	}
	sp := migrationSteps(t, s)[6]
	if sp.State == StepDone || strings.Contains(sp.Found, "hardened") || strings.Contains(sp.Found, "complete") ||
		!strings.Contains(sp.Found, "b@example.net") || !strings.Contains(strings.Join(sp.Detail, "\n"), "b@example.net: not switched yet") {
		t.Errorf("b@ not switched: step 7 %+v", sp)
	}
	if !strings.Contains(sp.Next, "spf include") {
		t.Errorf("b@ not switched: step 7 next %q", sp.Next)
	}

	// Everyone switched, but b@'s last import did not finish: SPF is
	// hardened, the migration is not complete.
	login(t, st, "b@example.net")
	run := importRun(t, st, "b@example.net", false)
	steps := migrationSteps(t, s)
	if sp := steps[6]; sp.State != StepDone || strings.Contains(sp.Found, "migration is complete") || !strings.Contains(sp.Found, "not complete: step 8") {
		t.Errorf("import missing: step 7 %+v", sp)
	}

	// All done: now, and only now, the migration is complete.
	importFinished(t, st, run)
	steps = migrationSteps(t, s)
	for _, st := range steps {
		if st.State != StepDone {
			t.Errorf("all done: step %d %+v", st.N, st)
		}
	}
	if !strings.HasSuffix(steps[6].Found, "the migration is complete") {
		t.Errorf("all done: step 7 %+v", steps[6])
	}

	// A disabled account sends through nobody: it does not hold up the
	// hardening.
	if _, err := st.AddAccount(ctx, "c@example.net", "a-good-pass-3", false); err != nil {
		t.Fatal(err)
	}
	if ns, _ := s.NotSwitched(ctx); !slices.Equal(ns["example.net"], []string{"c@example.net"}) {
		t.Errorf("c@ new: %v", ns)
	}
	if err := st.SetAccountDisabled(ctx, "c@example.net", true); err != nil {
		t.Fatal(err)
	}
	if ns, _ := s.NotSwitched(ctx); ns["example.net"] == nil || len(ns["example.net"]) != 0 {
		t.Errorf("c@ disabled: %v", ns)
	}
}
