package delivery

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

// lastBody returns the bytes of the newest message in acc's INBOX.
func (f family) lastBody(t *testing.T, acc int64) string {
	t.Helper()
	ctx := context.Background()
	mb, err := f.st.MailboxByName(ctx, acc, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := f.st.Messages(ctx, mb.ID, 1, 0)
	if err != nil || len(ms) == 0 {
		t.Fatalf("INBOX: %d messages, %v", len(ms), err)
	}
	b, err := f.st.Body(ctx, ms[len(ms)-1].BodyID)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLocalCopiesStartWithReturnPathAndDeliveredTo(t *testing.T) {
	const msg = "Return-Path: <forged@evil.example>\nDelivered-To: earlier@hop.example\nSubject: hi\n\nReturn-Path: <in the body>\n"
	for _, tc := range []struct {
		name, from, rcpt string
		acc              func(f family) int64
		want             string
	}{
		{"plain", "friend@outside.example", "me@example.net", func(f family) int64 { return f.me },
			"Return-Path: <friend@outside.example>\r\nDelivered-To: me@example.net\r\nDelivered-To: earlier@hop.example\r\nSubject: hi\r\n\r\nReturn-Path: <in the body>\r\n"},
		{"alias", "friend@outside.example", "parents@example.net", func(f family) int64 { return f.me },
			"Return-Path: <friend@outside.example>\r\nDelivered-To: me@example.net\r\nDelivered-To: earlier@hop.example\r\nSubject: hi\r\n\r\nReturn-Path: <in the body>\r\n"},
		{"subaddress", "friend@outside.example", "me+news@example.net", func(f family) int64 { return f.me },
			"Return-Path: <friend@outside.example>\r\nDelivered-To: me@example.net\r\n"},
		{"null sender", "", "kid@example.net", func(f family) int64 { return f.kid },
			"Return-Path: <>\r\nDelivered-To: kid@example.net\r\n"},
		// Two accounts share one stored body: no Delivered-To.
		{"two accounts", "friend@outside.example", "family@example.net", func(f family) int64 { return f.kid },
			"Return-Path: <friend@outside.example>\r\nDelivered-To: earlier@hop.example\r\nSubject: hi\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFamily(t)
			f.deliver(t, tc.from, tc.rcpt, msg)
			got := f.lastBody(t, tc.acc(f))
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("stored\n%q\nwant it to start\n%q", got, tc.want)
			}
			if strings.Contains(got, "forged@evil.example") {
				t.Errorf("the incoming Return-Path was kept: %q", got)
			}
		})
	}
}

// A message for a local account and a remote address: the local copy has
// the trace fields, the queued copy is the message as it came.
func TestQueuedCopiesHaveNoReturnPath(t *testing.T) {
	f := newFamily(t)
	ctx := context.Background()
	txn := f.d.Begin("me@example.net")
	for _, r := range []string{"kid@example.net", "friend@elsewhere.example"} {
		if _, err := txn.AddRecipient(ctx, r, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := txn.Commit(ctx, []byte("Subject: hi\r\n\r\nhello\r\n")); err != nil {
		t.Fatal(err)
	}
	if got := f.lastBody(t, f.kid); !strings.HasPrefix(got, "Return-Path: <me@example.net>\r\nDelivered-To: kid@example.net\r\nSubject: hi\r\n") {
		t.Errorf("local copy %q", got)
	}
	q, err := f.st.Queue(ctx)
	if err != nil || len(q) != 1 || q[0].Sender != "me@example.net" || q[0].Recipients[0] != "friend@elsewhere.example" {
		t.Fatalf("queue %+v %v", q, err)
	}
	if b, _ := f.st.Body(ctx, q[0].BodyID); string(b) != "Subject: hi\r\n\r\nhello\r\n" {
		t.Errorf("queued copy %q", b)
	}
}

// The delivery log counts a Sieve redirect's queued copy.
func TestTheDeliveryLogCountsQueuedCopies(t *testing.T) {
	f := newFamily(t)
	var logs bytes.Buffer
	f.with(Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Hostname: "mail.example.net", Sieve: &SieveOptions{}})
	f.script(t, f.me, `require "copy"; redirect :copy "me@oldprovider.example";`)
	f.deliver(t, "friend@outside.example", "me@example.net", "Subject: hi\n\nhello\n")
	line := ""
	for l := range strings.Lines(logs.String()) {
		if strings.Contains(l, "msg=delivered") {
			line = l
		}
	}
	if !strings.Contains(line, " local=1 ") || !strings.Contains(line, " queued=1 ") {
		t.Errorf("delivery log %q, want local=1 queued=1", line)
	}
	q, _ := f.st.Queue(context.Background())
	if len(q) != 1 {
		t.Fatalf("queue %+v", q)
	}
	if b, _ := f.st.Body(context.Background(), q[0].BodyID); bytes.Contains(b, []byte("Return-Path:")) {
		t.Errorf("the redirected copy has a Return-Path: %q", b)
	}
}
