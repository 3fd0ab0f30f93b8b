package test

import (
	"fmt"
	"net"
	"testing"
)

// The migration assistant's bad days: each gets one clear line and a
// non-zero exit, and nothing is imported. The box itself plays the old
// provider here (a real IMAP server with a self-signed certificate).
func TestMigrationFailuresAreOneClearLine(t *testing.T) {
	old := newBox(t)
	b := newBox(t)
	imaps := fmt.Sprintf("imaps://127.0.0.1:%d", old.IMAPS)
	d := []string{"--dir", b.Dir}
	// A self-signed certificate is refused unless --insecure.
	oneLineError(t, "certificate", "", append([]string{"migrate", "import", b.Admin, "--from", imaps, "--user", old.Admin, "--password-file", writeTemp(t, old.Password)}, d...)...)
	// Wrong password.
	oneLineError(t, "(?i)authentication failed|login failed|password", "", append([]string{"migrate", "import", b.Admin, "--from", imaps, "--insecure", "--user", old.Admin, "--password-file", writeTemp(t, "not-the-password")}, d...)...)
	// Nobody listens there.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l.Addr().String()
	l.Close()
	oneLineError(t, "(?i)connect|refused|reach", "", append([]string{"migrate", "import", b.Admin, "--from", "imaps://" + dead, "--insecure", "--user", old.Admin, "--password-file", writeTemp(t, old.Password)}, d...)...)
	oneLineError(t, "(?i)url|scheme|imaps?://", "", append([]string{"migrate", "import", b.Admin, "--from", "ftp://old.example", "--user", old.Admin, "--password-file", writeTemp(t, old.Password)}, d...)...)
	// A file that is not an mbox at all: said so, and no advice to run
	// the same command again.
	oneLineError(t, `is not an mbox file .*nothing was imported: give an mbox file`, "", append([]string{"migrate", "import", b.Admin, "--mbox", writeTemp(t, "Dear family,\nhere are the photos.\n")}, d...)...)
	if n := len(b.Mailbox(b.Admin, "INBOX")); n != 0 {
		t.Errorf("failed imports left %d messages", n)
	}
	// And with the right settings it works against this server too.
	if out, code := old.Swaks("--server", fmt.Sprintf("127.0.0.1:%d", old.SMTP), "--to", old.Admin, "--h-Subject", "from the old box"); code != 0 {
		t.Fatal(out)
	}
	mustRun(t, "", append([]string{"migrate", "import", b.Admin, "--from", imaps, "--insecure", "--user", old.Admin, "--password-file", writeTemp(t, old.Password)}, d...)...)
	if n := len(b.Mailbox(b.Admin, "INBOX")); n != 1 {
		t.Errorf("INBOX holds %d messages after the import, want 1", n)
	}
}
