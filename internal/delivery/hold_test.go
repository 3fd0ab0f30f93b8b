package delivery

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"boxmail/internal/store"
)

func TestHoldCancelAndRelease(t *testing.T) {
	f := newFamily(t)
	d := f.with(Options{Hostname: "box.example.net"})
	ctx := context.Background()
	msg := []byte("From: me@example.net\r\nTo: kid@example.net\r\nSubject: held\r\n\r\nhello\r\n")
	sub := Submission{Account: "me@example.net", From: "me@example.net", To: []string{"kid@example.net"}, Data: msg, Via: "webmail"}
	inbox := func() int {
		mb, err := f.st.MailboxByName(ctx, f.kid, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		return int(mb.UIDNext - 1)
	}
	// Refused at once, as Submit would refuse it.
	bad := sub
	bad.To = []string{"nobody@example.net"}
	if _, err := d.Hold(ctx, bad, time.Now().Add(time.Hour)); !errors.Is(err, ErrUnknownRecipient) {
		t.Errorf("hold to an unknown recipient: %v", err)
	}
	now := time.Now()
	id1, err := d.Hold(ctx, sub, now.Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	id2, err := d.Hold(ctx, sub, now.Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	d.ReleaseHeld(ctx, now)
	if n := inbox(); n != 0 {
		t.Fatalf("delivered during the hold: %d", n)
	}
	if _, err := d.Cancel(ctx, "kid@example.net", id1); !errors.Is(err, ErrNotHeld) {
		t.Errorf("another account cancels: %v", err)
	}
	got, err := d.Cancel(ctx, "me@example.net", id1)
	if err != nil || string(got.Data) != string(msg) || got.To[0] != "kid@example.net" {
		t.Fatalf("cancel = %+v, %v", got, err)
	}
	d.ReleaseHeld(ctx, now.Add(11*time.Second))
	if n := inbox(); n != 1 {
		t.Errorf("after the hold the kid has %d messages, want 1 (the cancelled one not sent)", n)
	}
	if _, err := d.Cancel(ctx, "me@example.net", id2); !errors.Is(err, ErrNotHeld) {
		t.Errorf("cancel after the release: %v", err)
	}
	if _, ok, err := f.st.NextHeldRelease(ctx); err != nil || ok {
		t.Errorf("still held: %v %v", ok, err)
	}
}

func TestHeldRefusedAtReleaseTellsTheSender(t *testing.T) {
	f := newFamily(t)
	d := f.with(Options{Hostname: "box.example.net"})
	ctx := context.Background()
	msg := []byte("From: me@example.net\r\nTo: kid@example.net\r\nSubject: held\r\n\r\nhello\r\n")
	acct, err := f.st.AccountByEmail(ctx, "me@example.net")
	if err != nil {
		t.Fatal(err)
	}
	// As if the recipient was removed during the hold.
	if _, err := f.st.HoldSubmission(ctx, store.HeldSubmission{AccountID: acct.ID, Account: "me@example.net", Sender: "me@example.net",
		Recipients: []string{"gone@example.net"}, Data: msg, ReleaseAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	d.ReleaseHeld(ctx, time.Now().Add(time.Second))
	mb, err := f.st.MailboxByName(ctx, acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.st.LoadMessages(ctx, mb.ID, []uint32{1}, store.BodyFull)
	if err != nil || len(got) != 1 || !strings.Contains(string(got[0].Data), "was not sent: a recipient does not exist") {
		t.Fatalf("notice: %d %v", len(got), err)
	}
}
