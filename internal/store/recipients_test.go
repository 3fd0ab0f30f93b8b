package store

import (
	"context"
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
