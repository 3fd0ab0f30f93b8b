package imapd

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"boxmail/internal/store"
)

// scenarioPath is the imaplib client shared with the reference run.
var scenarioPath = filepath.Join("..", "..", "test", "clients", "imap_scenario.py")

func needPython(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("python3 is required in CI")
		}
		t.Skip("python3 not installed")
	}
	return py
}

// runScenario starts imap_scenario.py and, when it prints IDLING, calls
// deliver; it fails the test unless the script ends with OK.
func runScenario(t *testing.T, host string, port int, user, pass string, expected []byte, deliver func()) {
	t.Helper()
	py := needPython(t)
	expectedFile := filepath.Join(t.TempDir(), "expected.eml")
	if err := os.WriteFile(expectedFile, expected, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, scenarioPath, host, strconv.Itoa(port), user, pass, expectedFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		lines = append(lines, line)
		if line == "IDLING" {
			deliver()
		}
	}
	err = cmd.Wait()
	if err != nil || len(lines) == 0 || lines[len(lines)-1] != "OK" {
		t.Fatalf("imap_scenario.py: %v\nstdout: %s\nstderr: %s", err, strings.Join(lines, "\n"), stderr.String())
	}
}

func TestPythonImaplibScenario(t *testing.T) {
	ts := startInsecure(t)
	bob := ts.account(t, "bob@example.test")
	msg := testMessage("greetings from python", "Line one.\r\nLine two.")
	ts.deliver(t, bob, msg)
	host, portStr, _ := strings.Cut(ts.addr, ":")
	port, _ := strconv.Atoi(portStr)
	runScenario(t, host, port, bob.Email, password, []byte(msg), func() {
		err := ts.store.Deliver(context.Background(), store.Delivery{Data: []byte(testMessage("while idling", "x")), Local: []store.LocalTarget{{AccountID: bob.ID}}})
		if err != nil {
			t.Error(err)
		}
	})
}
