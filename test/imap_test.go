package test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAPhoneReadsMailOverIMAPWithTLSAndSeesNewMailAtOnce(t *testing.T) {
	b := newBox(t)
	py := needTool(t, "python3")
	out, code := b.Swaks("--server", fmt.Sprintf("127.0.0.1:%d", b.SMTP), "--from", "friend@elsewhere.example", "--to", "me@example.test",
		"--h-Subject", "photos from the weekend", "--body", "Grüße,\nsee attached\n")
	if code != 0 {
		t.Fatalf("swaks: %s", out)
	}
	expected := filepath.Join(t.TempDir(), "expected.eml")
	os.WriteFile(expected, b.Mailbox("me@example.test", "INBOX")[0], 0o600)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, filepath.Join("clients", "imap_tls.py"), "127.0.0.1", fmt.Sprint(b.IMAP), fmt.Sprint(b.IMAPS), b.Admin, b.Password, expected)
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(stdout)
	var lines []string
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			break
		}
		lines = append(lines, strings.TrimSpace(l))
		if strings.TrimSpace(l) == "IDLING" {
			start := time.Now()
			if out, code := b.Swaks("--server", fmt.Sprintf("127.0.0.1:%d", b.SMTP), "--to", "me@example.test", "--h-Subject", "are you there?"); code != 0 {
				t.Fatalf("second delivery: %s", out)
			}
			t.Logf("delivered while idling (%v)", time.Since(start))
		}
	}
	if err := cmd.Wait(); err != nil || lines[len(lines)-1] != "OK" {
		t.Fatalf("imap_tls.py: %v\nstdout %q\nstderr %s", err, lines, stderr.String())
	}
}
