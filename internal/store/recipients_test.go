package store

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// Recipient suggestions include the addresses of the account's contacts
// (their vCards' EMAIL lines, folded or grouped), once each, and no one
// else's contacts.
func TestPastRecipientsIncludeContacts(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	a := newAccount(t, s, "ann@example.org")
	b := newAccount(t, s, "bob@example.org")
	for _, acc := range []Account{a, b} {
		c, err := s.CreateDAVCollection(ctx, DAVCollection{AccountID: acc.ID, Kind: DAVCards, Name: "default"}, true)
		if err != nil {
			t.Fatal(err)
		}
		card := "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:u1\r\nFN:Grandma\r\nEMAIL;TYPE=home:Grandma@Example.NET\r\n" +
			"item1.EMAIL:gran\r\n dma.work@example.net\r\nEMAIL:not an address\r\nNOTE:EMAIL:x@y.z\r\nEND:VCARD\r\n"
		if acc.ID == b.ID {
			card = "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:u1\r\nFN:Other\r\nEMAIL:bobs.friend@example.net\r\nEND:VCARD\r\n"
		}
		if _, _, err := s.PutDAVObject(ctx, c.ID, DAVPut{Name: "u1.vcf", UID: "u1", Data: []byte(card)}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.PastRecipients(ctx, a.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"grandma@example.net", "grandma.work@example.net"}
	if !slices.Equal(got, want) {
		t.Errorf("suggestions %q, want %q", got, want)
	}
	if got, _ := s.PastRecipients(ctx, a.ID, 1); len(got) != 1 {
		t.Errorf("limit 1: %q", got)
	}
}

// One statement tells delivery what an address leads to: the domain is
// hosted, the exact address's alias or account, its +tag base's, the
// catch-all, and of each account whether it is disabled, its quota with
// its use (summed only under a quota) and its active Sieve script.
func TestLookupRecipientReadsEverythingDeliveryDecidesBy(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	me := newAccount(t, s, "me@example.test")
	tagged := newAccount(t, s, "me+boss@example.test")
	if err := s.AddAlias(ctx, Alias{Address: "team@example.test", Targets: []string{"me@example.test", "you@example.org"}, Permit: []string{"me@example.test"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddAlias(ctx, Alias{Address: "@example.test", Targets: []string{"me@example.test"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Deliver(ctx, Delivery{Data: []byte("Subject: x\r\n\r\nhello\r\n"), Local: []LocalTarget{{AccountID: me.ID}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetQuota(ctx, "me@example.test", 1000); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSieveScript(ctx, me.ID, "main", "keep;"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetActiveSieveScript(ctx, me.ID, "main"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAccountDisabled(ctx, "me+boss@example.test", true); err != nil {
		t.Fatal(err)
	}

	l, err := s.LookupRecipient(ctx, "Me+Boss@Example.Test", "me@example.test")
	if err != nil {
		t.Fatal(err)
	}
	if !l.Hosted || l.Alias != nil || l.BaseAlias != nil || l.Account == nil || l.BaseAccount == nil || l.CatchAll == nil {
		t.Fatalf("lookup of me+boss: %+v", l)
	}
	if a := l.Account; a.ID != tagged.ID || !a.Disabled || a.Script != nil || a.Usage.Quota != 0 || a.Usage.Used != 0 {
		t.Errorf("me+boss's account: %+v", a)
	}
	want, err := s.AccountUsage(ctx, me.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a := l.BaseAccount; a.ID != me.ID || a.Email != "me@example.test" || a.Disabled || a.Usage != want || a.Usage.Used == 0 ||
		a.Script == nil || a.Script.Name != "main" || a.Script.Content != "keep;" {
		t.Errorf("me's account: %+v, usage want %+v", a, want)
	}
	if c := l.CatchAll; c.Address != "@example.test" || !slices.Equal(c.Targets, []string{"me@example.test"}) {
		t.Errorf("catch-all %+v", c)
	}
	if ra, err := s.RecipientAccountByID(ctx, me.ID); err != nil || ra.ID != me.ID || ra.Usage != want || ra.Script == nil {
		t.Errorf("RecipientAccountByID: %+v, %v", ra, err)
	}
	if _, err := s.RecipientAccountByID(ctx, 999999); !errors.Is(err, ErrNotFound) {
		t.Errorf("RecipientAccountByID of no account: %v", err)
	}

	l, err = s.LookupRecipient(ctx, "team@example.test", "team@example.test")
	if err != nil {
		t.Fatal(err)
	}
	if l.Alias == nil || l.BaseAlias == nil || l.Account != nil || !slices.Equal(l.Alias.Targets, []string{"me@example.test", "you@example.org"}) ||
		!slices.Equal(l.Alias.Permit, []string{"me@example.test"}) {
		t.Errorf("lookup of team: %+v", l)
	}
	l, err = s.LookupRecipient(ctx, "me@example.org", "me@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if l != (RecipientLookup{}) {
		t.Errorf("lookup in a domain not hosted: %+v", l)
	}
}
