package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"boxmail/internal/testutil"
)

// spamStatsLine returns the SPAM, HAM and TOKENS columns of a model's line
// of 'spam stats' ("(household)" or an address), and the queued count.
func spamStatsLine(t *testing.T, b *Box, model string) (spam, ham, tokens, queued int) {
	t.Helper()
	out, errs, code := b.Cmd("", "spam", "stats")
	if code != 0 {
		t.Fatalf("spam stats: exit %d\n%s%s", code, out, errs)
	}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 4 && f[0] == model {
			fmt.Sscan(f[1], &spam)
			fmt.Sscan(f[2], &ham)
			fmt.Sscan(f[3], &tokens)
		}
		if _, err := fmt.Sscanf(l, "queued for training: %d", &queued); err == nil {
			continue
		}
	}
	return
}

// oldJunkAndInbox is an old account with 30 spam messages in Junk, 30 read
// family messages in INBOX and 5 sent ones.
func oldJunkAndInbox() []OldMessage {
	base := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	var out []OldMessage
	for i := range 30 {
		d := base.Add(time.Duration(i) * time.Hour)
		out = append(out, OldMessage{Folder: "Junk", Flags: "S", Date: d, Data: []byte(fmt.Sprintf(
			"From: Lucky Draw <promo%d@deals%d.example>\r\nTo: user1@old.test\r\nSubject: Winner bonus prize offer %d\r\nMessage-ID: <s%d@deals.example>\r\nDate: %s\r\n\r\n"+
				"You are a winner! Claim your bonus prize now, exclusive casino jackpot offer, act now, limited time, click to claim cash.\r\n",
			i, i, i, i, d.Format(time.RFC1123Z)))})
		out = append(out, OldMessage{Folder: "INBOX", Flags: "S", Date: d, Data: []byte(fmt.Sprintf(
			"From: Aunt May <aunt%d@family.example>\r\nTo: user1@old.test\r\nSubject: Sunday dinner %d\r\nMessage-ID: <h%d@family.example>\r\nDate: %s\r\n\r\n"+
				"Shall we have dinner with grandma on Sunday? The kids want pizza and a walk in the park afterwards.\r\n",
			i, i, i, d.Format(time.RFC1123Z)))})
	}
	for i := range 5 {
		d := base.Add(time.Duration(i) * time.Minute)
		out = append(out, OldMessage{Folder: "Sent", Flags: "S", Date: d, Data: []byte(fmt.Sprintf(
			"From: user1@old.test\r\nTo: Cousin <cousin%d@family.example>\r\nSubject: Re: photos %d\r\nMessage-ID: <t%d@old.test>\r\nDate: %s\r\n\r\n"+
				"Thanks for the photos of the lake, see you on Sunday.\r\n", i, i, i, d.Format(time.RFC1123Z)))})
	}
	return out
}

// migrate import seeds the spam filter from the old Junk (spam), Sent and
// read INBOX mail (ham) through the training queue, and a message like
// the old Junk ones then lands in Junk; with --no-train nothing is
// trained.
func TestSpamSeededByImport(t *testing.T) {
	needTool(t, "swaks")
	old := newOldProvider(t, 2)
	msgs := oldJunkAndInbox()
	old.Put("user1", msgs)
	old.Put("user2", msgs)
	b := newBox(t)
	pw := filepath.Join(t.TempDir(), "oldpw")
	must(t, os.WriteFile(pw, []byte(OldPassword+"\n"), 0o600))
	b.Cmd(testPassword+"\n", "user", "add", "notrain@example.test")
	importArgs := func(user, box string, extra ...string) []string {
		return append([]string{"migrate", "import", box, "--from", old.URL(), "--user", user + "@old.test", "--password-file", pw, "--insecure"}, extra...)
	}

	// --no-train: the mail is in, the filter learned nothing.
	if out, errs, code := b.Cmd("", importArgs("user2", "notrain@example.test", "--no-train")...); code != 0 {
		t.Fatalf("import --no-train: exit %d\n%s\n%s", code, out, errs)
	}
	if n := len(b.Mailbox("notrain@example.test", "Junk")); n != 30 {
		t.Fatalf("notrain's Junk holds %d messages, want the old 30", n)
	}
	time.Sleep(3 * time.Second) // the trainer polls every 2 s: it would have started
	for _, m := range []string{"(household)", "notrain@example.test"} {
		if s, h, tok, q := spamStatsLine(t, b, m); s+h+tok+q != 0 {
			t.Fatalf("after import --no-train, %s: spam %d ham %d tokens %d queued %d; want nothing trained", m, s, h, tok, q)
		}
	}

	// A seeded import: 30 spam from Junk, 30 read INBOX + 5 Sent as ham.
	start := time.Now()
	if out, errs, code := b.Cmd("", importArgs("user1", "me@example.test")...); code != 0 {
		t.Fatalf("import: exit %d\n%s\n%s", code, out, errs)
	}
	imported := time.Since(start)
	testutil.WaitFor(t, "the import's training", 30*time.Second, func() bool {
		s, h, _, q := spamStatsLine(t, b, "me@example.test")
		return s == 30 && h == 35 && q == 0
	})
	t.Logf("import %v, trained %v after the import began", imported.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if s, h, _, _ := spamStatsLine(t, b, "notrain@example.test"); s+h != 0 {
		t.Errorf("notrain@ trained %d spam, %d ham; want 0", s, h)
	}

	mx := fmt.Sprintf("127.0.0.1:%d", b.SMTP)
	send := func(from, subject, body string) {
		t.Helper()
		out, code := b.Swaks("--server", mx, "--from", from, "--to", "me@example.test",
			"--header", "From: "+from, "--header", "Subject: "+subject, "--body", body)
		if code != 0 {
			t.Fatalf("swaks: %d\n%s", code, out)
		}
	}
	send("promo77@deals77.example", "Winner bonus prize offer 77", "You are a winner! Claim your bonus prize now, exclusive casino jackpot offer, act now.")
	if got := findMail(b, "Junk", "Winner bonus prize offer 77"); len(got) != 1 || !strings.Contains(got[0], "X-Spam-Status: Yes") {
		t.Fatalf("a message like the old Junk ones is not in Junk: INBOX %q", findMail(b, "INBOX", "offer 77"))
	}
	send("aunt77@family.example", "Sunday dinner 77", "Shall we have dinner with grandma on Sunday? The kids want pizza.")
	if got := findMail(b, "INBOX", "Sunday dinner 77"); len(got) != 1 {
		t.Fatalf("a message like the old INBOX ones is not in INBOX: Junk %q", findMail(b, "Junk", "Sunday dinner 77"))
	}
}
