package sieve

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
)

// maxParts bounds the MIME parts looked at by body tests.
const maxParts = 100

// ParseMessage builds a Message from the raw bytes of a message and its
// envelope. A message whose header does not parse gets an empty header,
// so the script still runs.
func ParseMessage(data []byte, from, to string) *Message {
	m := &Message{From: from, To: to, Size: int64(len(data)), Header: mail.Header{}}
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		m.Raw = string(data)
		return m
	}
	m.Header = msg.Header
	raw, _ := io.ReadAll(msg.Body)
	m.Raw = string(raw)
	n := 0
	m.Parts = parts(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), raw, 0, &n)
	var text []string
	for _, p := range m.Parts {
		if strings.HasPrefix(p.Type, "text/") {
			text = append(text, p.Text)
		}
	}
	m.Text = strings.Join(text, "\n")
	return m
}

func parts(ctype, cte string, body []byte, depth int, n *int) []Part {
	*n++
	if *n > maxParts || depth > 10 {
		return nil
	}
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil || ctype == "" {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") && params["boundary"] != "" {
		var out []Part
		r := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for {
			p, err := r.NextRawPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(io.LimitReader(p, int64(len(body))))
			out = append(out, parts(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), b, depth+1, n)...)
			if *n > maxParts {
				break
			}
		}
		return out
	}
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		if d, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, newlineStripper(body))); err == nil {
			body = d
		}
	case "quoted-printable":
		if d, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body))); err == nil {
			body = d
		}
	}
	return []Part{{Type: mt, Text: string(body)}}
}

func newlineStripper(b []byte) io.Reader {
	return strings.NewReader(strings.NewReplacer("\r", "", "\n", "").Replace(string(b)))
}
