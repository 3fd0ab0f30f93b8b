package delivery

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"boxmail/internal/store"
)

func TestSubmitChecksSendersAsSubmissionDoes(t *testing.T) {
	f := newFamily(t)
	d := f.with(Options{Hostname: "box.example.net"})
	ctx := context.Background()
	msg := func(from string) []byte {
		return []byte("From: " + from + "\r\nTo: kid@example.net\r\nSubject: hi\r\n\r\nhello\r\n")
	}
	for _, c := range []struct {
		name     string
		envelope string
		data     []byte
		to       []string
		want     error
	}{
		{"own address", "me@example.net", msg("Me <me@example.net>"), []string{"kid@example.net"}, nil},
		{"permitted alias", "family@example.net", msg("family@example.net"), []string{"kid@example.net"}, nil},
		{"another account as envelope", "kid@example.net", msg("me@example.net"), []string{"kid@example.net"}, ErrSenderNotPermitted},
		{"another account in From", "me@example.net", msg("kid@example.net"), []string{"kid@example.net"}, ErrSenderNotPermitted},
		{"a second From address", "me@example.net", msg("me@example.net, kid@example.net"), []string{"kid@example.net"}, ErrSenderNotPermitted},
		{"Sender field", "me@example.net", []byte("From: me@example.net\r\nSender: kid@example.net\r\n\r\nx\r\n"), []string{"kid@example.net"}, ErrSenderNotPermitted},
		{"no From", "me@example.net", []byte("Subject: x\r\n\r\nx\r\n"), []string{"kid@example.net"}, ErrBadMessage},
		{"unknown local recipient", "me@example.net", msg("me@example.net"), []string{"nobody@example.net"}, ErrUnknownRecipient},
		{"no recipient", "me@example.net", msg("me@example.net"), nil, ErrBadAddress},
	} {
		err := d.Submit(ctx, Submission{Account: "me@example.net", From: c.envelope, To: c.to, Data: c.data, Client: netip.MustParseAddr("192.0.2.1"), Via: "webmail"})
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	mb, err := f.st.MailboxByName(ctx, f.kid, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.st.LoadMessages(ctx, mb.ID, []uint32{1, 2, 3}, store.BodyFull)
	if err != nil || len(got) != 2 {
		t.Fatalf("kid got %d messages: %v", len(got), err)
	}
	m := string(got[0].Data)
	for _, want := range []string{"auth=pass smtp.auth=me@example.net", "Received: from webmail ([192.0.2.1])", "From: Me <me@example.net>"} {
		if !strings.Contains(m, want) {
			t.Errorf("delivered message lacks %q:\n%s", want, m)
		}
	}
}
