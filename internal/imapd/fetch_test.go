package imapd

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"mime/quotedprintable"
	"strings"
	"sync/atomic"
	"testing"

	"boxmail/internal/imapd/wire"
	"boxmail/internal/store"
)

// rawResponse sends one tagged command and returns the bytes of its
// answer as they came, the tagged line last.
func (c *rawConn) rawResponse(tag, line string) string {
	c.t.Helper()
	c.send(tag + " " + line + "\r\n")
	var b strings.Builder
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", tag, err)
		}
		b.WriteString(l)
		if strings.HasPrefix(l, tag+" ") {
			return b.String()
		}
	}
}

func TestPlanFetchStreamsEveryBodyItem(t *testing.T) {
	for items, want := range map[string]store.BodyPart{
		"(BODY.PEEK[] RFC822.SIZE)":                store.BodyStream,
		"(BODY.PEEK[]<30000000.1000> ENVELOPE)":    store.BodyStream,
		"(BODY[TEXT] BINARY[] BINARY.SIZE[])":      store.BodyStream,
		"(RFC822 RFC822.TEXT)":                     store.BodyStream,
		"(BODY.PEEK[] BODYSTRUCTURE)":              store.BodyStream,
		"(BODY.PEEK[1])":                           store.BodyStream,
		"(BINARY.PEEK[1] BODY)":                    store.BodyStream,
		"(BODY.PEEK[HEADER] ENVELOPE)":             store.BodyHeader,
		"(UID FLAGS)":                              store.FlagsOnly,
		"(BODY.PEEK[HEADER.FIELDS (Subject)] UID)": store.BodyHeader,
	} {
		cmd, err := wire.NewReader(bufio.NewReader(strings.NewReader("a FETCH 1 "+items+"\r\n")), wire.Limits{}).ReadCommand()
		if err != nil {
			t.Fatalf("%s: %v", items, err)
		}
		if p := planFetch(cmd.Args.(*wire.Fetch), false, false); p.need != want {
			t.Errorf("FETCH %s reads %d, want %d", items, p.need, want)
		}
	}
}

// A message kept in a file (from 256 KiB) is streamed for BODY[], its
// text and BINARY[], whole or partial, and walked once for BODYSTRUCTURE,
// BODY and its parts' sections (BODY[n], n.MIME, n.HEADER.FIELDS,
// BINARY[n], BINARY.SIZE[n], partials, parts it has not); every answer
// is byte for byte the one the same FETCH gives when it reads the
// message whole: a multipart message, a base64 one whose content holds
// NULs (a literal8), a quoted-printable one, one without a blank line,
// a forwarded message with the large one attached, and a malformed one
// (a part without its end, a delimiter right after another, a last line
// without its line end).
func TestALargeMessageIsStreamedAndAnsweredAsWhenLoadedWhole(t *testing.T) {
	var wholes wholeReads
	ts := startServer(t, Options{InsecureAuth: true, Logger: slog.New(&wholes)})
	bob := ts.account(t, "bob@example.test")
	const size = 300 << 10
	fill := func(b *strings.Builder, line string) {
		for b.Len() < size {
			b.WriteString(line)
		}
	}
	var multi, b64, qp, noBlank, fwd, bad, many strings.Builder
	multi.WriteString("Subject: multi\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nhi\r\n--B\r\nContent-Type: application/octet-stream\r\n\r\n")
	fill(&multi, "0123456789abcdefghij.line\r\n")
	multi.WriteString("--B--\r\n")
	b64.WriteString("Subject: b64\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	fill(&b64, base64.StdEncoding.EncodeToString([]byte("zero\x00bytes\x00here and there, fifty-four bytes a li"))+"\r\n")
	qp.WriteString("Subject: qp\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	var q strings.Builder
	w := quotedprintable.NewWriter(&q)
	fmt.Fprint(w, strings.Repeat("café au lait, ", 30)+"\r\n")
	w.Close()
	fill(&qp, q.String())
	noBlank.WriteString("Subject: only a header\r\n")
	fill(&noBlank, "X-Long: a field that goes on\r\n")
	fwd.WriteString("Subject: fwd\r\nContent-Type: multipart/mixed; boundary=F\r\n\r\n--F\r\n\r\nsee below\r\n--F\r\nContent-Type: message/rfc822\r\n\r\n")
	fwd.WriteString(multi.String())
	fwd.WriteString("\r\n--F--\r\n")
	bad.WriteString("Subject: bad\r\nContent-Type: multipart/mixed; boundary=X\r\n\r\n--X\r\n--X\r\nContent-Type: multipart/alternative; boundary=Y\r\n\r\n--Y\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	fill(&bad, "QUJDREVGR0g=\r\n")
	bad.WriteString("--X\r\nContent-Type: text/plain\r\n\r\nno end")
	// More parts than the walk's cap: read whole, as before.
	many.WriteString("Subject: many\r\nContent-Type: multipart/mixed; boundary=p\r\n\r\n")
	for range wire.MaxMIMEParts + 1 {
		many.WriteString("--p\r\n\r\nx\r\n")
	}
	many.WriteString("--p\r\nContent-Type: application/octet-stream\r\n\r\n")
	fill(&many, "0123456789abcdefghij.line\r\n")
	for _, m := range []string{multi.String(), b64.String(), qp.String(), noBlank.String(), fwd.String(), bad.String(), many.String()} {
		ts.deliver(t, bob, m)
	}

	mb, err := ts.store.MailboxByName(context.Background(), bob.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	lm, err := ts.store.LoadMessages(context.Background(), mb.ID, []uint32{1, 2, 3, 4, 5, 6, 7}, store.BodyStream)
	if err != nil || len(lm) != 7 {
		t.Fatalf("loading: %v", err)
	}
	for _, m := range lm {
		if !m.Streamed {
			t.Fatalf("message %d is not kept in a file: nothing here is streamed", m.UID)
		}
	}
	const items = "BODY.PEEK[] BODY.PEEK[]<1000.5000> BODY.PEEK[TEXT] BODY.PEEK[TEXT]<10.20> BODY.PEEK[]<99999999.10> " +
		"RFC822.SIZE BINARY.PEEK[] BINARY.PEEK[]<7.300> BINARY.SIZE[] BODY.PEEK[HEADER] ENVELOPE"
	const partItems = "BODYSTRUCTURE BODY BODY.PEEK[1] BODY.PEEK[2] BODY.PEEK[2]<100.2000> BODY.PEEK[1.MIME] BODY.PEEK[2.MIME] " +
		"BODY.PEEK[2.HEADER.FIELDS (Content-Type)] BODY.PEEK[2.TEXT] BODY.PEEK[2.HEADER] BODY.PEEK[2.2] BODY.PEEK[2.2.MIME] " +
		"BODY.PEEK[2.3]<5.10> BODY.PEEK[7] BINARY.PEEK[1] BINARY.SIZE[2] BINARY.PEEK[2]<10.300> BINARY.PEEK[2.2] BINARY.SIZE[2.2] BINARY.PEEK[9]"
	c := loginRaw(t, ts, true)
	for n := 1; n <= 7; n++ {
		for _, its := range []string{items, partItems, items + " " + partItems} {
			before := wholes.n.Load()
			streamed := c.rawResponse("s", fmt.Sprintf("FETCH %d (%s)", n, its))
			if whole := wholes.n.Load() != before; whole != (n == 7 && its != items) {
				t.Fatalf("message %d: read whole %v for %s", n, whole, its)
			}
			readLargeWhole.Store(true)
			whole := c.rawResponse("s", fmt.Sprintf("FETCH %d (%s)", n, its))
			readLargeWhole.Store(false)
			if streamed != whole {
				i := 0
				for i < len(streamed) && i < len(whole) && streamed[i] == whole[i] {
					i++
				}
				t.Errorf("message %d: the streamed answer (%d bytes) differs from the whole one (%d bytes) at byte %d: %q vs %q",
					n, len(streamed), len(whole), i, streamed[max(0, i-40):min(len(streamed), i+40)], whole[max(0, i-40):min(len(whole), i+40)])
			}
			if !strings.Contains(streamed, "\r\ns OK") || len(streamed) < size {
				t.Errorf("message %d: an answer of %d bytes: %.300q", n, len(streamed), streamed)
			}
		}
	}
}

// wholeReads counts the server's log records that say a large message
// was read whole.
type wholeReads struct{ n atomic.Int64 }

func (w *wholeReads) Enabled(context.Context, slog.Level) bool { return true }
func (w *wholeReads) WithAttrs([]slog.Attr) slog.Handler       { return w }
func (w *wholeReads) WithGroup(string) slog.Handler            { return w }
func (w *wholeReads) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "whole") {
		w.n.Add(1)
	}
	return nil
}

// A message with an empty part (a delimiter line right after another)
// is answered: the structure parse cut that part from after its
// delimiter line to before it, a slice out of range that ended the
// whole server.
func TestAnEmptyMIMEPartDoesNotEndTheServer(t *testing.T) {
	ts := startInsecure(t)
	bob := ts.account(t, "bob@example.test")
	ts.deliver(t, bob, "Subject: empty part\r\nContent-Type: multipart/mixed; boundary=e\r\n\r\n--e\r\n--e\r\nContent-Type: text/plain\r\n\r\nsecond\r\n--e--\r\n")
	c := loginRaw(t, ts, true)
	got := c.rawResponse("f", "FETCH 1 (BODYSTRUCTURE BODY.PEEK[1] BODY.PEEK[1.MIME] BODY.PEEK[2] BINARY.PEEK[1])")
	for _, want := range []string{
		`BODYSTRUCTURE (("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 0 0 NIL NIL NIL NIL)("text" "plain" NIL NIL NIL "7BIT" 6 1 NIL NIL NIL NIL) "mixed" ("boundary" "e") NIL NIL NIL)`,
		`BODY[1] {0}`, `BODY[1.MIME] {0}`, "BODY[2] {6}\r\nsecond", "f OK",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("want %q in\n%s", want, got)
		}
	}
}
