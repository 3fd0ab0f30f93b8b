package imapd

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// QUOTA (RFC 9208) beside go-imap.
//
// go-imap v2 (beta.8) has no way to add a command: anything it does not
// know is "BAD Unknown command" before a session sees it. So where
// Options.ImplicitTLS is set, each connection is wrapped in a quotaConn that
// reads the client's commands before go-imap does, answers GETQUOTAROOT,
// GETQUOTA and SETQUOTA of a logged-in session itself, and hands every
// other byte to go-imap unchanged.
//
// Order: a quota command is answered only when go-imap asks for more
// input with nothing of ours unread, that is once it has answered every
// earlier command (it reads a command, runs it, writes its reply, then
// reads again), so replies keep the order of the commands. Literals
// ({N} and {N+}) are passed through uninterpreted, so their bytes are
// never taken for commands.
//
// The wrapper also refuses an APPEND announced above the size limit or
// the account's quota before any of its bytes is read (appendCheck), and
// reads past the bytes of such a LITERAL+ APPEND itself: go-imap answers
// NO [TOOBIG] to it and then parses the message as commands. For that it
// wraps the STARTTLS port's connections too, and does STARTTLS itself
// (beforeTLS, startTLS, offerTLS) so that it stays above TLS; QUOTA stays
// on IMAPS.
//
// go-imap also lists only the capabilities it knows, so the wrapper adds
// QUOTA to what a logged-in session is told: the CAPABILITY response and
// the [CAPABILITY] code of a successful LOGIN or AUTHENTICATE.
//
// The wrapper must sit above TLS: on IMAPS it is given the TLS
// connection; on the STARTTLS port it puts TLS below itself.

// maxSniff bounds the command line the wrapper holds to decide whether it
// is a quota command; longer lines pass through.
const maxSniff = 4096

type quotaListener struct {
	net.Listener
	srv *Server
}

func (l quotaListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	qc := &quotaConn{Conn: c, raw: c, srv: l.srv, state: lineStart}
	if !l.srv.opts.ImplicitTLS {
		qc.starttls = l.srv.opts.TLSConfig
	}
	return qc, nil
}

// What the next client bytes are.
const (
	lineStart = iota // the start of a command line
	midLine          // the rest of a line (or of a line after a literal)
	inLiteral        // lit more bytes of a literal
)

type quotaConn struct {
	net.Conn // the client, through our TLS after STARTTLS (swapped under wmu)
	// raw is the connection below that TLS: addresses and deadlines.
	raw net.Conn
	// starttls is offered until the client takes it (the STARTTLS port);
	// nil on IMAPS and once TLS is on. Read and changed only by go-imap's
	// connection goroutine (Writes from others hold wmu).
	starttls *tls.Config
	upgrade  bool // switch to TLS once the reply is written
	srv      *Server
	sess     atomic.Pointer[session] // set when go-imap creates the session
	wmu      sync.Mutex              // one writer at a time: go-imap or a quota reply
	// The command (tag and name) whose capability list the next writes
	// carry, under wmu; "" when none.
	capsTag, capsCmd string

	buf   [8192]byte
	in    []byte // read from the network, not yet looked at
	out   []byte // looked at, to hand to go-imap
	reply []byte // a quota reply to write before handing more
	state int
	lit   int64
	tail  []byte // the end of the current line so far, to spot {N}
	drop  bool   // reading past a refused APPEND (appendCheck) to its end
	err   error
}

// quotaCaps is what the capability lists gain.
const quotaCaps = " QUOTA QUOTA=RES-STORAGE"

func (c *quotaConn) base() net.Conn {
	if c.raw != nil {
		return c.raw
	}
	return c.Conn
}

func (c *quotaConn) LocalAddr() net.Addr                { return c.base().LocalAddr() }
func (c *quotaConn) RemoteAddr() net.Addr               { return c.base().RemoteAddr() }
func (c *quotaConn) SetDeadline(t time.Time) error      { return c.base().SetDeadline(t) }
func (c *quotaConn) SetReadDeadline(t time.Time) error  { return c.base().SetReadDeadline(t) }
func (c *quotaConn) SetWriteDeadline(t time.Time) error { return c.base().SetWriteDeadline(t) }

func (c *quotaConn) Close() error {
	c.wmu.Lock()
	conn := c.Conn
	c.wmu.Unlock()
	return conn.Close()
}

func (c *quotaConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.starttls != nil && bytes.Contains(p, []byte("CAPABILITY ")) {
		if sess := c.sess.Load(); sess == nil || sess.acct.ID == 0 {
			if _, err := c.Conn.Write(offerTLS(p, c.srv.opts.InsecureAuth)); err != nil {
				return 0, err
			}
			return len(p), nil
		}
	}
	if c.capsTag != "" {
		if q, done := c.addCaps(p); q != nil || done {
			c.capsTag = ""
			if q != nil {
				if _, err := c.Conn.Write(q); err != nil {
					return 0, err
				}
				return len(p), nil
			}
		}
	}
	return c.Conn.Write(p)
}

// addCaps returns p with QUOTA added to the capability list of the
// command being answered (nil if p has none), and whether p ends that
// command's answer.
func (c *quotaConn) addCaps(p []byte) ([]byte, bool) {
	sess := c.sess.Load()
	for i := 0; i < len(p); {
		end := bytes.Index(p[i:], []byte("\r\n"))
		if end < 0 {
			return nil, false
		}
		line := p[i : i+end]
		tagged := bytes.HasPrefix(line, []byte(c.capsTag+" "))
		var at int
		switch {
		case sess == nil || sess.acct.ID == 0:
			at = -1
		case c.capsCmd == "CAPABILITY" && bytes.HasPrefix(line, []byte("* CAPABILITY ")):
			at = i + end
		case c.capsCmd != "CAPABILITY" && tagged && bytes.HasPrefix(line[len(c.capsTag):], []byte(" OK [CAPABILITY ")):
			at = i + bytes.IndexByte(line, ']')
		default:
			at = -1
		}
		if at > i {
			return slices.Concat(p[:at], []byte(quotaCaps), p[at:]), true
		}
		if tagged {
			return nil, true
		}
		i += end + 2
	}
	return nil, false
}

func (c *quotaConn) Read(p []byte) (int, error) {
	for {
		if c.reply != nil {
			// go-imap asks for input with nothing of ours unread: it has
			// answered every earlier command.
			_, err := c.Write(c.reply)
			c.reply = nil
			if err != nil {
				return 0, err
			}
			if c.upgrade {
				c.startTLS()
			}
		}
		if len(c.out) > 0 {
			n := copy(p, c.out)
			c.out = c.out[n:]
			return n, nil
		}
		if len(c.in) == 0 && c.err != nil {
			return 0, c.err
		}
		c.next()
	}
}

// fill reads more from the network, keeping what is unread.
func (c *quotaConn) fill() {
	if c.err != nil {
		return
	}
	if len(c.in) == len(c.buf) {
		return
	}
	if len(c.in) > 0 && &c.in[0] != &c.buf[0] {
		c.in = c.buf[:copy(c.buf[:], c.in)]
	}
	n, err := c.Conn.Read(c.buf[len(c.in):])
	c.in = c.buf[:len(c.in)+n]
	if err != nil {
		c.err = err
	}
}

// next moves the next piece of input to out, or answers a quota command.
func (c *quotaConn) next() {
	if len(c.in) == 0 {
		c.fill()
		if len(c.in) == 0 {
			return
		}
	}
	if c.state == inLiteral {
		n := int(min(c.lit, int64(len(c.in))))
		c.pass(n)
		if c.lit -= int64(n); c.lit == 0 {
			c.state = midLine
		}
		return
	}
	i := bytes.IndexByte(c.in, '\n')
	if i < 0 {
		if c.state == lineStart && len(c.in) < maxSniff && c.err == nil {
			c.fill() // the whole line decides
			return
		}
		c.keepTail(c.in)
		c.state = midLine
		c.pass(len(c.in))
		return
	}
	line := c.in[:i+1]
	if c.state == lineStart {
		sess := c.sess.Load()
		if c.starttls != nil {
			if reply, lit := c.beforeTLS(sess, line); reply != nil {
				c.reply = reply
				c.in = c.in[i+1:]
				if lit > 0 {
					c.state, c.lit, c.drop = inLiteral, lit, true
				}
				return
			}
		}
		if reply := c.srv.quotaReply(sess, line); reply != nil {
			c.reply = reply
			c.in = c.in[i+1:]
			return
		}
		if reply, lit := c.srv.appendCheck(sess, line); reply != nil {
			c.reply = reply
			c.in = c.in[i+1:]
			if lit > 0 {
				c.state, c.lit, c.drop = inLiteral, lit, true
			}
			return
		}
		c.watchCaps(line)
	}
	c.keepTail(line)
	if n, ok := literalAtEnd(c.tail); ok {
		c.state, c.lit = inLiteral, n
		if n == 0 {
			c.state = midLine
		}
	} else {
		c.state = lineStart
	}
	c.tail = c.tail[:0]
	c.pass(i + 1)
	if c.state == lineStart {
		c.drop = false // the refused command has ended
	}
}

// pass hands the next n bytes to go-imap, or drops them while reading
// past a refused APPEND.
func (c *quotaConn) pass(n int) {
	if c.drop {
		c.in = c.in[n:]
		return
	}
	c.take(n)
}

// appendCheck answers an APPEND whose message is announced on its command
// line ("tag APPEND mailbox [flags] [date] {N}") and is over the size
// limit or the account's quota: NO [TOOBIG] or NO [OVERQUOTA] in place of
// the continuation request, so the client never sends the bytes. A
// LITERAL+ ({N+}) client sends them anyway: lit is how many to read past,
// with the rest of the command, keeping none (RFC 7888 section 4 lets a
// server read and discard them), so that none is ever taken for a command
// (go-imap answers NO and then parses on). Any other line: nil.
func (s *Server) appendCheck(sess *session, line []byte) (reply []byte, lit int64) {
	l := bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	tag, rest, ok := bytes.Cut(l, []byte(" "))
	if !ok || len(tag) == 0 || bytes.ContainsAny(tag, "(){%*\"\\+") {
		return nil, 0
	}
	if cmd, _, _ := bytes.Cut(rest, []byte(" ")); !bytes.EqualFold(cmd, []byte("APPEND")) {
		return nil, 0
	}
	n, ok := literalAtEnd(l)
	if !ok {
		return nil, 0
	}
	var text string
	log := s.log
	switch {
	case n > s.opts.MaxMessageBytes:
		text = fmt.Sprintf("NO [TOOBIG] Messages are limited to %d bytes", s.opts.MaxMessageBytes)
	case sess != nil && sess.acct.ID != 0:
		ctx, cancel := context.WithTimeout(s.ctx, opTimeout)
		fits, _, err := s.opts.Store.QuotaFits(ctx, sess.acct.ID, n)
		cancel()
		if err != nil || fits {
			return nil, 0 // a store error is the session's to report
		}
		text, log = "NO [OVERQUOTA] Mailbox full: over quota", sess.log
	default:
		return nil, 0
	}
	log.Info("imap append refused before its data", "size", n, "reply", text)
	if bytes.HasSuffix(l, []byte("+}")) {
		lit = n
	}
	return fmt.Appendf(nil, "%s %s\r\n", tag, text), lit
}

// beforeTLS answers, on the STARTTLS port before TLS, STARTTLS itself
// (the switch follows the reply) and, unless Options.InsecureAuth, LOGIN
// and AUTHENTICATE with NO [PRIVACYREQUIRED] (lit: the bytes of a
// LITERAL+ argument to read past). Any other line: nil.
func (c *quotaConn) beforeTLS(sess *session, line []byte) (reply []byte, lit int64) {
	l := bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	tag, rest, ok := bytes.Cut(l, []byte(" "))
	if !ok || len(tag) == 0 || bytes.ContainsAny(tag, "(){%*\"\\+") {
		return nil, 0
	}
	cmd, _, _ := bytes.Cut(rest, []byte(" "))
	loggedIn := sess != nil && sess.acct.ID != 0
	switch name := string(bytes.ToUpper(cmd)); {
	case name == "STARTTLS" && len(rest) == len(cmd):
		if loggedIn {
			return fmt.Appendf(nil, "%s BAD STARTTLS is not available after login\r\n", tag), 0
		}
		c.upgrade = true
		return fmt.Appendf(nil, "%s OK Begin TLS negotiation now\r\n", tag), 0
	case (name == "LOGIN" || name == "AUTHENTICATE") && !loggedIn && !c.srv.opts.InsecureAuth:
		if n, ok := literalAtEnd(l); ok && bytes.HasSuffix(l, []byte("+}")) {
			lit = n
		}
		return fmt.Appendf(nil, "%s NO [PRIVACYREQUIRED] TLS is required to authenticate\r\n", tag), lit
	}
	return nil, 0
}

// startTLS puts TLS between the client and go-imap, after the OK to
// STARTTLS. Whatever the client sent after STARTTLS in the clear is
// dropped, so that none of it is taken as said over TLS.
func (c *quotaConn) startTLS() {
	c.wmu.Lock()
	c.Conn = tls.Server(c.Conn, c.starttls)
	c.starttls = nil
	c.wmu.Unlock()
	c.upgrade = false
	c.in = c.buf[:0]
	c.out = nil
	c.state, c.tail = lineStart, c.tail[:0]
}

// offerTLS rewrites the capability lists in p for the STARTTLS port
// before TLS: STARTTLS added and, unless logins in the clear are allowed,
// LOGINDISABLED in place of the AUTH= mechanisms (go-imap, told logins
// are safe, lists them).
func offerTLS(p []byte, plainAuth bool) []byte {
	var out []byte
	for len(p) > 0 {
		end := bytes.Index(p, []byte("\r\n"))
		if end < 0 {
			return append(out, p...)
		}
		line := p[:end]
		p = p[end+2:]
		start, stop := -1, len(line)
		if bytes.HasPrefix(line, []byte("* CAPABILITY ")) {
			start = len("* CAPABILITY ")
		} else if i := bytes.Index(line, []byte("[CAPABILITY ")); i >= 0 {
			if j := bytes.IndexByte(line[i:], ']'); j > 0 {
				start, stop = i+len("[CAPABILITY "), i+j
			}
		}
		if start < 0 {
			out = append(append(out, line...), "\r\n"...)
			continue
		}
		out = append(out, line[:start]...)
		for _, capa := range bytes.Fields(line[start:stop]) {
			if !plainAuth && bytes.HasPrefix(bytes.ToUpper(capa), []byte("AUTH=")) {
				continue
			}
			out = append(append(out, capa...), ' ')
		}
		out = append(out, "STARTTLS"...)
		if !plainAuth {
			out = append(out, " LOGINDISABLED"...)
		}
		out = append(append(out, line[stop:]...), "\r\n"...)
	}
	return out
}

// watchCaps notes a command whose answer lists capabilities.
func (c *quotaConn) watchCaps(line []byte) {
	if !c.srv.opts.ImplicitTLS {
		return // QUOTA is offered on IMAPS only
	}
	tag, rest, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(" "))
	cmd, _, _ := bytes.Cut(rest, []byte(" "))
	switch name := string(bytes.ToUpper(cmd)); name {
	case "CAPABILITY", "LOGIN", "AUTHENTICATE":
		c.wmu.Lock()
		c.capsTag, c.capsCmd = string(tag), name
		c.wmu.Unlock()
	}
}

func (c *quotaConn) take(n int) {
	c.out = c.in[:n]
	c.in = c.in[n:]
}

// keepTail keeps the last bytes of the current line, where a literal's
// {N} would be.
func (c *quotaConn) keepTail(p []byte) {
	c.tail = append(c.tail, p...)
	if len(c.tail) > 32 {
		c.tail = append(c.tail[:0], c.tail[len(c.tail)-32:]...)
	}
}

// literalAtEnd reports whether a line ends with a literal's announcement,
// "{N}" or "{N+}" before its line end, and N.
func literalAtEnd(line []byte) (int64, bool) {
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	if !bytes.HasSuffix(line, []byte("}")) {
		return 0, false
	}
	open := bytes.LastIndexByte(line, '{')
	if open < 0 {
		return 0, false
	}
	num := bytes.TrimSuffix(line[open+1:len(line)-1], []byte("+"))
	n, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// quotaReply answers a quota command of a logged-in session, or returns
// nil for any other line (go-imap's to answer).
func (s *Server) quotaReply(sess *session, line []byte) []byte {
	if sess == nil || sess.acct.ID == 0 || !s.opts.ImplicitTLS {
		return nil
	}
	l := bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	tag, rest, ok := bytes.Cut(l, []byte(" "))
	if !ok || len(tag) == 0 || bytes.ContainsAny(tag, "(){%*\"\\+") {
		return nil
	}
	cmd, arg, _ := bytes.Cut(rest, []byte(" "))
	name := string(bytes.ToUpper(cmd))
	if name != "GETQUOTAROOT" && name != "GETQUOTA" && name != "SETQUOTA" {
		return nil
	}
	if _, lit := literalAtEnd(l); lit {
		return nil // a literal argument: go-imap answers BAD
	}
	var b bytes.Buffer
	done := func(status, text string) []byte {
		fmt.Fprintf(&b, "%s %s %s\r\n", tag, status, text)
		return b.Bytes()
	}
	if name == "SETQUOTA" {
		return done("NO", "[NOPERM] Quotas are set by the box's admin")
	}
	mailbox, ok := astring(arg)
	if !ok {
		return done("BAD", "Expected one mailbox or quota root name")
	}
	ctx, cancel := context.WithTimeout(s.ctx, opTimeout)
	defer cancel()
	u, err := s.opts.Store.AccountUsage(ctx, sess.acct.ID)
	if err != nil {
		sess.log.Error("quota: store error", "err", err)
		return done("NO", "[SERVERBUG] Internal error")
	}
	// One quota root, "", for the whole account; none without a quota.
	quota := func() {
		fmt.Fprintf(&b, "* QUOTA \"\" (STORAGE %d %d)\r\n", (u.Used+1023)/1024, u.Quota/1024)
	}
	if name == "GETQUOTAROOT" {
		if u.Quota <= 0 {
			fmt.Fprintf(&b, "* QUOTAROOT %s\r\n", quoted(mailbox))
		} else {
			fmt.Fprintf(&b, "* QUOTAROOT %s \"\"\r\n", quoted(mailbox))
			quota()
		}
		return done("OK", "GETQUOTAROOT completed")
	}
	if mailbox != "" || u.Quota <= 0 {
		return done("NO", "[NONEXISTENT] No such quota root")
	}
	quota()
	return done("OK", "GETQUOTA completed")
}

// astring parses one IMAP astring (an atom or a quoted string) that is
// the whole of arg.
func astring(arg []byte) (string, bool) {
	if len(arg) == 0 {
		return "", false
	}
	if arg[0] != '"' {
		if bytes.ContainsAny(arg, " (){%*\"\\") {
			return "", false
		}
		return string(arg), true
	}
	var out []byte
	for i := 1; i < len(arg); i++ {
		switch c := arg[i]; c {
		case '\\':
			if i+1 >= len(arg) || (arg[i+1] != '"' && arg[i+1] != '\\') {
				return "", false
			}
			i++
			out = append(out, arg[i])
		case '"':
			return string(out), i == len(arg)-1
		default:
			out = append(out, c)
		}
	}
	return "", false
}

// quoted writes s as an IMAP quoted string.
func quoted(s string) string {
	var b bytes.Buffer
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}
