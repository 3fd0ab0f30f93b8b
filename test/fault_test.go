package test

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

// onTmpfs moves a stopped box's data dir onto a tmpfs of the given size
// (made by the test as root, unmounted after) and starts it there.
func onTmpfs(t *testing.T, b *Box, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the full-disk test needs root to mount a tmpfs")
		}
		t.Skip("needs root to mount a tmpfs")
	}
	b.Stop()
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	data := filepath.Join(mnt, "data")
	if out, err := exec.Command("cp", "-a", b.Dir, data).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	b.Dir = data
	b.Start()
	return mnt
}

// fill writes a file until the filesystem is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for range 10000 {
		if _, err := f.Write(chunk); err != nil {
			return
		}
	}
	t.Fatal("the filesystem never filled up")
}

func integrityOK(t *testing.T, dir string) {
	t.Helper()
	st := testutil.StoreAt(t, dir, store.Options{})
	defer st.Close()
	if err := st.IntegrityCheck(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestAFullDiskAnswers452AndServiceReturnsWhenSpaceIsFreed(t *testing.T) {
	b := newBox(t)
	mnt := onTmpfs(t, b, "24m")
	mx := fmt.Sprintf("127.0.0.1:%d", b.SMTP)
	if out, code := b.Swaks("--server", mx, "--to", "me@example.test", "--h-Subject", "before the disk filled"); code != 0 {
		t.Fatalf("delivery before the disk filled: %s", out)
	}
	filler := filepath.Join(mnt, "filler")
	fill(t, filler)

	big := strings.Repeat("The quick brown fox jumps over the lazy dog, again and again.\n", 2000) // ~128 KB
	body := filepath.Join(t.TempDir(), "body")
	os.WriteFile(body, []byte(big), 0o600)
	var refused string
	for i := range 40 {
		out, _ := b.Swaks("--server", mx, "--to", "me@example.test", "--h-Subject", fmt.Sprintf("while full %d", i), "--body", "@"+body)
		if strings.Contains(out, "452 4.3.1") {
			refused = out
			break
		}
		if !strings.Contains(out, "250 2.0.0") {
			t.Fatalf("neither accepted nor refused with 452 4.3.1:\n%s", out)
		}
	}
	if refused == "" {
		t.Fatal("the disk never filled up for the mail store")
	}
	// A photo, which the store writes to a file of its own, is refused the
	// same way, and leaves no partial file behind.
	photo := filepath.Join(t.TempDir(), "photo")
	os.WriteFile(photo, []byte(strings.Repeat(big, 4)), 0o600)
	if out, _ := b.Swaks("--server", mx, "--to", "me@example.test", "--h-Subject", "a photo while full", "--body", "@"+photo); !strings.Contains(out, "452 4.3.1") {
		t.Errorf("a 500 KB message on a full disk:\n%s", out)
	}
	if files, err := os.ReadDir(filepath.Join(b.Dir, "bodies")); err != nil || len(files) != 0 {
		t.Errorf("body files left by refused messages: %d (%v)", len(files), err)
	}

	// IMAP APPEND says so clearly too.
	ic, err := imapclient.DialTLS(fmt.Sprintf("127.0.0.1:%d", b.IMAPS), &imapclient.Options{TLSConfig: insecureTLS()})
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if err := ic.Login(b.Admin, b.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	msg := "Subject: draft\r\n\r\n" + strings.ReplaceAll(big, "\n", "\r\n")
	ac := ic.Append("Drafts", int64(len(msg)), nil)
	ac.Write([]byte(msg))
	ac.Close()
	_, err = ac.Wait()
	ierr, ok := err.(*imap.Error)
	if !ok || ierr.Code != imap.ResponseCodeOverQuota || !strings.Contains(ierr.Text, "disk is full") {
		t.Errorf("APPEND on a full disk: %v, want NO [OVERQUOTA] saying the disk is full", err)
	}

	// Free the space: service returns without a restart.
	os.Remove(filler)
	time.Sleep(100 * time.Millisecond)
	if out, code := b.Swaks("--server", mx, "--to", "me@example.test", "--h-Subject", "after the space came back"); code != 0 {
		t.Fatalf("delivery after freeing space: %s", out)
	}
	msgs := b.Mailbox("me@example.test", "INBOX")
	last := string(msgs[len(msgs)-1])
	if !strings.Contains(last, "after the space came back") || !strings.Contains(string(msgs[0]), "before the disk filled") {
		t.Errorf("mailbox after the disk was freed: %d messages, last %q", len(msgs), last[:min(200, len(last))])
	}
	b.Stop()
	integrityOK(t, b.Dir)
}

func insecureTLS() *tls.Config { return &tls.Config{InsecureSkipVerify: true} }
