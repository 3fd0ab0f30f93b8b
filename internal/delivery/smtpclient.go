package delivery

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// smtpClient is the outbound side of SMTP (RFC 5321): greeting, EHLO,
// opportunistic STARTTLS on the same connection, AUTH PLAIN for
// smarthosts, and transactions with per-recipient replies. boxmail has its
// own because go-smtp's client offers STARTTLS only as "required" and
// hides the remote's reply texts that bounces must quote.
type smtpClient struct {
	conn    net.Conn
	r       *textproto.Reader
	w       *bufio.Writer
	ext     map[string]string
	timeout time.Duration
	tls     bool
	check   *tlsCheck // what the certificate check found (tlspolicy.go)
}

// replyError is an SMTP reply that is not a success.
type replyError struct {
	code int
	msg  string
}

func (e *replyError) Error() string   { return fmt.Sprintf("%d %s", e.code, e.msg) }
func (e *replyError) permanent() bool { return e.code >= 500 }

func newReplyError(code int, msg string) *replyError {
	return &replyError{code: code, msg: strings.ReplaceAll(msg, "\n", " ")}
}

// maxReplyLines bounds a multi-line reply from a hostile server.
const maxReplyLines = 100

func newSMTPClient(conn net.Conn, timeout time.Duration) *smtpClient {
	return &smtpClient{conn: conn, r: textproto.NewReader(bufio.NewReader(conn)), w: bufio.NewWriter(conn), timeout: timeout}
}

// readReply reads one (possibly multi-line) reply. Malformed replies are
// errors of the connection, not replies.
func (c *smtpClient) readReply() (int, string, error) {
	c.conn.SetReadDeadline(time.Now().Add(c.timeout))
	return readReply(c.r)
}

func readReply(r *textproto.Reader) (int, string, error) {
	var lines []string
	code := 0
	for i := 0; ; i++ {
		if i >= maxReplyLines {
			return 0, "", fmt.Errorf("reply longer than %d lines", maxReplyLines)
		}
		line, err := r.ReadLine()
		if err != nil {
			return 0, "", err
		}
		if len(line) > 2000 {
			return 0, "", fmt.Errorf("reply line longer than 2000 bytes")
		}
		if len(line) < 3 {
			return 0, "", fmt.Errorf("malformed reply %q", line)
		}
		c, err := strconv.Atoi(line[:3])
		if err != nil || c < 200 || c > 599 {
			return 0, "", fmt.Errorf("malformed reply %q", line)
		}
		if i == 0 {
			code = c
		} else if c != code {
			return 0, "", fmt.Errorf("reply code changed within a multi-line reply: %q", line)
		}
		more := len(line) > 3 && line[3] == '-'
		if len(line) > 3 && line[3] != ' ' && line[3] != '-' {
			return 0, "", fmt.Errorf("malformed reply %q", line)
		}
		if len(line) > 4 {
			lines = append(lines, line[4:])
		} else {
			lines = append(lines, "")
		}
		if !more {
			return code, strings.Join(lines, "\n"), nil
		}
	}
}

// cmd sends a command and reads its reply; a reply whose first digit is
// not want's is returned as a *replyError.
func (c *smtpClient) cmd(want int, format string, args ...any) (string, error) {
	c.conn.SetWriteDeadline(time.Now().Add(c.timeout))
	fmt.Fprintf(c.w, format+"\r\n", args...)
	if err := c.w.Flush(); err != nil {
		return "", err
	}
	code, msg, err := c.readReply()
	if err != nil {
		return "", err
	}
	if code/100 != want/100 {
		return msg, newReplyError(code, msg)
	}
	return msg, nil
}

// greet reads the banner.
func (c *smtpClient) greet() error {
	code, msg, err := c.readReply()
	if err != nil {
		return err
	}
	if code != 220 {
		return newReplyError(code, msg)
	}
	return nil
}

// hello sends EHLO (HELO if refused) and records the extensions.
func (c *smtpClient) hello(name string) error {
	msg, err := c.cmd(250, "EHLO %s", name)
	if re, ok := err.(*replyError); ok && re.permanent() {
		c.ext = map[string]string{}
		_, err = c.cmd(250, "HELO %s", name)
		return err
	}
	if err != nil {
		return err
	}
	c.ext = map[string]string{}
	lines := strings.Split(msg, "\n")
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(l, " ")
		c.ext[strings.ToUpper(k)] = v
	}
	return nil
}

func (c *smtpClient) has(ext string) bool {
	_, ok := c.ext[ext]
	return ok
}

// startTLS upgrades the connection and says EHLO again.
func (c *smtpClient) startTLS(cfg *tls.Config, name string) error {
	if _, err := c.cmd(220, "STARTTLS"); err != nil {
		return err
	}
	tc := tls.Client(c.conn, cfg)
	tc.SetDeadline(time.Now().Add(c.timeout))
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	c.conn = tc
	c.r = textproto.NewReader(bufio.NewReader(tc))
	c.w = bufio.NewWriter(tc)
	c.tls = true
	return c.hello(name)
}

// authPlain authenticates with AUTH PLAIN (RFC 4616).
func (c *smtpClient) authPlain(user, pass string) error {
	resp := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
	_, err := c.cmd(235, "AUTH PLAIN %s", resp)
	return err
}

// send runs one transaction. It returns the reply for each recipient
// (nil: accepted and delivered), or an error of the connection, after
// which the client is unusable. A requireTLS message carries REQUIRETLS
// on to a server that offers it (RFC 8689 4.2.1).
func (c *smtpClient) send(ctx context.Context, from string, rcpts []string, body []byte, requireTLS bool) (map[string]*replyError, error) {
	out := map[string]*replyError{}
	var params string
	if c.has("8BITMIME") {
		params = " BODY=8BITMIME"
	}
	if c.has("SIZE") {
		params += fmt.Sprintf(" SIZE=%d", len(body))
	}
	if requireTLS && c.tls && c.has("REQUIRETLS") {
		params += " REQUIRETLS"
	}
	if _, err := c.cmd(250, "MAIL FROM:<%s>%s", from, params); err != nil {
		re, ok := err.(*replyError)
		if !ok {
			return nil, err
		}
		for _, r := range rcpts {
			out[r] = re
		}
		return out, c.reset()
	}
	var accepted []string
	for _, r := range rcpts {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if _, err := c.cmd(250, "RCPT TO:<%s>", r); err != nil {
			re, ok := err.(*replyError)
			if !ok {
				return nil, err
			}
			out[r] = re
			continue
		}
		accepted = append(accepted, r)
	}
	if len(accepted) == 0 {
		return out, c.reset()
	}
	if _, err := c.cmd(354, "DATA"); err != nil {
		re, ok := err.(*replyError)
		if !ok {
			return nil, err
		}
		for _, r := range accepted {
			out[r] = re
		}
		return out, c.reset()
	}
	c.conn.SetWriteDeadline(time.Now().Add(c.timeout + time.Duration(len(body)/1024)*time.Second))
	dw := textproto.NewWriter(c.w).DotWriter()
	if _, err := dw.Write(body); err != nil {
		return nil, err
	}
	if err := dw.Close(); err != nil { // writes CRLF . CRLF and flushes
		return nil, err
	}
	code, msg, err := c.readReply()
	if err != nil {
		return nil, err
	}
	for _, r := range accepted {
		if code/100 == 2 {
			out[r] = nil
		} else {
			out[r] = newReplyError(code, msg)
		}
	}
	return out, nil
}

func (c *smtpClient) reset() error {
	_, err := c.cmd(250, "RSET")
	if _, ok := err.(*replyError); ok {
		return nil // a refused RSET is the server's problem; try the next MAIL
	}
	return err
}

func (c *smtpClient) quit() {
	c.conn.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.cmd(221, "QUIT") // the mail is sent or refused already; a lost QUIT changes nothing
	c.conn.Close()
}
