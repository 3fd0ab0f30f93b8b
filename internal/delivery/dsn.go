package delivery

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"boxmail/internal/mailmsg"
	"boxmail/internal/store"
)

type bounceKind int

const (
	bounceFailed  bounceKind = iota // RFC 3464 Action: failed
	bounceDelayed                   // Action: delayed (a warning)
)

// bounceInfo says what a DSN reports.
type bounceInfo struct {
	kind       bounceKind
	rcpts      []string
	msgs       []string // per recipient: the remote's reply or our reason
	retryUntil time.Time
}

// makeBounce builds the delivery status notification (RFC 3464,
// multipart/report) for a queue entry and routes it to the entry's
// sender: into the sender's mailbox when local, else queued with the null
// sender, so it is never bounced itself.
func (q *Queue) makeBounce(it store.QueueItem, b *bounceInfo) (*store.Delivery, error) {
	ctx := context.Background()
	route, err := q.d.Resolve(ctx, it.Sender)
	if err != nil {
		return nil, fmt.Errorf("routing the bounce to %s: %w", it.Sender, err)
	}
	orig, err := q.d.st.Body(ctx, it.BodyID)
	if err != nil {
		return nil, err
	}
	msg := buildDSN(q.d.hostname, it, b, orig, q.o.now())
	if q.d.signBounces {
		if h, err := q.d.DKIMSign(ctx, msg, q.d.hostname); err != nil {
			q.log.Warn("signing a bounce", "err", err)
		} else {
			msg = append(h, msg...)
		}
	}
	del := &store.Delivery{Data: msg, Received: q.o.now(), Sender: "", Remote: route.Remote}
	for _, a := range route.Accounts {
		del.Local = append(del.Local, store.LocalTarget{AccountID: a})
	}
	return del, nil
}

// maxReturnedHeader bounds the original header a bounce returns, so a
// huge header cannot blow up the bounce.
const maxReturnedHeader = 64 << 10

func newMessageID(host string) string {
	var b [12]byte
	rand.Read(b[:])
	return "<" + hex.EncodeToString(b[:]) + "@" + host + ">"
}

// buildDSN writes the report: a readable explanation, the machine-readable
// delivery-status part and the original message's header.
func buildDSN(host string, it store.QueueItem, b *bounceInfo, orig []byte, now time.Time) []byte {
	var buf bytes.Buffer
	var rb [8]byte
	rand.Read(rb[:])
	boundary := "boxmail-dsn-" + hex.EncodeToString(rb[:])
	subject, action, intro := "Undelivered Mail Returned to Sender", "failed",
		"I'm sorry: your message could not be delivered to the recipients below. This is a permanent error; it will not be retried."
	if b.kind == bounceDelayed {
		subject, action = "Delayed Mail (still being retried)", "delayed"
		intro = fmt.Sprintf("Your message has not been delivered yet to the recipients below. Nothing needs to be done: it will be retried until %s, and you will hear again only if it fails for good.", b.retryUntil.UTC().Format(time.RFC1123Z))
	}
	w := func(format string, a ...any) { fmt.Fprintf(&buf, format+"\r\n", a...) }
	w("From: Mail Delivery System <MAILER-DAEMON@%s>", host)
	w("To: <%s>", it.Sender)
	w("Subject: %s", subject)
	w("Date: %s", now.Format(time.RFC1123Z))
	w("Message-ID: %s", newMessageID(host))
	w("Auto-Submitted: auto-replied")
	w("MIME-Version: 1.0")
	w("Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"%s\"", boundary)
	w("")
	w("This is a delivery status notification in MIME format.")
	w("")
	w("--%s", boundary)
	w("Content-Type: text/plain; charset=utf-8")
	w("Content-Transfer-Encoding: 8bit")
	w("")
	w("This is the mail system at %s.", host)
	w("")
	w("%s", intro)
	w("")
	for i, r := range b.rcpts {
		w("<%s>: %s", r, b.msgs[i])
	}
	w("")
	w("--%s", boundary)
	w("Content-Type: message/delivery-status")
	w("")
	w("Reporting-MTA: dns; %s", host)
	w("Arrival-Date: %s", it.Created.Format(time.RFC1123Z))
	for i, r := range b.rcpts {
		w("")
		w("Final-Recipient: rfc822; %s", r)
		w("Action: %s", action)
		w("Status: %s", enhancedCode(b.msgs[i], b.kind == bounceFailed))
		if code, _, ok := strings.Cut(b.msgs[i], " "); ok && len(code) == 3 && code[0] >= '2' && code[0] <= '5' {
			w("Diagnostic-Code: smtp; %s", oneLineText(b.msgs[i]))
		}
		if b.kind == bounceDelayed {
			w("Will-Retry-Until: %s", b.retryUntil.Format(time.RFC1123Z))
		}
	}
	w("")
	w("--%s", boundary)
	w("Content-Type: text/rfc822-headers")
	w("")
	end, _ := mailmsg.Bounds(orig) // the fields, without the empty line
	sc := bufio.NewScanner(bytes.NewReader(orig[:min(end, maxReturnedHeader)]))
	sc.Buffer(make([]byte, 0, 4096), 128<<10)
	for sc.Scan() {
		w("%s", strings.TrimRight(sc.Text(), "\r"))
	}
	w("")
	w("--%s--", boundary)
	return buf.Bytes()
}

func oneLineText(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 900 {
		s = s[:900]
	}
	return s
}
