package imapd

import (
	"slices"
	"testing"

	"boxmail/internal/imapd/wire"
)

func TestEnvelopeKeepsGroupsAsStartAndEndMarkers(t *testing.T) {
	env := wire.ExtractEnvelope([]byte("From: Alice <alice@example.test>\r\n" +
		"To: undisclosed-recipients:;\r\n" +
		"Cc: \"The Team\": bob@example.test, Carol <carol@example.test>;, dave@example.test\r\n" +
		"Bcc: route <@relay.test:eve@example.test>\r\n" +
		"Subject: groups\r\n\r\nbody\r\n"))
	if want := []wire.Address{{Mailbox: "undisclosed-recipients"}, {}}; !slices.Equal(env.To, want) {
		t.Errorf("To = %+v, want %+v", env.To, want)
	}
	want := []wire.Address{
		{Mailbox: "The Team"},
		{Mailbox: "bob", Host: "example.test"},
		{Name: "Carol", Mailbox: "carol", Host: "example.test"},
		{},
		{Mailbox: "dave", Host: "example.test"},
	}
	if !slices.Equal(env.Cc, want) {
		t.Errorf("Cc = %+v, want %+v", env.Cc, want)
	}
	if want := []wire.Address{{Name: "route", Route: "@relay.test", Mailbox: "eve", Host: "example.test"}}; !slices.Equal(env.Bcc, want) {
		t.Errorf("Bcc = %+v, want %+v", env.Bcc, want)
	}
	if len(env.From) != 1 || env.From[0].Mailbox != "alice" || env.From[0].Host != "example.test" || env.From[0].Name != "Alice" {
		t.Errorf("From = %+v", env.From)
	}
	if env.Subject != "groups" {
		t.Errorf("Subject = %q", env.Subject)
	}
}

// FuzzParseAddressList checks that any header value parses without panic
// and that group markers come in start/end pairs. Seed corpus:
// testdata/fuzz/FuzzParseAddressList.
func FuzzParseAddressList(f *testing.F) {
	f.Add("a@b.test")
	f.Add("g: a@b.test, \"x;y\" <c@d.test>;")
	f.Fuzz(func(t *testing.T, v string) {
		depth := 0
		for _, a := range wire.ParseAddressList(v) {
			switch {
			case a.Host == "" && a.Mailbox != "":
				depth++
			case a == wire.Address{}:
				depth--
			}
			if depth < 0 || depth > 1 {
				t.Fatalf("unbalanced group markers from %q", v)
			}
		}
		if depth != 0 {
			t.Fatalf("unterminated group from %q", v)
		}
	})
}
