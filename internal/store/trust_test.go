package store

import (
	"context"
	"testing"
	"time"
)

// "First message from this sender": an earlier message from the same
// address (any case, with or without a display name, in any mailbox of
// the account) counts; a longer address containing it, a later message,
// another account's message and the message itself do not.
func TestSenderSeenBefore(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	a := newAccount(t, s, "me@example.test")
	b := newAccount(t, s, "other@example.test")
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	add := func(acc int64, box, from string, at time.Time) {
		t.Helper()
		if _, _, err := s.Append(ctx, acc, box, []byte("From: "+from+"\r\nSubject: x\r\n\r\nx\r\n"), 0, nil, at); err != nil {
			t.Fatal(err)
		}
	}
	add(a.ID, "Archive", `"Ann" <Ann@Shop.example>`, t0)
	add(a.ID, "INBOX", "bob@shop.example", t0.Add(2*time.Hour))
	add(a.ID, "INBOX", "xcarol@shop.example", t0)
	add(b.ID, "INBOX", "dave@shop.example", t0)
	cases := []struct {
		addr string
		want bool
	}{
		{"ann@shop.example", true},
		{"ANN@shop.example", true},
		{"bob@shop.example", false},   // only later
		{"carol@shop.example", false}, // only a longer address
		{"dave@shop.example", false},  // another account's
		{"", false},
	}
	for _, c := range cases {
		got, err := s.SenderSeenBefore(ctx, a.ID, c.addr, t0.Add(time.Hour), 0)
		if err != nil || got != c.want {
			t.Errorf("%q: got %v %v, want %v", c.addr, got, err, c.want)
		}
	}
}
