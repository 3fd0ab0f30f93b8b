package pop3d

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"USER me@example.test", "PASS a b c", "retr 1", "TOP 1 10", "LIST", "", "X", "AUTH PLAIN =", "UIDL 99999999999", "TOP -1 +2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		cmd, arg, err := parseCommand(line)
		if err != nil {
			return
		}
		if len(cmd) < 3 || len(cmd) > 4 || strings.ToUpper(cmd) != cmd || !strings.HasSuffix(line, arg) {
			t.Fatalf("parseCommand(%q) = %q, %q", line, cmd, arg)
		}
		if a, err := parseMsgArgs(arg, 2, true); err == nil && a != nil && (len(a) != 2 || a[0] < 0 || a[1] < 0) {
			t.Fatalf("parseMsgArgs(%q) = %v", arg, a)
		}
	})
}

// memBackend is a maildrop in memory: one account, password "pw".
type memBackend struct{ msgs [][]byte }

func (b *memBackend) Login(ctx context.Context, user, pass string, _ netip.Addr) (Session, error) {
	if user != "me" || pass != "pw" {
		return nil, ErrAuthFailed
	}
	return &memSession{b: b}, nil
}

type memSession struct{ b *memBackend }

func (s *memSession) Messages() []Message {
	var out []Message
	for i, m := range s.b.msgs {
		out = append(out, Message{Size: int64(len(m)), UID: UIDL(uint32(i+1), 7)})
	}
	return out
}
func (s *memSession) Retrieve(ctx context.Context, i int) (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(s.b.msgs[i])), nil
}
func (s *memSession) Update(ctx context.Context, r, d []int) error { return nil }
func (s *memSession) Close() error                                 { return nil }

// scriptConn plays a client's bytes to the server and collects its
// answers.
type scriptConn struct {
	in  io.Reader
	out bytes.Buffer
}

func (c *scriptConn) Read(b []byte) (int, error)  { return c.in.Read(b) }
func (c *scriptConn) Write(b []byte) (int, error) { return c.out.Write(b) }
func (c *scriptConn) Close() error                { return nil }
func (c *scriptConn) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 110} }
func (c *scriptConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzSession runs a whole session from arbitrary client bytes: the
// server must not panic, and every line it sends must end in CRLF.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"USER me\r\nPASS pw\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nTOP 2 1\r\nDELE 1\r\nRSET\r\nQUIT\r\n",
		"CAPA\r\nAUTH\r\nAUTH PLAIN\r\nAG1lAHB3\r\nLIST 2\r\nUIDL 3\r\nTOP 1 0\r\nQUIT\r\n",
		"AUTH PLAIN AG1lAHB3\r\nRETR 0\r\nRETR 99\r\nDELE 1\r\nDELE 1\r\nRETR 1\r\nNOOP\r\n",
		"STLS\r\nUSER\r\nPASS\r\nxx\r\n\r\n.\r\n",
	} {
		f.Add([]byte(s))
	}
	msgs := [][]byte{
		[]byte("Subject: a\r\n\r\n.dot\r\nbody\r\n"),
		[]byte("Subject: b\n\nbare LF\nno final newline"),
	}
	f.Fuzz(func(t *testing.T, script []byte) {
		srv := New(Options{Backend: &memBackend{msgs: msgs}, InsecureAuth: true})
		sc := &scriptConn{in: bytes.NewReader(script)}
		srv.newConn(context.Background(), sc).serve()
		out := sc.out.Bytes()
		if !bytes.HasPrefix(out, []byte("+OK")) || !bytes.HasSuffix(out, []byte("\r\n")) {
			t.Fatalf("output %q", out)
		}
		for _, l := range bytes.SplitAfter(out, []byte("\n")) {
			if len(l) > 0 && !bytes.HasSuffix(l, []byte("\r\n")) {
				t.Fatalf("line without CRLF %q in %q", l, out)
			}
		}
	})
}
