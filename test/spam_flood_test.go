package test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"boxmail/internal/testutil"
)

// A user moves 10,000 messages to Junk at once (issue 17's adversarial
// case): meanwhile another connection's NOOP and SELECT are answered, and
// the box trains on all of them afterwards. The goal is 100 ms; the bound
// asserted is generous, for a loaded 2-core machine, and the log holds
// the real figures (bench/results/spam-2026-12-06.md).
func TestSpamTenThousandMovedToJunk(t *testing.T) {
	py := needTool(t, "python3")
	const n = 10000
	b := newBox(t)
	var mbox bytes.Buffer
	words := []string{"garden", "invoice", "holiday", "football", "recipe", "meeting", "photos", "birthday"}
	for i := range n {
		fmt.Fprintf(&mbox, "From sender%d@example.org Mon Jan  1 00:00:00 2024\nFrom: Sender %d <sender%d@list%d.example.org>\nTo: me@example.test\nSubject: %s note %d\nMessage-ID: <flood%d@example.org>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n\nA note about the %s, number %d, with a few more words to tokenize: weather, train, school, dinner.\n\n",
			i%300, i, i%300, i%40, words[i%len(words)], i, i, words[(i/8)%len(words)], i)
	}
	f := filepath.Join(t.TempDir(), "flood.mbox")
	must(t, os.WriteFile(f, mbox.Bytes(), 0o600))
	start := time.Now()
	if out, errs, code := b.Cmd("", "migrate", "import", "me@example.test", "--mbox", f, "--folder", "INBOX"); code != 0 {
		t.Fatalf("import: exit %d\n%s\n%s", code, out, errs)
	}
	t.Logf("%d messages imported into INBOX in %v", n, time.Since(start).Round(time.Millisecond))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, filepath.Join("clients", "spam_flood.py"), "127.0.0.1", strconv.Itoa(b.IMAPS), "me@example.test", testPassword, "10")
	moveStart := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("spam_flood.py: %v\n%s", err, out)
	}
	t.Logf("spam_flood.py:\n%s", out)
	if m := regexp.MustCompile(`moved (\d+) in`).FindSubmatch(out); m == nil || string(m[1]) != strconv.Itoa(n) {
		t.Fatalf("not all %d moved:\n%s", n, out)
	}
	testutil.WaitFor(t, "the 10,000 moved messages trained", 5*time.Minute, func() bool {
		s, _, _, q := spamStatsLine(t, b, "me@example.test")
		return s == n && q == 0
	})
	t.Logf("moved and trained %v after the move began", time.Since(moveStart).Round(time.Millisecond))
	for _, m := range regexp.MustCompile(`(?m)^(move|after) n=(\d+) median_ms=([0-9.]+) p99_ms=([0-9.]+) max_ms=([0-9.]+)$`).FindAllSubmatch(out, -1) {
		med, _ := strconv.ParseFloat(string(m[3]), 64)
		max, _ := strconv.ParseFloat(string(m[5]), 64)
		// Generous: the goal is 100 ms, the machine is shared.
		if med > 500 || max > 5000 {
			t.Errorf("%s: NOOP/SELECT median %.0f ms, max %.0f ms; want at most 500 and 5000", m[1], med, max)
		}
	}
}
