package test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"boxmail/internal/store"
)

// A message imported while the box runs shows up in the IDLE session of
// the family member's phone: `boxmail migrate import` is another process,
// and its commit reaches the server's IDLE sessions through the store's
// change log (internal/store/changelog.go) within two seconds. So do a
// flag change and an expunge made through another process's store, and
// `boxmail user disable`, which ends the session.
func TestAMessageImportedWhileTheBoxRunsShowsUpInTheIdleSessionOfThePhone(t *testing.T) {
	b := newBox(t)
	mustRun(t, "", "user", "add", "kid@example.test", "--dir", b.Dir, "--password-file", writeTemp(t, "kid-password-77"))

	// The phone: logged in, INBOX selected, idling.
	c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", b.IMAPS), insecureTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	r := bufio.NewReader(c)
	readUntil(t, r, "* OK")
	fmt.Fprintf(c, "a1 LOGIN kid@example.test kid-password-77\r\n")
	if l := readUntil(t, r, "a1 "); !strings.HasPrefix(l, "a1 OK") {
		t.Fatalf("LOGIN: %q", l)
	}
	fmt.Fprintf(c, "a2 SELECT INBOX\r\n")
	if l := readUntil(t, r, "a2 "); !strings.HasPrefix(l, "a2 OK") {
		t.Fatalf("SELECT: %q", l)
	}
	fmt.Fprintf(c, "a3 IDLE\r\n")
	readUntil(t, r, "+ ")

	// The old mail, imported by another process.
	var mbox strings.Builder
	for i := 1; i <= 2; i++ {
		fmt.Fprintf(&mbox, "From old@provider.test Mon Jan  2 15:04:05 2006\nFrom: Grandma <old@provider.test>\nTo: kid@example.test\nSubject: old letter %d\n\nDear kid, letter %d.\n\n", i, i)
	}
	file := filepath.Join(t.TempDir(), "Inbox.mbox")
	if err := os.WriteFile(file, []byte(mbox.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errs, code := runWithin(t, 60*time.Second, "", "migrate", "import", "kid@example.test", "--mbox", file, "--dir", b.Dir); code != 0 {
		t.Fatalf("migrate import: %d\n%s\n%s", code, out, errs)
	}
	within2s(t, c, r, "* 2 EXISTS")

	// A flag set and a message removed by another process.
	st, acc := b.OpenAccount("kid@example.test")
	ctx := context.Background()
	inbox, err := st.MailboxByName(ctx, acc.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdateFlags(ctx, acc.ID, inbox.ID, []uint32{1}, store.FlagsAdd, store.FlagFlagged, nil); err != nil {
		t.Fatal(err)
	}
	if l := within2s(t, c, r, "* 1 FETCH"); !strings.Contains(l, `\Flagged`) {
		t.Errorf("flag change pushed as %q", l)
	}
	if _, err := st.UpdateFlags(ctx, acc.ID, inbox.ID, []uint32{2}, store.FlagsAdd, store.FlagDeleted, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Expunge(ctx, acc.ID, inbox.ID, []uint32{2}); err != nil {
		t.Fatal(err)
	}
	within2s(t, c, r, "* 2 EXPUNGE")

	// The parents close the account from the command line: the phone is
	// told at once, not at the next 30 s check.
	if _, errs, code := b.Cmd("", "user", "disable", "kid@example.test"); code != 0 {
		t.Fatalf("user disable: %s", errs)
	}
	if l := within2s(t, c, r, "* BYE"); !strings.Contains(l, "disabled") {
		t.Errorf("BYE: %q", l)
	}
}

// within2s reads the idling session's lines until one starts with prefix,
// failing when none does within two seconds.
func within2s(t *testing.T, c *tls.Conn, r *bufio.Reader, prefix string) string {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(2 * time.Second))
	defer c.SetReadDeadline(time.Now().Add(60 * time.Second))
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("no %q within 2 s of the other process's change: %v", prefix, err)
		}
		if strings.HasPrefix(l, prefix) {
			t.Logf("%s after %v", strings.TrimSpace(l), time.Since(start).Round(time.Millisecond))
			return strings.TrimRight(l, "\r\n")
		}
	}
}
