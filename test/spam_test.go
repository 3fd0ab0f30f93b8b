package test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"boxmail/internal/testutil"
)

const gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

// findMail returns the stored messages of a mailbox that contain s.
func findMail(b *Box, mailbox, s string) []string {
	var out []string
	for _, m := range b.Mailbox("me@example.test", mailbox) {
		if strings.Contains(string(m), s) {
			out = append(out, string(m))
		}
	}
	return out
}

// seedSpamModel trains me@ with 25 spam and 25 ham files through the CLI.
func seedSpamModel(t *testing.T, b *Box) {
	dir := t.TempDir()
	for _, class := range []string{"spam", "ham"} {
		d := filepath.Join(dir, class)
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		for i := range 25 {
			msg := fmt.Sprintf("From: promo%d@deals%d.example\r\nSubject: Winner bonus prize offer %d\r\n\r\nYou are a winner! Claim your bonus prize, exclusive offer, casino jackpot, act now.\r\n", i, i, i)
			if class == "ham" {
				msg = fmt.Sprintf("From: aunt%d@family.example\r\nSubject: Sunday dinner %d\r\n\r\nShall we have dinner with grandma on Sunday? The kids want pizza and a walk in the park.\r\n", i, i)
			}
			if err := os.WriteFile(filepath.Join(d, strconv.Itoa(i)+".eml"), []byte(msg), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		out := mustRun(t, "", "spam", "train", "--"+class, "me@example.test", d, "--dir", b.Dir)
		if !strings.Contains(out, "trained 25 messages as "+class) {
			t.Fatalf("spam train: %s", out)
		}
	}
}

// GTUBE lands in Junk with X-Spam-Status: Yes and ham in INBOX with
// X-Spam-Status: No; a message the user takes out of Junk (imaplib,
// COPY + EXPUNGE and MOVE) is trained as ham, and the next one like it
// lands in INBOX.
func TestSpamFilterJunkAndLearning(t *testing.T) {
	needTool(t, "swaks")
	needTool(t, "python3")
	b := newBox(t)
	seedSpamModel(t, b)
	mx := fmt.Sprintf("127.0.0.1:%d", b.SMTP)
	send := func(from, subject, body string) {
		t.Helper()
		out, code := b.Swaks("--server", mx, "--from", from, "--to", "me@example.test",
			"--header", "From: "+from, "--header", "Subject: "+subject, "--body", body)
		if code != 0 {
			t.Fatalf("swaks: %d\n%s", code, out)
		}
	}
	send("tester@elsewhere.example", "gtube test", "Hello "+gtube)
	if got := findMail(b, "Junk", "gtube test"); len(got) != 1 || !strings.Contains(got[0], "\r\nX-Spam-Status: Yes, score=") {
		t.Fatalf("GTUBE in Junk: %q", got)
	}
	send("uncle@family.example", "Sunday dinner plans", "Shall we have dinner with grandma on Sunday? Pizza for the kids.")
	if got := findMail(b, "INBOX", "Sunday dinner plans"); len(got) != 1 || !strings.Contains(got[0], "\r\nX-Spam-Status: No, score=") ||
		!regexp.MustCompile(`\r\nX-Spam-Score: -?[0-9.]+\r\n`).MatchString(got[0]) {
		t.Fatalf("ham in INBOX: %q", got)
	}

	// The chess club's prize announcement looks like the trained spam.
	club := "Winner bonus prize offer: chess club tournament results, the winner gets the bonus prize, see the club page."
	send("news@chessclub.example", "Club tournament winner 1", club)
	if got := findMail(b, "Junk", "Club tournament winner 1"); len(got) != 1 {
		t.Fatalf("the first club message is not in Junk: INBOX %q", findMail(b, "INBOX", "Club tournament"))
	}
	// The user takes it out of Junk.
	out, err := b.Python("spam_move.py", "127.0.0.1", strconv.Itoa(b.IMAPS), "me@example.test", testPassword, "Junk", "INBOX", "Club", "copy")
	if err != nil || !strings.Contains(out, "moved 1") {
		t.Fatalf("spam_move.py: %v\n%s", err, out)
	}
	hamTrained := func(n int) func() bool {
		return func() bool {
			out, _, _ := b.Cmd("", "spam", "stats", "me@example.test")
			f := strings.Fields(strings.Split(strings.TrimSpace(out), "\n")[1])
			return len(f) == 4 && f[2] == strconv.Itoa(n)
		}
	}
	testutil.WaitFor(t, "the moved message trained as ham", 20*time.Second, hamTrained(26))
	send("news@chessclub.example", "Club tournament winner 2", club)
	if got := findMail(b, "INBOX", "Club tournament winner 2"); len(got) != 1 || !strings.Contains(got[0], "X-Spam-Status: No") {
		t.Fatalf("the next club message is not in INBOX: Junk %q", findMail(b, "Junk", "Club tournament winner 2"))
	}

	// MOVE into Junk trains spam; emptying Junk trains nothing more.
	out, err = b.Python("spam_move.py", "127.0.0.1", strconv.Itoa(b.IMAPS), "me@example.test", testPassword, "INBOX", "Junk", "Sunday", "move")
	if err != nil || !strings.Contains(out, "moved 1") {
		t.Fatalf("spam_move.py: %v\n%s", err, out)
	}
	testutil.WaitFor(t, "the moved message trained as spam", 20*time.Second, func() bool {
		out, _, _ := b.Cmd("", "spam", "stats", "me@example.test")
		return strings.Contains(out, " 26 ") && strings.Fields(strings.Split(strings.TrimSpace(out), "\n")[1])[1] == "26"
	})
}

// spam check prints the verdict first, then the reasons.
func TestSpamCheckCLI(t *testing.T) {
	b := newBox(t)
	f := filepath.Join(t.TempDir(), "g.eml")
	if err := os.WriteFile(f, []byte("From: a@b.example\r\nSubject: x\r\n\r\n"+gtube+"\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, "", "spam", "check", f, "--user", "me@example.test", "--dir", b.Dir)
	lines := strings.Split(out, "\n")
	if !regexp.MustCompile(`^score=[0-9.]+ verdict=junk$`).MatchString(lines[0]) || !strings.Contains(out, "gtube") {
		t.Fatalf("spam check: %q", out)
	}
}

// Over spam_reject_score the message is refused at SMTP time (nothing is
// silently dropped); $Junk set by a mail app trains spam.
func TestSpamRejectScoreAndJunkKeyword(t *testing.T) {
	needTool(t, "swaks")
	needTool(t, "python3")
	b := newBoxWith(t, map[string]string{"spam_reject_score": "6"})
	seedSpamModel(t, b)
	mx := fmt.Sprintf("127.0.0.1:%d", b.SMTP)
	out, code := b.Swaks("--server", mx, "--from", "promo3@deals3.example", "--to", "me@example.test",
		"--header", "From: promo3@deals3.example", "--header", "Subject: Winner bonus prize offer",
		"--body", "You are a winner! Claim your bonus prize, exclusive offer, casino jackpot, act now.")
	if code == 0 || !strings.Contains(out, "<** 550 5.7.1") {
		t.Fatalf("want 550 5.7.1, got exit %d:\n%s", code, out)
	}
	if got := findMail(b, "Junk", "Winner bonus prize offer"); len(got) != 0 {
		t.Fatalf("a refused message was stored: %q", got)
	}
	out, code = b.Swaks("--server", mx, "--from", "cousin@family.example", "--to", "me@example.test",
		"--header", "From: cousin@family.example", "--header", "Subject: Holiday photos",
		"--body", "Here are the holiday photos from the lake, the kids loved it.")
	if code != 0 {
		t.Fatalf("swaks: %d\n%s", code, out)
	}
	out, err := b.Python("spam_move.py", "127.0.0.1", strconv.Itoa(b.IMAPS), "me@example.test", testPassword, "INBOX", "INBOX", "Holiday", "junk-keyword")
	if err != nil || !strings.Contains(out, "moved 1") {
		t.Fatalf("spam_move.py: %v\n%s", err, out)
	}
	testutil.WaitFor(t, "the $Junk message trained as spam", 20*time.Second, func() bool {
		out, _, _ := b.Cmd("", "spam", "stats", "me@example.test")
		return strings.Fields(strings.Split(strings.TrimSpace(out), "\n")[1])[1] == "26"
	})
}
