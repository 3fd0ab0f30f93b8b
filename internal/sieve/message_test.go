package sieve

import (
	"encoding/base64"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// nested is a message with depth multipart levels, each holding a
// base64 text part of partSize bytes, and a plain part inside.
func nested(depth, partSize int) []byte {
	var b strings.Builder
	b.WriteString("From: a@b.test\r\nSubject: nested\r\nMIME-Version: 1.0\r\n")
	enc := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("jack is a dull boy ", partSize/19+1)[:partSize]))
	var lines strings.Builder
	for i := 0; i < len(enc); i += 76 {
		lines.WriteString(enc[i:min(i+76, len(enc))] + "\r\n")
	}
	for i := range depth {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"l%d\"\r\n\r\npreamble\r\n--l%d\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n%s--l%d \r\n", i, i, lines.String(), i)
	}
	b.WriteString("Content-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>the deep=20needle</p>\r\n")
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--l%d--\r\nepilogue\r\n", i)
	}
	return []byte(b.String())
}

// TestBodyParts: the parts of a nested message are found and decoded,
// boundaries that only start like one are not taken, and the text a
// body test sees stops at MaxBodyBytes.
func TestBodyParts(t *testing.T) {
	m := ParseMessage(nested(3, 100), "a@b.test", "me@example.com")
	c := m.bodyOf(DefaultMaxBodyBytes)
	var types []string
	for i := range c.parts {
		types = append(types, c.parts[i].typ)
	}
	if strings.Join(types, " ") != "text/plain text/plain text/plain text/html" {
		t.Fatalf("parts: %v", types)
	}
	if !strings.Contains(c.text, "jack is a dull boy") || !strings.Contains(c.text, "the deep needle") || strings.Contains(c.text, "preamble") || strings.Contains(c.text, "epilogue") {
		t.Errorf("text: %q", c.text)
	}
	// A boundary "l1" must not split at "--l10".
	data := []byte("Content-Type: multipart/mixed; boundary=l1\r\n\r\n--l1\r\n\r\nA\r\n--l10\r\nB\r\n--l1--\r\n")
	c = ParseMessage(data, "", "").bodyOf(DefaultMaxBodyBytes)
	if len(c.parts) != 1 || c.text != "A\r\n--l10\r\nB" {
		t.Errorf("parts of a look-alike boundary: %d %q", len(c.parts), c.text)
	}
	// The cap.
	s, _ := Parse(`require "body"; if body :text :contains "needle" { discard; }`)
	acts, err := s.Run(ParseMessage(nested(3, 100), "", ""), RunOptions{MaxBodyBytes: 250})
	if err != nil || describe(acts) != "keep" {
		t.Errorf("past the cap: %s %v", describe(acts), err)
	}
	acts, _ = s.Run(ParseMessage(nested(3, 100), "", ""), RunOptions{})
	if describe(acts) != "discard" {
		t.Errorf("within the cap: %s", describe(acts))
	}
	// A header without an empty line, and no header at all.
	if m := ParseMessage([]byte("Subject: only a header\r\n"), "", ""); m.Header.Get("Subject") != "only a header" {
		t.Errorf("header only: %v", m.Header)
	}
	if m := ParseMessage([]byte("\r\nbody"), "", ""); len(m.Header) != 0 || string(m.body) != "body" {
		t.Errorf("body only: %v %q", m.Header, m.body)
	}
}

// TestBodyTestsDoNotCopyTheMessage: body tests on a 20 MiB message
// nested ten deep allocate about the text cap, not the message size per
// level (issue 12 item 4).
func TestBodyTestsDoNotCopyTheMessage(t *testing.T) {
	data := nested(10, 2<<20)
	s, err := Parse(`require "body"; if anyof (body :text :contains "needle", body :raw :contains "needle", body :content "text/html" :contains "NEEDLE", body :text :matches "*needle*") { discard; }`)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m := ParseMessage(data, "a@b.test", "me@example.com")
	if _, err := s.Run(m, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("message %d MiB, allocated %.1f MiB", len(data)>>20, float64(alloc)/(1<<20))
	if alloc > 12<<20 {
		t.Errorf("body tests on a %d MiB message allocated %d MiB", len(data)>>20, alloc>>20)
	}
	// A script without body tests does not parse the body.
	m = ParseMessage(data, "a@b.test", "me@example.com")
	s, _ = Parse(`if header :contains "subject" "nested" { keep; }`)
	s.Run(m, RunOptions{})
	if m.parsed.done {
		t.Error("the body was parsed for a header test")
	}
}
