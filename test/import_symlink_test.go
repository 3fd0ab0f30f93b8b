package test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A user hands the admin a "backup of my old mail" to import: a Maildir
// crafted so that its entries point at the box's own files. The import
// must read only the regular files inside the directory it was given,
// never follow a symbolic link (out of the tree or within it), say what
// it left out, and still import the real messages (issue 12 item 9).
func TestAMaildirImportNeverFollowsSymlinksToTheBoxsSecrets(t *testing.T) {
	b := newBox(t)
	key, err := os.ReadFile(filepath.Join(b.Dir, "tls", "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	// Another Maildir on the host: someone else's mail.
	other := filepath.Join(t.TempDir(), "other")
	for _, s := range []string{"cur", "new", "tmp"} {
		must(t, os.MkdirAll(filepath.Join(other, s), 0o700))
	}
	must(t, os.WriteFile(filepath.Join(other, "cur", "9.M9.host:2,S"), []byte("Subject: not yours\r\n\r\nsomeone else's private mail\r\n"), 0o600))

	md := filepath.Join(t.TempDir(), "Maildir")
	for _, s := range []string{"cur", "new", "tmp", ".Sent/cur", ".Sent/tmp", ".Work/cur", ".Work/new", ".Work/tmp"} {
		must(t, os.MkdirAll(filepath.Join(md, s), 0o700))
	}
	must(t, os.WriteFile(filepath.Join(md, "cur", "1.M1.old:2,S"), []byte("Subject: hello\r\n\r\nan honest old message\r\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(md, "new", "2.M2.old"), []byte("Subject: new one\r\n\r\nan honest new message\r\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(md, ".Work", "cur", "3.M3.old:2,"), []byte("Subject: work\r\n\r\nan honest work message\r\n"), 0o600))
	// The attack: a message that is the box's TLS private key ...
	must(t, os.Symlink(filepath.Join(b.Dir, "tls", "key.pem"), filepath.Join(md, "cur", "4.M4.evil:2,S")))
	// ... a link that stays inside the tree (never followed either) ...
	must(t, os.Symlink("../new/2.M2.old", filepath.Join(md, "cur", "5.M5.inside:2,S")))
	// ... folders that are links to /etc and to another Maildir ...
	must(t, os.Symlink("/etc", filepath.Join(md, ".Secret")))
	must(t, os.Symlink(other, filepath.Join(md, ".Other")))
	must(t, os.Symlink(other, filepath.Join(md, "Tree")))
	// ... and a folder whose new/ is a link to another Maildir's cur/.
	must(t, os.Symlink(filepath.Join(other, "cur"), filepath.Join(md, ".Sent", "new")))
	// dovecot-keywords as a link to a secret: not read.
	must(t, os.Symlink(filepath.Join(b.Dir, "tls", "key.pem"), filepath.Join(md, "dovecot-keywords")))

	out, errs, code := importWithin(t, b, 60*time.Second, "me@example.test", "--maildir", md)
	if code != 0 {
		t.Fatalf("import: exit %d\n%s%s", code, out, errs)
	}
	t.Logf("the import's report:\n%s", out)
	all := allMail(t, b, "me@example.test")
	keyBlock := bytes.TrimSpace(bytes.Split(key, []byte("\n"))[1]) // a line of the key's base64
	var honest int
	for name, msgs := range all {
		for _, m := range msgs {
			if bytes.Contains(m, keyBlock) || bytes.Contains(m, []byte("PRIVATE KEY")) {
				t.Errorf("the box's TLS private key was imported into %s", name)
			}
			if bytes.Contains(m, []byte("someone else's private mail")) {
				t.Errorf("another Maildir's message was imported into %s through a symlink", name)
			}
			if bytes.Contains(m, []byte("an honest")) {
				honest++
			}
		}
	}
	if honest != 3 {
		t.Errorf("%d honest messages imported, want 3 (once each)\n%s", honest, out)
	}
	// The report names what was left out and why.
	for _, p := range []string{"cur/4.M4.evil:2,S", "cur/5.M5.inside:2,S", ".Secret", ".Other", "Tree", ".Sent/new", "dovecot-keywords"} {
		if !strings.Contains(out, p) {
			t.Errorf("the report does not name the ignored %s\n%s", p, out)
		}
	}
	if !strings.Contains(out, "symbolic link") {
		t.Errorf("the report does not say why entries were ignored\n%s", out)
	}
}

// A FIFO or a device among the messages must neither hang the import
// (opening a FIFO waits for a writer) nor make it read forever
// (/dev/zero); it is reported and the rest imported.
func TestAFIFOOrDeviceInAMaildirDoesNotHangTheImport(t *testing.T) {
	b := newBox(t)
	md := filepath.Join(t.TempDir(), "Maildir")
	for _, s := range []string{"cur", "new", "tmp"} {
		must(t, os.MkdirAll(filepath.Join(md, s), 0o700))
	}
	must(t, os.WriteFile(filepath.Join(md, "cur", "1.M1.old:2,S"), []byte("Subject: hello\r\n\r\nan honest old message\r\n"), 0o600))
	must(t, syscall.Mkfifo(filepath.Join(md, "cur", "2.M2.fifo:2,S"), 0o600))
	must(t, syscall.Mkfifo(filepath.Join(md, "dovecot-keywords"), 0o600))
	ignored := []string{"cur/2.M2.fifo:2,S", "dovecot-keywords"}
	// A character device like /dev/zero (1, 5) needs root or CAP_MKNOD.
	if err := syscall.Mknod(filepath.Join(md, "new", "3.M3.zero"), syscall.S_IFCHR|0o600, 1<<8|5); err != nil {
		t.Logf("no device node (%v): testing the FIFO only", err)
	} else {
		ignored = append(ignored, "new/3.M3.zero")
	}
	out, errs, code := importWithin(t, b, 60*time.Second, "me@example.test", "--maildir", md)
	if code != 0 {
		t.Fatalf("import: exit %d\n%s%s", code, out, errs)
	}
	if n := len(b.Mailbox("me@example.test", "INBOX")); n != 1 {
		t.Errorf("INBOX holds %d messages, want the 1 regular one\n%s", n, out)
	}
	for _, p := range ignored {
		if !strings.Contains(out, p) {
			t.Errorf("the report does not name the ignored %s\n%s", p, out)
		}
	}
}

// An mbox import walks a directory of mbox files (Thunderbird's
// profile): links found there are not followed either. The path the
// admin names may itself be a link (the admin chose it).
func TestAnMboxDirectoryImportNeverFollowsSymlinks(t *testing.T) {
	b := newBox(t)
	dir := filepath.Join(t.TempDir(), "Mail")
	must(t, os.MkdirAll(filepath.Join(dir, "Work.sbd"), 0o700))
	must(t, os.WriteFile(filepath.Join(dir, "Inbox"), []byte("From a@old.test Mon Jan  1 10:00:00 2024\nSubject: hi\n\nan honest mbox message\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "Work.sbd", "Projects"), []byte("From a@old.test Mon Jan  1 10:00:00 2024\nSubject: p\n\nan honest project message\n"), 0o600))
	secret := filepath.Join(t.TempDir(), "secret")
	must(t, os.WriteFile(secret, []byte("From x@old.test Mon Jan  1 10:00:00 2024\nSubject: secret\n\nthe host's secret mbox\n"), 0o600))
	must(t, os.Symlink(secret, filepath.Join(dir, "Stolen")))
	must(t, os.MkdirAll(filepath.Join(filepath.Dir(secret), "x.sbd"), 0o700))
	must(t, os.Symlink(secret, filepath.Join(filepath.Dir(secret), "x.sbd", "Inner")))
	must(t, os.Symlink(filepath.Join(filepath.Dir(secret), "x.sbd"), filepath.Join(dir, "Linked.sbd")))
	must(t, syscall.Mkfifo(filepath.Join(dir, "Pipe"), 0o600))
	// The admin names the directory through a link of their own.
	top := filepath.Join(t.TempDir(), "profile")
	must(t, os.Symlink(dir, top))

	out, errs, code := importWithin(t, b, 60*time.Second, "me@example.test", "--mbox", top)
	if code != 0 {
		t.Fatalf("import: exit %d\n%s%s", code, out, errs)
	}
	var honest int
	for name, msgs := range allMail(t, b, "me@example.test") {
		for _, m := range msgs {
			if bytes.Contains(m, []byte("the host's secret mbox")) {
				t.Errorf("a linked mbox outside the directory was imported into %s", name)
			}
			if bytes.Contains(m, []byte("an honest")) {
				honest++
			}
		}
	}
	if honest != 2 {
		t.Errorf("%d honest messages imported, want 2\n%s", honest, out)
	}
	for _, p := range []string{"Stolen", "Linked.sbd", "Pipe"} {
		if !strings.Contains(out, p) {
			t.Errorf("the report does not name the ignored %s\n%s", p, out)
		}
	}
	// A single mbox file named by the admin is read, link or not; a FIFO
	// named by the admin is refused at once rather than waited on.
	link := filepath.Join(t.TempDir(), "inbox-link")
	must(t, os.Symlink(filepath.Join(dir, "Inbox"), link))
	if out, errs, code := importWithin(t, b, 60*time.Second, "me@example.test", "--mbox", link, "--folder", "Old"); code != 0 {
		t.Fatalf("import of a linked mbox file: exit %d\n%s%s", code, out, errs)
	}
	if n := len(b.Mailbox("me@example.test", "Old")); n != 1 {
		t.Errorf("Old holds %d messages, want 1", n)
	}
	if out, errs, code := importWithin(t, b, 60*time.Second, "me@example.test", "--mbox", filepath.Join(dir, "Pipe")); code == 0 || !strings.Contains(errs, "not a regular file") {
		t.Errorf("import of a FIFO: exit %d\n%s%s", code, out, errs)
	}
}

// importWithin runs 'boxmail migrate import' with a time limit: an
// import that hangs (on a FIFO, or reading a device) fails the test.
func importWithin(t *testing.T, b *Box, limit time.Duration, args ...string) (string, string, int) {
	t.Helper()
	return runWithin(t, limit, "", append(append([]string{"migrate", "import"}, args...), "--dir", b.Dir)...)
}

// allMail returns every message of an account, by mailbox name.
func allMail(t *testing.T, b *Box, email string) map[string][][]byte {
	t.Helper()
	ctx := context.Background()
	st, acc := b.OpenAccount(email)
	boxes, err := st.Mailboxes(ctx, acc.ID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][][]byte{}
	for _, mb := range boxes {
		msgs, err := st.Messages(ctx, mb.ID, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			body, err := st.Body(ctx, m.BodyID)
			if err != nil {
				t.Fatal(err)
			}
			out[mb.Name] = append(out[mb.Name], body)
		}
	}
	return out
}
