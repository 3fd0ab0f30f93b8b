package migrate

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"boxmail/internal/store"
)

// A Thunderbird-style mbox: two messages, one with an escaped "From "
// body line and flags in X-Mozilla-Status, one marked deleted.
const sampleMbox = "From alice@example.org Mon Jan  2 15:04:05 2006\n" +
	"X-Mozilla-Status: 0003\nMessage-ID: <1@x>\nSubject: one\n\nhello\n>From the start\n>>From quoted\n\n" +
	"From bob@example.org Tue Feb  3 10:00:00 2009\n" +
	"Status: RO\nX-Status: D\nSubject: two\n\nbye\n"

func TestScanMboxUnescapesAndReadsFlags(t *testing.T) {
	var got []MboxMessage
	if err := ScanMbox(strings.NewReader(sampleMbox), func(m MboxMessage) error { got = append(got, m); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d messages, want 2", len(got))
	}
	want := "X-Mozilla-Status: 0003\r\nMessage-ID: <1@x>\r\nSubject: one\r\n\r\nhello\r\nFrom the start\r\n>From quoted\r\n"
	if string(got[0].Data) != want {
		t.Errorf("first message %q, want %q", got[0].Data, want)
	}
	if got[0].Flags != store.FlagSeen|store.FlagAnswered || got[0].Deleted {
		t.Errorf("first flags %v deleted %v", got[0].Flags.Names(), got[0].Deleted)
	}
	if !got[0].Date.Equal(time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC)) {
		t.Errorf("first date %v", got[0].Date)
	}
	if got[1].Flags != store.FlagSeen || !got[1].Deleted {
		t.Errorf("second flags %v deleted %v", got[1].Flags.Names(), got[1].Deleted)
	}
	if err := ScanMbox(strings.NewReader("Subject: not an mbox\n"), func(MboxMessage) error { return nil }); err == nil {
		t.Error("a file not starting with From was accepted")
	}
}

func FuzzScanMbox(f *testing.F) {
	f.Add([]byte(sampleMbox))
	f.Add([]byte("From x\r\n\r\nFrom y\r\n>From z\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var total int64
		ScanMbox(bytes.NewReader(data), func(m MboxMessage) error {
			if m.Start < 0 || m.End < m.Start || m.End > int64(len(data)) {
				t.Fatalf("span [%d,%d) outside %d bytes", m.Start, m.End, len(data))
			}
			if !bytes.Equal(unescapeMbox(data[m.Start:m.End]), m.Data) {
				t.Fatal("Data differs from the unescaped span that Fetch reads")
			}
			total += m.End - m.Start
			return nil
		})
		if total > int64(len(data)) {
			t.Fatalf("spans cover %d of %d bytes", total, len(data))
		}
	})
}

// A forwarded copy (new trace headers, SRS Return-Path, LF line endings)
// has the identity of the original; another body does not.
func TestIdentityIgnoresWhatAForwardAdds(t *testing.T) {
	orig := "Message-ID: <a@b>\r\nFrom: x@y\r\nSubject: s\r\n\r\nbody\r\n"
	fwd := "Return-Path: <SRS0=x=y@box>\nReceived: from box\nDKIM-Signature: v=1\nMessage-ID: <a@b>\nFrom: x@y\nSubject:  s\n\nbody\n\n"
	if Identity([]byte(orig)) != Identity([]byte(fwd)) {
		t.Error("forwarded copy has another identity")
	}
	if Identity([]byte(orig)) == Identity([]byte(strings.Replace(orig, "body", "other", 1))) {
		t.Error("different bodies share an identity")
	}
}

func TestTargetMapsSpecialFolders(t *testing.T) {
	boxes := []store.Mailbox{{Name: "INBOX"}, {Name: "Sent", SpecialUse: `\Sent`}, {Name: "Papierkorb", SpecialUse: `\Trash`}}
	for _, c := range []struct {
		f          Folder
		name, skip string
	}{
		{Folder{Name: "inbox"}, "INBOX", ""},
		{Folder{Name: "Sent Items"}, "Sent", ""},
		{Folder{Name: "[Gmail]/Sent Mail"}, "Sent", ""},
		{Folder{Name: "Gesendet", SpecialUse: `\Sent`}, "Sent", ""},
		{Folder{Name: "Deleted Items"}, "Papierkorb", ""},
		{Folder{Name: "Junk E-mail"}, "Junk", ""},
		{Folder{Name: "[Gmail]/All Mail"}, "", "a view"},
		{Folder{Name: "Work/100% done*"}, "Work/100_ done_", ""},
		{Folder{Name: "Projects/Ärger"}, "Projects/Ärger", ""},
	} {
		name, _, skip := Target(c.f, boxes, nil)
		if name != c.name || !strings.HasPrefix(skip, c.skip) || (c.skip == "" && skip != "") {
			t.Errorf("%q → %q (skip %q), want %q (skip %q)", c.f.Name, name, skip, c.name, c.skip)
		}
	}
	if name, _, _ := Target(Folder{Name: "Sent Items"}, boxes, map[string]string{"Sent Items": "Old/Sent"}); name != "Old/Sent" {
		t.Errorf("--map ignored: %q", name)
	}
}

func TestDecodeUTF7(t *testing.T) {
	for in, want := range map[string]string{"Ferien &AMQ-rger": "Ferien Ärger", "&ZeVnLIqe-": "日本語", "A&-B": "A&B", "plain": "plain", "bad&": "bad&"} {
		if got := DecodeUTF7(in); got != want {
			t.Errorf("DecodeUTF7(%q) = %q, want %q", in, got, want)
		}
	}
}

// A Maildir import twice: the second run copies nothing.
func TestMaildirImportIsIdempotent(t *testing.T) {
	ctx := context.Background()
	st, acc := newBox(t, t.TempDir(), store.Options{}, "me@example.test")
	md := t.TempDir()
	for _, d := range []string{"cur", "new", "tmp", ".Sent/cur", ".Sent/new", ".Sent/tmp"} {
		os.MkdirAll(filepath.Join(md, d), 0o700)
	}
	os.WriteFile(filepath.Join(md, "cur", "1.a:2,FS"), []byte("Subject: a\r\n\r\na\r\n"), 0o600)
	os.WriteFile(filepath.Join(md, "cur", "2.b:2,T"), []byte("Subject: gone\r\n\r\nb\r\n"), 0o600)
	os.WriteFile(filepath.Join(md, ".Sent", "cur", "3.c:2,S"), []byte("Subject: c\r\n\r\nc\r\n"), 0o600)
	for run, want := range []int{2, 0} {
		rep := importMaildir(t, st, acc.ID, md)
		if tot := rep.Totals(); tot.Copied != want || tot.Skipped != 1 || !rep.Done() {
			t.Errorf("run %d: %+v", run+1, tot)
		}
	}
	mb, _ := st.MailboxByName(ctx, acc.ID, "INBOX")
	msgs, _ := st.Messages(ctx, mb.ID, 1, 0)
	if len(msgs) != 1 || msgs[0].Flags != store.FlagSeen|store.FlagFlagged {
		t.Errorf("INBOX: %+v", msgs)
	}
}

// The box kept messages that lacked a Message-ID or a Date; the old
// provider's MX added one to the forwarded copy (as Postfix does, with
// its trace fields). The import takes those copies as already present,
// but never matches on less than one of the two fields: a device's daily
// message with neither is copied from the old side, not taken for the
// one in the box; nor is a message that differs in its Date.
func TestImportFindsCopiesTheOldMXCompleted(t *testing.T) {
	ctx := context.Background()
	st, acc := newBox(t, t.TempDir(), store.Options{}, "ben@example.test")
	const (
		scan   = "Date: Thu, 05 Jan 2006 08:15:00 +0000\r\nFrom: scanner@friend.test\r\nTo: ben@example.test\r\nSubject: scan\r\n\r\nScanned.\r\n"
		boiler = "Message-ID: <b@home.test>\r\nFrom: heating@home.test\r\nTo: ben@example.test\r\nSubject: boiler\r\n\r\npressure low\r\n"
		backup = "From: nas@home.test\r\nTo: ben@example.test\r\nSubject: backup\r\n\r\nbackup ok\r\n"
		note   = "Message-ID: <n@friend.test>\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\nFrom: friend@friend.test\r\nTo: ben@example.test\r\nSubject: note\r\n\r\nsee you\r\n"
		trace  = "Return-Path: <SRS0=AJQr=JS=friend.test=friend@example.test>\r\nX-Original-To: user2@old.test\r\nDelivered-To: user2@old.test\r\n" +
			"Received: from mail.example.test by mx.old.test (Postfix) with ESMTP id 8735199E7BC\r\nDKIM-Signature: v=1; d=example.test; b=x\r\nX-Boxmail-Loop: ben@example.test\r\n"
	)
	for _, m := range []string{scan, boiler, backup, note} {
		if _, _, err := st.Append(ctx, acc.ID, "INBOX", []byte(m), 0, nil, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	withHeader := func(msg, field string) string {
		h, b, _ := strings.Cut(msg, "\r\n\r\n")
		return trace + h + "\r\n" + field + "\r\n\r\n" + b
	}
	md := t.TempDir()
	for _, d := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(md, d), 0o700)
	}
	old := map[string]string{
		"1.scan":    withHeader(scan, "Message-Id: <20261129071546.8735199E7BC@mx.old.test>"),
		"2.boiler":  withHeader(boiler, "Date: Sun, 29 Nov 2026 07:17:11 +0000 (UTC)"),
		"3.note":    trace + note,
		"4.backup":  withHeader(backup, "Message-Id: <1.A@mx.old.test>\r\nDate: Sat, 28 Nov 2026 03:00:00 +0000 (UTC)"),
		"5.backup":  withHeader(backup, "Message-Id: <2.B@mx.old.test>\r\nDate: Sun, 29 Nov 2026 03:00:00 +0000 (UTC)"),
		"6.scan":    withHeader(strings.Replace(scan, "08:15:00", "09:15:00", 1), "Message-Id: <3.C@mx.old.test>"),
		"7.another": withHeader(strings.Replace(boiler, "<b@home.test>", "<c@home.test>", 1), "Date: Sun, 29 Nov 2026 08:17:11 +0000 (UTC)"),
	}
	for name, data := range old {
		os.WriteFile(filepath.Join(md, "new", name), []byte(data), 0o600)
	}
	rep := importMaildir(t, st, acc.ID, md)
	if tot := rep.Totals(); tot.Present != 3 || tot.Copied != 4 || !rep.Done() {
		t.Errorf("already present %d (want the copies of scan, boiler and note), copied %d (want the two backups and two others), done %v",
			tot.Present, tot.Copied, rep.Done())
	}
	recs, err := st.ImportRecords(ctx, acc.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if present := r.UID == 0; present != map[string]bool{"1.scan": true, "2.boiler": true, "3.note": true}[r.Key] {
			t.Errorf("%s: already present = %v", r.Key, present)
		}
	}
}

func TestAddedFieldIdentities(t *testing.T) {
	full := "Message-ID: <a@b>\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\nFrom: x@y\r\nSubject: s\r\n\r\nbody\r\n"
	noID := "Date: Mon, 02 Jan 2006 15:04:05 +0000\r\nFrom: x@y\r\nSubject: s\r\n\r\nbody\r\n"
	noDate := "Message-ID: <a@b>\r\nFrom: x@y\r\nSubject: s\r\n\r\nbody\r\n"
	v := addedFieldIdentities([]byte(full))
	if len(v) != 2 || v[0] != Identity([]byte(noID)) || v[1] != Identity([]byte(noDate)) {
		t.Errorf("variants %q, want the identities without Message-ID and without Date", v)
	}
	for msg, want := range map[string]bool{full: false, noID: true, noDate: true, "From: x@y\r\n\r\nbody\r\n": false} {
		if lacksOneAddedField([]byte(msg)) != want {
			t.Errorf("lacksOneAddedField(%.30q) = %v", msg, !want)
		}
		if msg != full && addedFieldIdentities([]byte(msg)) != nil {
			t.Errorf("variants of %.30q, which lacks a field", msg)
		}
	}
}
