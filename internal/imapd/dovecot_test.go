package imapd

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestPythonImaplibScenarioAgainstDovecot runs the same imaplib scenario
// against the reference Postfix+Dovecot of ../shared/bench (habit 9), so
// a difference between boxmail and Dovecot shows up as a failure in one
// of the two runs. Opt in: BOXMAIL_IMAP_REFERENCE=dovecot.
func TestPythonImaplibScenarioAgainstDovecot(t *testing.T) {
	if os.Getenv("BOXMAIL_IMAP_REFERENCE") != "dovecot" {
		t.Skip("set BOXMAIL_IMAP_REFERENCE=dovecot to run against the reference Dovecot")
	}
	script, _ := filepath.Abs(filepath.Join("..", "..", "..", "shared", "bench", "peers", "postfix-dovecot.sh"))
	if env := os.Getenv("BOXMAIL_PEERS_SCRIPT"); env != "" {
		script = env
	}
	// Ports of our own, so a peer someone else runs on the defaults is left alone.
	const imapPort, pass = 15143, "benchpass"
	// A short directory: Dovecot's unix sockets live under it.
	benchDir, err := os.MkdirTemp("", "bxd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(benchDir) })
	peer := func(arg string) {
		cmd := exec.Command("bash", script, arg)
		cmd.Env = append(os.Environ(), "BENCH_DIR="+benchDir, "PD_USERS=1", "PD_PASS="+pass,
			"PD_SMTP_PORT=15525", "PD_IMAP_PORT=15143", "PD_POP3_PORT=15110")
		// A file, not a pipe: the daemons inherit it and never close it.
		logPath := filepath.Join(benchDir, "peer-"+arg+".log")
		out, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Run(); err != nil {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("%s %s: %v\n%s", script, arg, err, b)
		}
	}
	peer("start")
	t.Cleanup(func() { peer("stop") })

	const user = "user1@bench.test"
	addr := "127.0.0.1:15143"
	// APPEND rather than SMTP: LMTP would add trace headers, and the
	// scenario compares the message byte for byte.
	appendMsg := func(msg string) {
		c, err := imapclient.DialInsecure(addr, nil)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		if err := c.Login(user, pass).Wait(); err != nil {
			t.Error(err)
			return
		}
		cmd := c.Append("INBOX", int64(len(msg)), &imap.AppendOptions{})
		cmd.Write([]byte(msg))
		cmd.Close()
		if _, err := cmd.Wait(); err != nil {
			t.Error(err)
		}
	}
	msg := testMessage("greetings from python", "Line one.\r\nLine two.")
	appendMsg(msg)
	t.Setenv("IMAP_REFERENCE", "dovecot")
	runScenario(t, "127.0.0.1", imapPort, user, pass, []byte(msg), func() { appendMsg(testMessage("while idling", "x")) })
}
