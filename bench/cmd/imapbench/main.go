// Command imapbench times the IMAP operations of the benchmark against any
// server, with the same client code for each (a minimal IMAP4rev1 client
// over plain TCP on loopback). It prints one line of key=value pairs:
//
//	login_ms  select1_ms  (first connection: LOGIN, SELECT, LOGOUT)
//	select2_ms fetch_flags_ms fetch_full_ms search_subject_ms search_body_ms
//	          (second connection: SELECT again, then the operations)
//	exists= flags_n= full_bytes= subject_hits= body_hits=   (what came back)
//
// usage: imapbench -addr 127.0.0.1:143 -user U -pass P [-mailbox INBOX]
//
// The operations: FETCH 1:* (FLAGS); FETCH of 100 whole messages from the
// middle of the mailbox (BODY.PEEK[], so flags stay unchanged); UID SEARCH
// SUBJECT "topic-0042" over the whole mailbox; SEARCH 1:10000 BODY
// "zebraneedle" (the body text of 10,000 messages). bench/cmd/fillmail
// writes messages that these find.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

type conn struct {
	c   net.Conn
	r   *bufio.Reader
	tag int
}

func dial(addr string) (*conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	ic := &conn{c: c, r: bufio.NewReaderSize(c, 1<<16)}
	_ = c.SetDeadline(time.Now().Add(10 * time.Minute)) // fails only on a closed connection, which the read below reports
	line, err := ic.r.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, err
	}
	if !strings.HasPrefix(line, "* OK") {
		c.Close()
		return nil, fmt.Errorf("greeting: %q", line)
	}
	return ic, nil
}

// response reads one response line with its literals; n is the number of
// literal bytes it carried.
func (ic *conn) response() (line string, n int, err error) {
	var sb strings.Builder
	for {
		l, err := ic.r.ReadString('\n')
		if err != nil {
			return "", 0, err
		}
		sb.WriteString(l)
		t := strings.TrimRight(l, "\r\n")
		if !strings.HasSuffix(t, "}") {
			return sb.String(), n, nil
		}
		i := strings.LastIndexByte(t, '{')
		size, err := strconv.Atoi(strings.TrimSuffix(t[i+1:len(t)-1], "+"))
		if i < 0 || err != nil {
			return sb.String(), n, nil
		}
		if _, err := io.CopyN(io.Discard, ic.r, int64(size)); err != nil {
			return "", 0, err
		}
		n += size
	}
}

// cmd sends a command and calls each for every untagged response; it
// fails unless the tagged answer is OK.
func (ic *conn) cmd(each func(line string, literal int), format string, args ...any) error {
	ic.tag++
	tag := fmt.Sprintf("b%d", ic.tag)
	if _, err := fmt.Fprintf(ic.c, tag+" "+format+"\r\n", args...); err != nil {
		return err
	}
	for {
		line, n, err := ic.response()
		if err != nil {
			return err
		}
		if strings.HasPrefix(line, tag+" ") {
			if !strings.HasPrefix(line, tag+" OK") {
				return fmt.Errorf("%s: %s", fmt.Sprintf(format, args...), strings.TrimSpace(line))
			}
			return nil
		}
		if each != nil && strings.HasPrefix(line, "* ") {
			each(line, n)
		}
	}
}

func quote(s string) string { return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"` }

func main() {
	addr := flag.String("addr", "127.0.0.1:143", "server")
	user := flag.String("user", "user1@bench.test", "login")
	pass := flag.String("pass", "", "password")
	mailbox := flag.String("mailbox", "INBOX", "mailbox")
	flag.Parse()
	if err := run(*addr, *user, *pass, *mailbox); err != nil {
		fmt.Fprintln(os.Stderr, "imapbench:", err)
		os.Exit(1)
	}
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64)
}

func run(addr, user, pass, mailbox string) error {
	out := []string{}
	put := func(k, v string) { out = append(out, k+"="+v) }
	var exists int
	onSelect := func(line string, _ int) {
		if f := strings.Fields(line); len(f) >= 3 && f[2] == "EXISTS" {
			exists, _ = strconv.Atoi(f[1])
		}
	}
	timed := func(key string, f func() error) error {
		t := time.Now()
		if err := f(); err != nil {
			return err
		}
		put(key, ms(time.Since(t)))
		return nil
	}

	// First connection: LOGIN and the first SELECT (a cold index for a
	// server that builds it on first open).
	c, err := dial(addr)
	if err != nil {
		return err
	}
	if err := timed("login_ms", func() error { return c.cmd(nil, "LOGIN %s %s", quote(user), quote(pass)) }); err != nil {
		return err
	}
	if err := timed("select1_ms", func() error { return c.cmd(onSelect, "SELECT %s", quote(mailbox)) }); err != nil {
		return err
	}
	_ = c.cmd(nil, "LOGOUT") // a courtesy: the measurements are taken and the connection closes next
	c.c.Close()

	c, err = dial(addr)
	if err != nil {
		return err
	}
	defer c.c.Close()
	if err := c.cmd(nil, "LOGIN %s %s", quote(user), quote(pass)); err != nil {
		return err
	}
	if err := timed("select2_ms", func() error { return c.cmd(onSelect, "SELECT %s", quote(mailbox)) }); err != nil {
		return err
	}
	if exists < 10000 {
		return fmt.Errorf("mailbox has %d messages, want at least 10000", exists)
	}
	nflags := 0
	if err := timed("fetch_flags_ms", func() error {
		return c.cmd(func(l string, _ int) {
			if strings.Contains(l, " FETCH ") {
				nflags++
			}
		}, "FETCH 1:* (FLAGS)")
	}); err != nil {
		return err
	}
	full := 0
	mid := exists / 2
	if err := timed("fetch_full_ms", func() error {
		return c.cmd(func(_ string, n int) { full += n }, "FETCH %d:%d (BODY.PEEK[])", mid+1, mid+100)
	}); err != nil {
		return err
	}
	hits := func(n *int) func(string, int) {
		return func(l string, _ int) {
			if strings.HasPrefix(l, "* SEARCH") {
				*n += len(strings.Fields(l)) - 2
			}
		}
	}
	var subj, body int
	if err := timed("search_subject_ms", func() error { return c.cmd(hits(&subj), `UID SEARCH SUBJECT "topic-0042"`) }); err != nil {
		return err
	}
	if err := timed("search_body_ms", func() error { return c.cmd(hits(&body), `SEARCH 1:10000 BODY "zebraneedle"`) }); err != nil {
		return err
	}
	_ = c.cmd(nil, "LOGOUT") // a courtesy: the measurements are taken
	put("exists", strconv.Itoa(exists))
	put("flags_n", strconv.Itoa(nflags))
	put("full_bytes", strconv.Itoa(full))
	put("subject_hits", strconv.Itoa(subj))
	put("body_hits", strconv.Itoa(body))
	fmt.Println(strings.Join(out, " "))
	return nil
}
