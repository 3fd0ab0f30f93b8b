package test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDialogs runs every dialogs/*.dialog script against a fresh box.
//
// Script lines:
//
//	# comment
//	port smtp|submission|pop3   connect to that port (first line)
//	> TEXT                      send TEXT + CRLF ("\t" escapes allowed)
//	>raw TEXT                   send TEXT with no CRLF added (use \r\n escapes)
//	< REGEXP                    read one full reply; its last line must match
//	= EMAIL MAILBOX N           after the dialog, the mailbox holds N messages
//	~ EMAIL MAILBOX N TEXT      message N (1-based) contains TEXT
func TestDialogs(t *testing.T) {
	files, _ := filepath.Glob("dialogs/*.dialog")
	if len(files) == 0 {
		t.Fatal("no dialogs")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".dialog"), func(t *testing.T) {
			runDialog(t, f)
		})
	}
}

func unescape(s string) string {
	return strings.NewReplacer(`\r`, "\r", `\n`, "\n", `\t`, "\t").Replace(s)
}

func runDialog(t *testing.T, path string) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := newBox(t)
	var c *Conn
	var checks []string
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		where := fmt.Sprintf("%s:%d", path, n)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "port "):
			port := map[string]int{"smtp": b.SMTP, "submission": b.Submission, "pop3": b.POP3}[strings.TrimSpace(line[5:])]
			if port == 0 {
				t.Fatalf("%s: unknown port", where)
			}
			c = b.Dial(port)
		case strings.HasPrefix(line, ">raw "):
			c.c.Write([]byte(unescape(line[5:])))
		case line == ">": // an empty line
			c.Send("")
		case strings.HasPrefix(line, "> "):
			c.Send(unescape(line[2:]))
		case strings.HasPrefix(line, "< "):
			t.Logf("%s: expecting /%s/", where, line[2:])
			c.Expect(line[2:])
		case strings.HasPrefix(line, "= "), strings.HasPrefix(line, "~ "):
			checks = append(checks, where+" "+line)
		default:
			t.Fatalf("%s: bad script line %q", where, line)
		}
	}
	if c != nil {
		c.c.Close()
	}
	for _, ch := range checks {
		where, rest, _ := strings.Cut(ch, " ")
		fields := strings.SplitN(rest, " ", 5)
		msgs := b.Mailbox(fields[1], fields[2])
		k, _ := strconv.Atoi(fields[3])
		switch fields[0] {
		case "=":
			if len(msgs) != k {
				t.Errorf("%s: %s %s holds %d messages, want %d", where, fields[1], fields[2], len(msgs), k)
			}
		case "~":
			if k < 1 || k > len(msgs) || !strings.Contains(string(msgs[k-1]), unescape(fields[4])) {
				t.Errorf("%s: message %d of %s %s lacks %q", where, k, fields[1], fields[2], fields[4])
			}
		}
	}
}
