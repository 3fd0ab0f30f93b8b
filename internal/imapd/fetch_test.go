package imapd

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"mime/quotedprintable"
	"strings"
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

func TestPlanFetchStreamsOnlyWhatNeedsNoStructure(t *testing.T) {
	for items, want := range map[string]store.BodyPart{
		"(BODY.PEEK[] RFC822.SIZE)":                store.BodyStream,
		"(BODY.PEEK[]<30000000.1000> ENVELOPE)":    store.BodyStream,
		"(BODY[TEXT] BINARY[] BINARY.SIZE[])":      store.BodyStream,
		"(RFC822 RFC822.TEXT)":                     store.BodyStream,
		"(BODY.PEEK[] BODYSTRUCTURE)":              store.BodyFull,
		"(BODY.PEEK[1])":                           store.BodyFull,
		"(BINARY.PEEK[1])":                         store.BodyFull,
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
// text and BINARY[], whole or partial; every answer is byte for byte the
// one the same FETCH gives when it loads the message whole (asking for
// BODYSTRUCTURE too makes it do so): a multipart message, a base64 one
// whose content holds NULs (a literal8), a quoted-printable one, and one
// without a blank line.
func TestALargeMessageIsStreamedAndAnsweredAsWhenLoadedWhole(t *testing.T) {
	ts := startInsecure(t)
	bob := ts.account(t, "bob@example.test")
	const size = 300 << 10
	fill := func(b *strings.Builder, line string) {
		for b.Len() < size {
			b.WriteString(line)
		}
	}
	var multi, b64, qp, noBlank strings.Builder
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
	for _, m := range []string{multi.String(), b64.String(), qp.String(), noBlank.String()} {
		ts.deliver(t, bob, m)
	}

	mb, err := ts.store.MailboxByName(context.Background(), bob.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	lm, err := ts.store.LoadMessages(context.Background(), mb.ID, []uint32{1, 2, 3, 4}, store.BodyStream)
	if err != nil || len(lm) != 4 {
		t.Fatalf("loading: %v", err)
	}
	for _, m := range lm {
		if !m.Streamed {
			t.Fatalf("message %d is not kept in a file: nothing here is streamed", m.UID)
		}
	}
	const items = "BODY.PEEK[] BODY.PEEK[]<1000.5000> BODY.PEEK[TEXT] BODY.PEEK[TEXT]<10.20> BODY.PEEK[]<99999999.10> " +
		"RFC822.SIZE BINARY.PEEK[] BINARY.PEEK[]<7.300> BINARY.SIZE[] BODY.PEEK[HEADER] ENVELOPE"
	c := loginRaw(t, ts, true)
	for n := 1; n <= 4; n++ {
		streamed := c.rawResponse("s", fmt.Sprintf("FETCH %d (%s)", n, items))
		whole := c.rawResponse("w", fmt.Sprintf("FETCH %d (%s BODYSTRUCTURE)", n, items))
		body, _, _ := strings.Cut(streamed, "\r\ns OK")
		if !strings.HasSuffix(body, ")") || !strings.HasPrefix(whole, strings.TrimSuffix(body, ")")+" BODYSTRUCTURE ") {
			i := 0
			for i < len(body) && i < len(whole) && body[i] == whole[i] {
				i++
			}
			t.Errorf("message %d: the streamed answer (%d bytes) differs from the whole one (%d bytes) at byte %d: %q vs %q",
				n, len(body), len(whole), i, body[max(0, i-40):min(len(body), i+40)], whole[max(0, i-40):min(len(whole), i+40)])
		}
		if len(body) < size {
			t.Errorf("message %d: an answer of %d bytes", n, len(body))
		}
	}
}
