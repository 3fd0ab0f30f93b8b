package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"testing"
	"time"
)

func TestRestoreAddsAboveUIDNextKeepsUIDValidityAndPublishes(t *testing.T) {
	ctx := context.Background()
	s, err := testOpen(ctx, t.TempDir(), Options{PasswordCost: testOptions.PasswordCost, FileBodyMin: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := newAccount(t, s, "me@example.test")
	small := []byte("Subject: small\r\n\r\nhello\r\n")
	big := append([]byte("Subject: big\r\n\r\n"), bytes.Repeat([]byte("b"), 4000)...)
	date := time.Unix(1700000000, 0)
	for _, d := range [][]byte{small, big} {
		if _, _, err := s.Append(ctx, a.ID, "INBOX", d, FlagSeen, nil, date); err != nil {
			t.Fatal(err)
		}
	}
	inbox, err := s.MailboxByName(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	// Only the candidates' bodies are read: a filter that takes the big
	// one finds it, with its hash.
	keys, err := s.RestoreKeys(ctx, inbox.ID, func(d, size int64) bool { return size == int64(len(big)) })
	if err != nil {
		t.Fatal(err)
	}
	want := RestoreKey{InternalDate: date.Unix(), Size: int64(len(big)), SHA256: sha256.Sum256(big)}
	if len(keys) != 1 || keys[want] != 1 {
		t.Errorf("RestoreKeys = %v, want only %v", keys, want)
	}
	sub := s.Subscribe(a.ID)
	defer sub.Close()
	w, err := s.NewBodyWriter()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(big); err != nil {
		t.Fatal(err)
	}
	sb, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	uids, err := s.RestoreMessages(ctx, a.ID, inbox.ID, []RestoreItem{
		{Data: small, Flags: FlagAnswered | FlagRecent, Keywords: []string{"$Label1"}, InternalDate: date},
		{Body: sb, Flags: FlagFlagged, InternalDate: date.Add(time.Hour)},
	})
	if err != nil || len(uids) != 2 || uids[0] != inbox.UIDNext || uids[1] != inbox.UIDNext+1 {
		t.Fatalf("RestoreMessages = %v, %v; UIDNEXT was %d", uids, err, inbox.UIDNext)
	}
	after, err := s.MailboxByName(ctx, a.ID, "INBOX")
	if err != nil || after.UIDValidity != inbox.UIDValidity {
		t.Errorf("UIDVALIDITY %d -> %d (%v)", inbox.UIDValidity, after.UIDValidity, err)
	}
	msgs, err := s.Messages(ctx, inbox.ID, uids[0], 0)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("restored messages: %v, %v", msgs, err)
	}
	if m := msgs[0]; m.Flags != FlagAnswered || len(m.Keywords) != 1 || !m.InternalDate.Equal(date) {
		t.Errorf("first restored message: %+v", m)
	}
	if body, err := s.Body(ctx, msgs[1].BodyID); err != nil || !bytes.Equal(body, big) {
		t.Errorf("second restored body: %d bytes, %v", len(body), err)
	}
	var news int
	for _, e := range sub.Events() {
		if e.Kind == EventNewMessage && e.MailboxID == inbox.ID {
			news++
		}
	}
	if news != 2 {
		t.Errorf("%d new-message events, want 2", news)
	}
	// A mailbox gone is made again with its parents, unsubscribed as it
	// was; the special use goes to it only when no other mailbox has it.
	mb, created, err := s.RestoreMailbox(ctx, a.ID, "Old/Trash", `\Trash`, false)
	if err != nil || !created || mb.Subscribed || mb.SpecialUse != "" {
		t.Errorf("RestoreMailbox(Old/Trash) = %+v, %v, %v", mb, created, err)
	}
	if _, err := s.MailboxByName(ctx, a.ID, "Old"); err != nil {
		t.Errorf("parent: %v", err)
	}
	if again, created, err := s.RestoreMailbox(ctx, a.ID, "Old/Trash", `\Trash`, true); err != nil || created || again.ID != mb.ID {
		t.Errorf("RestoreMailbox of a present mailbox = %+v, %v, %v", again, created, err)
	}
}
