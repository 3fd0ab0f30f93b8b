package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// client is a minimal IMAP4rev1 client over plain TCP: commands, tagged
// answers, untagged lines with their literals skipped (counted).
type client struct {
	c   net.Conn
	r   *bufio.Reader
	tag int
}

// dial connects to addr, from the loopback address src when it is not
// empty, and reads the greeting.
func dial(addr, src string, timeout time.Duration) (*client, error) {
	d := net.Dialer{Timeout: timeout}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	ic := &client{c: c, r: bufio.NewReaderSize(c, 1<<16)}
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		c.Close()
		return nil, err
	}
	line, _, err := ic.line()
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

// deadline bounds the next reads and writes.
func (ic *client) deadline(d time.Duration) error { return ic.c.SetDeadline(time.Now().Add(d)) }

func (ic *client) close() error { return ic.c.Close() }

// line reads one response line with its literals (skipped; n counts
// their bytes), without the final CRLF.
func (ic *client) line() (string, int, error) {
	var sb strings.Builder
	n := 0
	for {
		l, err := ic.r.ReadString('\n')
		if err != nil {
			return "", 0, err
		}
		t := strings.TrimRight(l, "\r\n")
		sb.WriteString(t)
		if !strings.HasSuffix(t, "}") {
			return sb.String(), n, nil
		}
		i := strings.LastIndexByte(t, '{')
		if i < 0 {
			return sb.String(), n, nil
		}
		size, err := strconv.Atoi(strings.TrimSuffix(t[i+1:len(t)-1], "+"))
		if err != nil {
			return sb.String(), n, nil
		}
		if _, err := io.CopyN(io.Discard, ic.r, int64(size)); err != nil {
			return "", 0, err
		}
		n += size
	}
}

// send writes a tagged command and returns its tag.
func (ic *client) send(command string) (string, error) {
	ic.tag++
	tag := "c" + strconv.Itoa(ic.tag)
	_, err := io.WriteString(ic.c, tag+" "+command+"\r\n")
	return tag, err
}

// cmd runs a command, calls each (when not nil) for every untagged line
// and fails unless the answer is OK; it returns the tagged line.
func (ic *client) cmd(each func(line string), command string) (string, error) {
	tag, err := ic.send(command)
	if err != nil {
		return "", err
	}
	return ic.wait(tag, command, each)
}

func (ic *client) wait(tag, command string, each func(line string)) (string, error) {
	for {
		line, _, err := ic.line()
		if err != nil {
			return "", fmt.Errorf("%s: %w", verb(command), err)
		}
		if strings.HasPrefix(line, tag+" ") {
			if !strings.HasPrefix(line, tag+" OK") {
				return line, fmt.Errorf("%s: %s", verb(command), line)
			}
			return line, nil
		}
		if each != nil && strings.HasPrefix(line, "* ") {
			each(line)
		}
	}
}

// verb is a command's first word (or two, for UID commands), for errors:
// never the arguments, which may hold a password.
func verb(command string) string {
	f := strings.Fields(command)
	switch {
	case len(f) == 0:
		return ""
	case strings.EqualFold(f[0], "UID") && len(f) > 1:
		return f[0] + " " + f[1]
	}
	return f[0]
}

func quote(s string) string { return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"` }

func (ic *client) login(user, pass string) error {
	_, err := ic.cmd(nil, "LOGIN "+quote(user)+" "+quote(pass))
	return err
}

// selectBox selects a mailbox and returns its EXISTS count.
func (ic *client) selectBox(mailbox string) (int, error) {
	exists := 0
	_, err := ic.cmd(func(l string) {
		if f := strings.Fields(l); len(f) >= 3 && f[2] == "EXISTS" {
			exists, _ = strconv.Atoi(f[1])
		}
	}, "SELECT "+quote(mailbox))
	return exists, err
}

// appendMsg appends msg with a synchronizing literal and returns the
// tagged line (with APPENDUID when the server has UIDPLUS).
func (ic *client) appendMsg(mailbox string, msg []byte) (string, error) {
	tag, err := ic.send(fmt.Sprintf("APPEND %s {%d}", quote(mailbox), len(msg)))
	if err != nil {
		return "", err
	}
	for {
		line, _, err := ic.line()
		if err != nil {
			return "", fmt.Errorf("APPEND: %w", err)
		}
		if strings.HasPrefix(line, "+") {
			break
		}
		if strings.HasPrefix(line, tag+" ") {
			return line, fmt.Errorf("APPEND: %s", line)
		}
	}
	if _, err := ic.c.Write(append(append([]byte{}, msg...), "\r\n"...)); err != nil {
		return "", err
	}
	return ic.wait(tag, "APPEND", nil)
}

// appendUID is the UID in an APPENDUID response code, or "".
func appendUID(tagged string) string {
	i := strings.Index(tagged, "[APPENDUID ")
	if i < 0 {
		return ""
	}
	f := strings.Fields(strings.TrimSuffix(strings.SplitN(tagged[i+1:], "]", 2)[0], "]"))
	if len(f) != 3 {
		return ""
	}
	return f[2]
}

// message is a small text message (about 1.5 KiB), CRLF line endings.
func message(from, subject string, i int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: Load Client <%s>\r\nTo: user@bench.test\r\nSubject: %s %d\r\n", from, subject, i)
	fmt.Fprintf(&b, "Date: %s\r\nMessage-ID: <%d.%d.load@bench.test>\r\n", time.Now().UTC().Format(time.RFC1123Z), i, time.Now().UnixNano())
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
	for l := range 20 {
		fmt.Fprintf(&b, "line %02d of a message the load driver appends, to have some body text here.\r\n", l)
	}
	return []byte(b.String())
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64)
}
