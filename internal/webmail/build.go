package webmail

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"boxmail/internal/delivery"
)

// Building a message from a compose form. Nothing typed becomes a header
// unchecked: addresses are parsed (net/mail, then delivery.ParseAddress),
// the subject and display names are encoded (RFC 2047) after line breaks
// are refused, threading fields must be message ids, attachment names go
// through mime.FormatMediaType (RFC 2231 for non-ASCII).

// Caps of a composed message.
const (
	maxRecipients = 100
	maxSubject    = 900
	maxFileName   = 255
)

// outgoing is a message to build: checked fields and attachments.
type outgoing struct {
	From            *mail.Address
	To, Cc, Bcc     []*mail.Address
	Subject         string
	Text            string
	InReplyTo, Refs string
	Files           []file
	Date            time.Time
	Draft           bool // a draft: X-Boxmail-Draft-* keep fields that did not parse
	RawTo, RawCc    string
}

// file is an attachment's content and how it is named.
type file struct {
	Name, Type string
	Data       []byte
}

// errProblem is a problem with the form the user can fix; its text is
// shown.
type errProblem struct{ msg string }

func (e *errProblem) Error() string { return e.msg }

func problem(format string, a ...any) error { return &errProblem{fmt.Sprintf(format, a...)} }

// parseRecipients reads a To, Cc or Bcc field as typed ("" is none).
func parseRecipients(v string) ([]*mail.Address, error) {
	if strings.ContainsAny(v, "\r\n\x00") {
		return nil, errors.New("line break in an address field")
	}
	v = strings.TrimSpace(strings.Trim(strings.TrimSpace(v), ","))
	if v == "" {
		return nil, nil
	}
	list, err := mail.ParseAddressList(v)
	if err != nil {
		return nil, err
	}
	for _, a := range list {
		if _, err := delivery.ParseAddress(a.Address); err != nil {
			return nil, err
		}
		if strings.ContainsFunc(a.Name, isControl) {
			return nil, errors.New("control character in a name")
		}
	}
	return list, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// cleanSubject refuses line breaks and control characters, and caps.
func cleanSubject(s string) (string, error) {
	if strings.ContainsAny(s, "\r\n\x00") {
		return "", problem("The subject may not contain line breaks.")
	}
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || isControl(r) }), " ")
	if len(s) > maxSubject {
		return "", problem("The subject is too long (at most %d characters).", maxSubject)
	}
	return strings.ToValidUTF8(s, "\uFFFD"), nil
}

// fileName makes a browser-given file name safe to name an attachment:
// no directories, no control characters, valid UTF-8, capped.
func fileName(n string) string {
	n = strings.ToValidUTF8(n, "_")
	n = n[strings.LastIndexAny(n, `/\`)+1:]
	n = strings.Map(func(r rune) rune {
		if isControl(r) || r == '"' {
			return '_'
		}
		return r
	}, strings.TrimSpace(n))
	for len(n) > maxFileName {
		ext := path.Ext(n)
		if len(ext) > 16 {
			ext = ""
		}
		n = n[:maxFileName-len(ext)-1]
		for !utf8.ValidString(n) {
			n = n[:len(n)-1]
		}
		n += ext
	}
	if n == "" || n == "." || n == ".." {
		n = "attachment"
	}
	return n
}

// mediaType keeps a browser-given type if it is a plain type/subtype.
func mediaType(t string) string {
	mt, _, err := mime.ParseMediaType(t)
	if err != nil || !strings.Contains(mt, "/") || strings.HasPrefix(mt, "multipart/") {
		return "application/octet-stream"
	}
	return mt
}

// encodeHeader encodes a header value (RFC 2047) and folds between
// encoded words, so no line exceeds 78 characters for long subjects.
func encodeHeader(v string) string {
	return strings.ReplaceAll(mime.QEncoding.Encode("utf-8", v), "?= =?", "?=\r\n =?")
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// build writes the message: text/plain alone, or multipart/mixed with
// the text first and then each file (base64; a message/rfc822 as is).
func (o outgoing) build() []byte {
	var b bytes.Buffer
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	domain := o.From.Address[strings.LastIndexByte(o.From.Address, '@')+1:]
	hdr("From", o.From.String())
	if len(o.To) > 0 {
		hdr("To", addressList(o.To))
	}
	if len(o.Cc) > 0 {
		hdr("Cc", addressList(o.Cc))
	}
	if o.Draft && len(o.Bcc) > 0 {
		hdr("Bcc", addressList(o.Bcc))
	}
	if o.Draft && o.RawTo != "" {
		hdr("X-Boxmail-Draft-To", encodeHeader(o.RawTo))
	}
	if o.Draft && o.RawCc != "" {
		hdr("X-Boxmail-Draft-Cc", encodeHeader(o.RawCc))
	}
	hdr("Subject", encodeHeader(o.Subject))
	hdr("Date", o.Date.Format(time.RFC1123Z))
	hdr("Message-ID", "<"+randomHex(12)+"@"+domain+">")
	if validMsgID(o.InReplyTo) {
		hdr("In-Reply-To", o.InReplyTo)
		if refs := strings.Join(strings.Fields(o.Refs), " "); refs != "" && len(refs) < 2000 && validRefs(refs) {
			hdr("References", foldRefs(refs))
		}
	}
	hdr("MIME-Version", "1.0")
	if len(o.Files) == 0 {
		writeText(&b, o.Text)
		return b.Bytes()
	}
	boundary := "=_" + randomHex(16)
	hdr("Content-Type", mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": boundary}))
	b.WriteString("\r\nThis is a message in MIME format.\r\n")
	b.WriteString("\r\n--" + boundary + "\r\n")
	writeText(&b, o.Text)
	for _, f := range o.Files {
		b.WriteString("\r\n--" + boundary + "\r\n")
		writeFile(&b, f)
	}
	b.WriteString("\r\n--" + boundary + "--\r\n")
	return b.Bytes()
}

// foldRefs puts each message id of References on its own line.
func foldRefs(refs string) string { return strings.ReplaceAll(refs, " ", "\r\n ") }

// writeText writes the text part's header and body (quoted-printable).
func writeText(b *bytes.Buffer, text string) {
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	body := strings.ReplaceAll(strings.ReplaceAll(strings.ToValidUTF8(text, "\uFFFD"), "\r\n", "\n"), "\n", "\r\n")
	qp := quotedprintable.NewWriter(b)
	_, _ = qp.Write([]byte(body)) // a bytes.Buffer does not fail
	_ = qp.Close()
	b.WriteString("\r\n")
}

// writeFile writes an attachment part. A message/rfc822 is kept byte for
// byte (RFC 2046 5.2.1 allows no base64 there) when its lines allow it.
func writeFile(b *bytes.Buffer, f file) {
	name := fileName(f.Name)
	ct := mediaType(f.Type)
	if ct == "message/rfc822" && !rfc822Safe(f.Data) {
		ct = "application/octet-stream"
	}
	b.WriteString("Content-Type: " + mime.FormatMediaType(ct, map[string]string{"name": name}) + "\r\n")
	b.WriteString("Content-Disposition: " + mime.FormatMediaType("attachment", map[string]string{"filename": name}) + "\r\n")
	if ct == "message/rfc822" {
		enc := "7bit"
		if bytes.ContainsFunc(f.Data, func(r rune) bool { return r >= 0x80 }) {
			enc = "8bit"
		}
		b.WriteString("Content-Transfer-Encoding: " + enc + "\r\n\r\n")
		b.Write(f.Data)
		if !bytes.HasSuffix(f.Data, []byte("\r\n")) {
			b.WriteString("\r\n")
		}
		return
	}
	b.WriteString("Content-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(f.Data)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	if enc != "" {
		b.WriteString(enc + "\r\n")
	}
}

// rfc822Safe: every line ends in CRLF, is at most 998 bytes, has no NUL.
func rfc822Safe(data []byte) bool {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		line := data
		if i >= 0 {
			line, data = data[:i+1], data[i+1:]
		} else {
			data = nil
		}
		if len(line) > 1000 || bytes.IndexByte(line, 0) >= 0 || (i >= 0 && (len(line) < 2 || line[len(line)-2] != '\r')) {
			return false
		}
		if bytes.IndexByte(line[:max(len(line)-2, 0)], '\r') >= 0 {
			return false
		}
	}
	return true
}

func addressList(l []*mail.Address) string {
	parts := make([]string, len(l))
	for i, a := range l {
		parts[i] = a.String()
	}
	return strings.Join(parts, ",\r\n ")
}
