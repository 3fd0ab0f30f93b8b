package delivery

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"boxmail/internal/mailauth"
	"boxmail/internal/store"
)

func (f family) inbox(t *testing.T, acc int64, name string) int {
	t.Helper()
	mb, err := f.st.MailboxByName(context.Background(), acc, name)
	if err != nil {
		return 0
	}
	c, err := f.st.Counts(context.Background(), mb.ID)
	if err != nil {
		t.Fatal(err)
	}
	return int(c.Messages)
}

func (f family) deliver(t *testing.T, from, rcpt, msg string) {
	t.Helper()
	ctx := context.Background()
	tx := f.d.Begin(from)
	if _, err := tx.AddRecipient(ctx, rcpt, false); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx, []byte(strings.ReplaceAll(msg, "\n", "\r\n"))); err != nil {
		t.Fatal(err)
	}
}

func (f family) script(t *testing.T, acc int64, src string) {
	t.Helper()
	ctx := context.Background()
	if err := f.st.PutSieveScript(ctx, acc, "roundcube", src); err != nil {
		t.Fatal(err)
	}
	if err := f.st.SetActiveSieveScript(ctx, acc, "roundcube"); err != nil {
		t.Fatal(err)
	}
}

// TestSieveForwardAndKeep is the seed document's rule: the message stays
// in INBOX and a copy is queued for the old provider from an SRS sender
// of the account's domain; a bounce to that sender goes back to the
// original sender; and a redirect never loops.
func TestSieveForwardAndKeep(t *testing.T) {
	f := newFamily(t)
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	srs := &mailauth.SRS{Key: []byte("k")}
	f.with(Options{Hostname: "mail.example.net", Sieve: &SieveOptions{SRS: srs, Now: func() time.Time { return now }}})
	f.script(t, f.me, "require [\"copy\"];\n# rule:[Forward to OldMailProvider and retain]\nif true\n{\n\tredirect :copy \"me@oldprovider.example\";\n}\n")
	f.deliver(t, "friend@outside.example", "me@example.net", "From: friend@outside.example\nTo: me@example.net\nSubject: hi\n\nhello\n")
	if n := f.inbox(t, f.me, "INBOX"); n != 1 {
		t.Fatalf("INBOX has %d messages", n)
	}
	q, _ := f.st.Queue(context.Background())
	if len(q) != 1 || q[0].Recipients[0] != "me@oldprovider.example" || !strings.HasPrefix(q[0].Sender, "SRS0=") || !strings.HasSuffix(q[0].Sender, "=outside.example=friend@example.net") {
		t.Fatalf("queue: %+v", q)
	}
	body, _ := f.st.Body(context.Background(), q[0].BodyID)
	if !strings.HasPrefix(string(body), "X-Boxmail-Loop: me@example.net\r\n") {
		t.Fatalf("redirected copy starts %q", body[:40])
	}
	// The bounce address routes back to the original sender.
	r, err := f.d.Resolve(context.Background(), q[0].Sender)
	if err != nil || len(r.Remote) != 1 || r.Remote[0] != "friend@outside.example" {
		t.Fatalf("SRS bounce route: %+v %v", r, err)
	}
	if _, err := f.d.Resolve(context.Background(), "SRS0=xxxx=AB=outside.example=friend@example.net"); err != ErrUnknownRecipient {
		t.Fatalf("forged SRS address: %v", err)
	}
	// The copy coming back (the old provider forwards to the box): kept, not sent again.
	f.deliver(t, q[0].Sender, "me@example.net", strings.ReplaceAll(string(body), "\r\n", "\n"))
	if n := f.inbox(t, f.me, "INBOX"); n != 2 {
		t.Fatalf("INBOX has %d messages", n)
	}
	if q2, _ := f.st.Queue(context.Background()); len(q2) != 1 {
		t.Fatalf("the loop was redirected again: %d entries", len(q2))
	}
}

// TestSieveActions: fileinto (with a missing folder created or not),
// discard, flags, and a broken script keeping the message.
func TestSieveActions(t *testing.T) {
	f := newFamily(t)
	f.with(Options{Sieve: &SieveOptions{CreateFolders: true}})
	f.script(t, f.me, `require ["fileinto", "imap4flags"];
if header :contains "subject" "spam" { discard; stop; }
if header :contains "subject" "school" { fileinto :flags "\\Flagged" "School"; }`)
	f.deliver(t, "a@outside.example", "me@example.net", "Subject: cheap spam\n\nx\n")
	f.deliver(t, "a@outside.example", "me@example.net", "Subject: school trip\n\nx\n")
	f.deliver(t, "a@outside.example", "me@example.net", "Subject: other\n\nx\n")
	if in, sc := f.inbox(t, f.me, "INBOX"), f.inbox(t, f.me, "School"); in != 1 || sc != 1 {
		t.Fatalf("INBOX %d, School %d", in, sc)
	}
	// A script that fails at run time keeps the message.
	f.script(t, f.kid, "redirect \"kid@example.net\";")
	f.deliver(t, "a@outside.example", "kid@example.net", "Subject: x\n\nx\n")
	if n := f.inbox(t, f.kid, "INBOX"); n != 1 {
		t.Fatalf("kid's INBOX has %d", n)
	}
	// A script that does not parse (stored by hand) keeps the message too.
	f.st.PutSieveScript(context.Background(), f.kid, "roundcube", "if {")
	f.deliver(t, "a@outside.example", "kid@example.net", "Subject: x\n\nx\n")
	if n := f.inbox(t, f.kid, "INBOX"); n != 2 {
		t.Fatalf("kid's INBOX has %d", n)
	}
}

// TestSieveVacation: one reply per sender per period, none to lists,
// bounces, automatic mail or mail not addressed to the account.
func TestSieveVacation(t *testing.T) {
	f := newFamily(t)
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	f.with(Options{Hostname: "mail.example.net", Sieve: &SieveOptions{Now: func() time.Time { return now }}})
	f.script(t, f.me, `require "vacation"; vacation :days 7 :subject "Away" "Back on Monday.";`)
	replies := func() []store.QueueItem {
		var out []store.QueueItem
		q, _ := f.st.Queue(context.Background())
		for _, it := range q {
			if it.Sender == "" {
				out = append(out, it)
			}
		}
		return out
	}
	mail := "From: friend@outside.example\nTo: me@example.net\nMessage-ID: <1@outside.example>\nSubject: dinner?\n\nx\n"
	f.deliver(t, "friend@outside.example", "me@example.net", mail)
	f.deliver(t, "friend@outside.example", "me@example.net", mail)
	if r := replies(); len(r) != 1 || r[0].Recipients[0] != "friend@outside.example" {
		t.Fatalf("replies: %+v", r)
	}
	body, _ := f.st.Body(context.Background(), replies()[0].BodyID)
	for _, want := range []string{"Auto-Submitted: auto-replied", "In-Reply-To: <1@outside.example>", "Subject: Away", "Back on Monday."} {
		if !strings.Contains(string(body), want) {
			t.Errorf("reply lacks %q:\n%s", want, body)
		}
	}
	for _, m := range []struct{ from, msg string }{
		{"list@lists.example", "From: list@lists.example\nTo: me@example.net\nList-Id: <fam.lists.example>\nSubject: x\n\nx\n"},
		{"news@shop.example", "From: news@shop.example\nTo: me@example.net\nPrecedence: bulk\nSubject: x\n\nx\n"},
		{"", "From: MAILER-DAEMON@x.example\nTo: me@example.net\nSubject: failure\n\nx\n"},
		{"bot@x.example", "From: bot@x.example\nTo: me@example.net\nAuto-Submitted: auto-generated\nSubject: x\n\nx\n"},
		{"bcc@x.example", "From: bcc@x.example\nTo: someone@x.example\nSubject: x\n\nx\n"},
	} {
		f.deliver(t, m.from, "me@example.net", m.msg)
	}
	if r := replies(); len(r) != 1 {
		t.Fatalf("%d replies", len(r))
	}
	now = now.Add(8 * 24 * time.Hour)
	f.deliver(t, "friend@outside.example", "me@example.net", mail)
	if r := replies(); len(r) != 2 {
		t.Fatalf("after 8 days: %d replies", len(r))
	}
	if n := f.inbox(t, f.me, "INBOX"); n != 8 {
		t.Fatalf("INBOX has %d", n)
	}
}

// sieveQuote returns s as a Sieve quoted string.
func sieveQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// TestSieveVacationFromIsChecked (issue 12 item 1): a reply goes out
// from :from only when it is one address the account may send as (the
// submission rule: its own address, or an alias that permits it);
// otherwise from the account's own address, and nothing a script wrote
// with CR LF reaches the header.
func TestSieveVacationFromIsChecked(t *testing.T) {
	f := newFamily(t)
	f.with(Options{Hostname: "mail.example.net", Sieve: &SieveOptions{}})
	for i, c := range []struct{ from, want string }{
		{`ceo@example.net`, "From: me@example.net\r\n"},
		{"ceo@example.net\r\nBcc: hidden@evil.test\r\nX-Injected: yes", "From: me@example.net\r\n"},
		{`Family <family@example.net>`, "From: \"Family\" <family@example.net>\r\n"},
		{`kid@example.net`, "From: me@example.net\r\n"},
		{`Me <me+away@example.net>`, "From: \"Me\" <me+away@example.net>\r\n"},
	} {
		f.script(t, f.me, "require \"vacation\";\nvacation :from "+sieveQuote(c.from)+" :subject \"Away\r\nX-Injected: yes\" \"Back on\rMonday.\nBye\";")
		sender := fmt.Sprintf("friend%d@outside.example", i)
		f.deliver(t, sender, "me@example.net", "From: "+sender+"\nTo: me@example.net\nSubject: hi\n\nx\n")
		q, _ := f.st.Queue(context.Background())
		var body []byte
		for _, it := range q {
			if it.Recipients[0] == sender {
				body, _ = f.st.Body(context.Background(), it.BodyID)
			}
		}
		hdr, text, _ := strings.Cut(string(body), "\r\n\r\n")
		if text != "Back on\r\nMonday.\r\nBye\r\n" {
			t.Errorf("reply text %q", text)
		}
		if !strings.Contains(hdr+"\r\n", c.want) || strings.Contains(hdr, "X-Injected") || strings.Contains(hdr, "Bcc") {
			t.Errorf(":from %q: reply header\n%s", c.from, hdr)
		}
	}
	// The same rule checked when a script is saved: admin.CheckSieveScript.
}

// TestSieveBudgetKeepsTheMessage (issue 12 item 5): a script past its
// work budget leaves the message in INBOX.
func TestSieveBudgetKeepsTheMessage(t *testing.T) {
	f := newFamily(t)
	f.with(Options{Sieve: &SieveOptions{MaxWork: 1 << 16}})
	f.script(t, f.me, `require ["body", "fileinto"]; if body :text :matches "*a?a?a?a?a?b*" { fileinto "Never"; } fileinto "Filed";`)
	f.deliver(t, "a@outside.example", "me@example.net", "Subject: x\n\n"+strings.Repeat("a", 1<<20)+"\n")
	if in, nv, fl := f.inbox(t, f.me, "INBOX"), f.inbox(t, f.me, "Never"), f.inbox(t, f.me, "Filed"); in != 1 || nv != 0 || fl != 0 {
		t.Fatalf("INBOX %d, Never %d, Filed %d", in, nv, fl)
	}
}

// TestSieveRedirectsShareOneCopy: an account's redirects of a message
// queue one signed copy for all their addresses, not one each (a 20 MiB
// message redirected ten times is stored once).
func TestSieveRedirectsShareOneCopy(t *testing.T) {
	f := newFamily(t)
	f.with(Options{Sieve: &SieveOptions{}})
	f.script(t, f.me, `require "copy"; redirect :copy "a@one.example"; redirect :copy "b@one.example"; redirect "c@two.example"; redirect "A@one.example";`)
	f.deliver(t, "x@outside.example", "me@example.net", "Subject: x\n\nbig\n")
	q, _ := f.st.Queue(context.Background())
	if len(q) != 2 || q[0].BodyID != q[1].BodyID {
		t.Fatalf("queue: %+v", q)
	}
	var got []string
	for _, it := range q {
		got = append(got, it.Recipients...)
	}
	if strings.Join(got, " ") != "a@one.example b@one.example c@two.example" {
		t.Errorf("recipients: %v", got)
	}
	if n := f.inbox(t, f.me, "INBOX"); n != 0 { // a redirect without :copy cancels the keep
		t.Errorf("INBOX has %d", n)
	}
}
