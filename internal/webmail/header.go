package webmail

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/htmlindex"

	"boxmail/internal/mailmsg"
)

// envelope is what the list and the message view show of a header, as
// plain text (html/template escapes it).
type envelope struct {
	Subject   string
	From      string // display form: name <address>, or the address
	FromAddr  string // the address alone
	To, Cc    string
	ReplyTo   string // the address replies go to ("" when none)
	Date      time.Time
	MessageID string
	Refs      string // References
}

// maxFieldText caps a decoded field shown on a page.
const maxFieldText = 4096

// charsetReader converts text in a named charset to UTF-8 with
// x/text's WHATWG index (the names browsers accept). It is local to the
// webmail: go-message's global CharsetReader stays unset, since the
// store's header search folds encoded words without it.
func charsetReader(charset string, r io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return r, nil
	}
	e, err := htmlindex.Get(charset)
	if err != nil {
		return nil, fmt.Errorf("unknown charset %q: %w", charset, err)
	}
	return e.NewDecoder().Reader(r), nil
}

var wordDecoder = &mime.WordDecoder{CharsetReader: charsetReader}

// decodeText returns b in charset as valid UTF-8: unknown charsets and
// invalid bytes become U+FFFD rather than failing.
func decodeText(b []byte, charset string) string {
	if r, err := charsetReader(charset, bytes.NewReader(b)); err == nil {
		if out, err := io.ReadAll(r); err == nil {
			b = out
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// fieldText is a header field's value unfolded, encoded words decoded,
// control characters removed and capped: text to show.
func fieldText(v []byte) string {
	s := string(mailmsg.Unfold(v))
	if d, err := wordDecoder.DecodeHeader(s); err == nil {
		s = d
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u202e' || r == '\u202d' {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > maxFieldText {
		s = s[:maxFieldText]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	return s
}

var addrParser = mail.AddressParser{WordDecoder: wordDecoder}

// addressText is an address field shown: each address as "name
// <address>" (or the address alone); the decoded text when it does not
// parse. first is the first address.
func addressText(v []byte) (shown, first string) {
	raw := string(mailmsg.Unfold(v))
	list, err := addrParser.ParseList(raw)
	if err != nil || len(list) == 0 {
		return fieldText(v), ""
	}
	parts := make([]string, 0, len(list))
	for _, a := range list {
		parts = append(parts, displayAddress(a))
	}
	return fieldText([]byte(strings.Join(parts, ", "))), list[0].Address
}

func displayAddress(a *mail.Address) string {
	if a.Name == "" {
		return a.Address
	}
	return a.Name + " <" + a.Address + ">"
}

// parseEnvelope reads the fields shown from a message's header.
func parseEnvelope(hdr []byte) envelope {
	var e envelope
	for f := range mailmsg.Fields(hdr) {
		switch {
		case f.Is("Subject") && e.Subject == "":
			e.Subject = fieldText(f.Value)
		case f.Is("From") && e.From == "":
			e.From, e.FromAddr = addressText(f.Value)
		case f.Is("To") && e.To == "":
			e.To, _ = addressText(f.Value)
		case f.Is("Cc") && e.Cc == "":
			e.Cc, _ = addressText(f.Value)
		case f.Is("Reply-To") && e.ReplyTo == "":
			_, e.ReplyTo = addressText(f.Value)
		case f.Is("Date") && e.Date.IsZero():
			if t, err := mail.ParseDate(strings.TrimSpace(string(mailmsg.Unfold(f.Value)))); err == nil {
				e.Date = t
			}
		case f.Is("Message-ID") && e.MessageID == "":
			e.MessageID = strings.TrimSpace(string(mailmsg.Unfold(f.Value)))
		case f.Is("References") && e.Refs == "":
			e.Refs = strings.TrimSpace(string(mailmsg.Unfold(f.Value)))
		}
	}
	return e
}

// shortDate is a list's date: the time today, the day this year, else
// the full date.
func shortDate(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.In(now.Location())
	switch {
	case t.Year() == now.Year() && t.YearDay() == now.YearDay():
		return t.Format("15:04")
	case t.Year() == now.Year():
		return t.Format("Jan 2")
	}
	return t.Format("2006-01-02")
}
