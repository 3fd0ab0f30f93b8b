package test

// The box on PostgreSQL (issue 23, phase 1): the same story as on SQLite,
// with store_url pointing at a database of the test run's private cluster.

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

// TestPostgreSQLBoxDeliversOverSMTPAndServesIMAP: mail sent over SMTP to
// a box whose store is PostgreSQL is read back over IMAP by Python's
// imaplib (clients/imap_scenario.py: fetch byte for byte, search, flags,
// move to Archive), and a second message reaches its IDLE.
func TestPostgreSQLBoxDeliversOverSMTPAndServesIMAP(t *testing.T) {
	py := needTool(t, "python3")
	b := newPGBox(t, map[string]string{"insecure_auth": "true"})
	smtp := fmt.Sprintf("127.0.0.1:%d", b.SMTP)
	if out, code := b.Swaks("--server", smtp, "--to", b.Admin, "--from", "friend@elsewhere.example",
		"--header", "Subject: pgstory first"); code != 0 {
		t.Fatalf("delivery failed:\n%s", out)
	}
	stored := b.Mailbox(b.Admin, "INBOX")
	if len(stored) != 1 {
		t.Fatalf("INBOX in PostgreSQL holds %d messages, want 1", len(stored))
	}
	expected := filepath.Join(t.TempDir(), "expected.eml")
	if err := os.WriteFile(expected, stored[0], 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, filepath.Join("clients", "imap_scenario.py"),
		"127.0.0.1", fmt.Sprint(b.IMAP), b.Admin, b.Password, expected)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if sc.Text() == "IDLING" {
			if out, code := b.Swaks("--server", smtp, "--to", b.Admin, "--from", "friend@elsewhere.example",
				"--header", "Subject: pgstory second"); code != 0 {
				t.Errorf("second delivery failed:\n%s", out)
			}
		}
	}
	if err := cmd.Wait(); err != nil || len(lines) == 0 || lines[len(lines)-1] != "OK" {
		t.Fatalf("imap_scenario.py on PostgreSQL: %v\nstdout: %s\nstderr: %s", err, strings.Join(lines, "\n"), stderr.String())
	}
	if n := len(b.Mailbox(b.Admin, "Archive")); n != 1 {
		t.Errorf("Archive holds %d messages after the MOVE, want 1", n)
	}
}
