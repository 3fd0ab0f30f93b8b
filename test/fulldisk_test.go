package test

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"boxmail/internal/store"
)

// TestAFullDiskIsRefusedBeforeAnyWriteFails: the data dir is on a 20 MiB
// tmpfs. Filled to 12% free, 'boxmail status' warns about the free disk;
// filled to 3% free it fails, SMTP RCPT answers 452 4.3.1 and IMAP
// APPEND NO [OVERQUOTA] while the filesystem still has room (no write
// failed: the box's log has no full-disk error), and the admin gets one
// status mail about it from serve's loop, however often the checks run.
func TestAFullDiskIsRefusedBeforeAnyWriteFails(t *testing.T) {
	probe, err := net.Listen("tcp", "127.0.0.1:0") // port25_probe: loopback stands in for a remote MX
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	b := newBoxWith(t, map[string]string{"port25_probe": probe.Addr().String(), "insecure_auth": "true",
		"status_mail_interval": "1s"}) // serve runs the checks (and mails) every second
	mnt := mountTmpfs(t, b, "20m")
	b.Start()

	// Room: mail is accepted.
	c := b.Dial(b.SMTP)
	c.Expect("^220")
	c.Send("EHLO client.example")
	c.Expect("^250")
	sendOne(c, "me@example.test")
	if got := freeDiskLevel(t, b); got != "ok" {
		t.Fatalf("free disk with room: %s", got)
	}

	fillTo(t, mnt, 12)
	if got := freeDiskLevel(t, b); got != "warn" {
		t.Fatalf("free disk at 12%%: %s, want warn", got)
	}
	sendOne(c, "me@example.test") // still accepted: warn only

	fillTo(t, mnt, 3)
	if got := freeDiskLevel(t, b); got != "fail" {
		t.Fatalf("free disk at 3%%: %s, want fail", got)
	}
	c.Send("MAIL FROM:<someone@outside.example>")
	c.Expect("^250")
	c.Send("RCPT TO:<me@example.test>")
	c.Expect(`^452 4\.3\.1 `)
	c.Send("QUIT")

	i := b.Dial(b.IMAP)
	i.Expect(`^\* OK`)
	i.Send("a LOGIN me@example.test " + b.Password)
	i.Expect("^a OK")
	i.Send("b APPEND INBOX {20}")
	i.Expect(`^b NO \[OVERQUOTA\]`)

	d, err := store.DiskSpaceOf(mnt)
	if err != nil || d.Avail == 0 {
		t.Fatalf("the disk filled up after all: %+v %v", d, err)
	}
	if log := b.stderr.String(); strings.Contains(log, "no space left on device") || strings.Contains(log, "database or disk is full") || strings.Contains(log, "disk full: message refused") {
		t.Errorf("a write failed for want of space:\n%s", log)
	}

	// The status mail, from serve's own loop: one for the failure, and
	// not again while nothing changes (here: for five more rounds).
	failMails := func() (fail, all int) {
		for _, m := range b.Mailbox(b.Admin, "INBOX") {
			if bytes.Contains(m, []byte("Subject: mail.example.test status:")) {
				all++
				if bytes.Contains(m, []byte("NEW FAIL  machine free disk")) {
					fail++
				}
			}
		}
		return fail, all
	}
	deadline := time.Now().Add(30 * time.Second)
	for n, _ := failMails(); n == 0; n, _ = failMails() {
		if time.Now().After(deadline) {
			t.Fatalf("no status mail about the full disk from serve in 30 s; the box's log:\n%s", b.stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	_, before := failMails()
	time.Sleep(5 * time.Second)
	if fail, all := failMails(); fail != 1 || all != before {
		t.Fatalf("status mails: %d about the full disk (want 1), %d in all after five more rounds (want %d)", fail, all, before)
	}
	if out, _, _ := b.Cmd("", "status", "--no-ports", "--mail"); !strings.Contains(out, "nothing changed") {
		t.Fatalf("status --mail after serve mailed the change:\n%s", out)
	}
}

// sendOne sends a short message on an SMTP connection past EHLO.
func sendOne(c *Conn, to string) {
	c.t.Helper()
	c.Send("MAIL FROM:<someone@outside.example>")
	c.Expect("^250")
	c.Send("RCPT TO:<" + to + ">")
	c.Expect("^250")
	c.Send("DATA")
	c.Expect("^354")
	c.Send("From: someone@outside.example\r\nTo: " + to + "\r\nSubject: hello\r\n\r\nA line.\r\n.")
	c.Expect("^250")
}

var freeDiskLine = regexp.MustCompile(`(?m)^(ok|warn|fail)\s+machine\s+free disk\s`)

// freeDiskLevel is the level of status's free disk line.
func freeDiskLevel(t *testing.T, b *Box) string {
	t.Helper()
	out, errs, _ := b.Cmd("", "status", "--no-ports")
	m := freeDiskLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("status has no free disk line:\n%s%s", out, errs)
	}
	return m[1]
}

// mountTmpfs moves the stopped-to-be box's data dir onto a tmpfs of
// size: the box is stopped, the dir copied, and the mount undone (after
// the box stops) when the test ends. It returns the mount point.
func mountTmpfs(t *testing.T, b *Box, size string) string {
	t.Helper()
	b.Stop()
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", mnt).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mounting a tmpfs (root needed): %v %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs (root needed): %v %s", err, out)
	}
	t.Cleanup(func() {
		b.Stop()
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", mnt, err, out)
		}
	})
	data := filepath.Join(mnt, "data")
	if out, err := exec.Command("cp", "-a", b.Dir, data).CombinedOutput(); err != nil {
		t.Fatalf("copying the data dir: %v %s", err, out)
	}
	b.Dir = data
	return mnt
}

// fillTo writes a file on the filesystem of mnt until only pct percent
// of it is free.
func fillTo(t *testing.T, mnt string, pct float64) {
	t.Helper()
	d, err := store.DiskSpaceOf(mnt)
	if err != nil {
		t.Fatal(err)
	}
	want := uint64(float64(d.Total) * pct / 100)
	if d.Avail <= want {
		t.Fatalf("already below %.0f%% free: %+v", pct, d)
	}
	f, err := os.OpenFile(filepath.Join(mnt, "filler"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, d.Avail-want)); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}
