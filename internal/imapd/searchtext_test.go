package imapd

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// The matcher finds what strings.Contains finds in strings.ToLower of the
// whole text, however the text is cut into writes: a needle split across
// two writes, a letter whose UTF-8 bytes are split, invalid bytes, and
// needles found early (the scan ends) or never.
func TestTextMatcherFindsANeedleSplitAcrossWrites(t *testing.T) {
	for _, c := range []struct {
		text    string
		needles []string
	}{
		{"the school TRIP of the day", []string{"trip", "school trip", "day", "night", ""}},
		{"Café au LAIT, ÉTÉ", []string{"café au lait", "été", "cafe"}},
		{"broken \xe2\x82 bytes \xff and € then ÄÖÜ", []string{"\ufffd", "€ then äöü", "bytes \ufffd and"}},
		{"ends in a half rune \xe2\x82", []string{"rune \ufffd\ufffd", "rune \ufffd"}},
		{strings.Repeat("x", 5000) + "NEEDLE" + strings.Repeat("y", 5000), []string{"xneedley", "needle", "xx"}},
	} {
		whole := strings.ToLower(c.text)
		for _, step := range []int{1, 2, 3, 5, 7, 4096} {
			m := newTextMatcher(c.needles)
			for i := 0; i < len(c.text); i += step {
				if _, err := m.Write([]byte(c.text[i:min(i+step, len(c.text))])); err == errAllFound {
					break
				} else if err != nil {
					t.Fatal(err)
				}
			}
			got := m.result()
			for _, n := range c.needles {
				if got[n] != strings.Contains(whole, n) {
					t.Errorf("%q in %q, written %d bytes at a time: %v, want %v", n, c.text, step, got[n], !got[n])
				}
			}
		}
	}
}

// The text of a streamed message is the text of the same message read
// whole: decoded parts, a header that does not parse (the raw body), a
// header past maxParsedHeader, more parts than maxMIMEParts.
func TestStreamedTextIsTheTextOfTheMessageReadWhole(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString([]byte("Zürich base64 text"))
	var many strings.Builder
	many.WriteString("Subject: many\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n")
	for i := range maxMIMEParts + 5 {
		fmt.Fprintf(&many, "--b\r\nContent-Type: text/plain\r\n\r\npart %d\r\n", i)
	}
	many.WriteString("--b--\r\n")
	longHeader := "Subject: long\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("p", 1000)+"\r\n", 200) + "\r\nbody after a long header\r\n"
	longPart := "Subject: lp\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("p", 1000)+"\r\n", 200) +
		"Content-Type: text/plain\r\n\r\nafter a long part header\r\n--q--\r\n"
	for i, msg := range []string{
		"Subject: plain\r\n\r\nHello World\r\n",
		"Subject: mixed\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64 +
			"\r\n--x\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>caf=C3=A9</p>\r\n--x\r\nContent-Type: image/png\r\n\r\nPNGDATA\r\n--x--\r\n",
		"no colon here\r\nSubject: x\r\n\r\nraw body of a broken header\r\n",
		many.String(),
		longHeader,
		longPart,
	} {
		want := decodedText([]byte(msg))
		var got bytes.Buffer
		if err := streamText(strings.NewReader(msg), &got); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if got.String() != want {
			t.Errorf("message %d: streamed text %q\nwant %q", i, trunc(got.String()), trunc(want))
		}
		streamed, _ := io.ReadAll(cappedStream(strings.NewReader(msg)))
		whole, _ := io.ReadAll(messageReader([]byte(msg)))
		if !bytes.Equal(streamed, whole) {
			t.Errorf("message %d: cappedStream differs from messageReader (%d, %d bytes)", i, len(streamed), len(whole))
		}
	}
}

func trunc(s string) string {
	if len(s) > 200 {
		return s[:100] + "..." + s[len(s)-100:]
	}
	return s
}

// SEARCH BODY and TEXT of messages kept in body files (over 256 KiB) read
// them as a stream and find what the same search finds in a small
// message: a word in a base64 text part past the first MiB, a word in a
// header for TEXT, not a word that is only in a binary attachment.
func TestSearchBodyOfALargeMessageReadsItAsAStream(t *testing.T) {
	ts := startInsecure(t)
	bob := ts.account(t, "bob@example.test")
	text := strings.Repeat("Lorem ipsum dolor sit amet. ", 60000) + "The Hidden Treasure is here."
	var enc strings.Builder
	b := base64.StdEncoding.EncodeToString([]byte(text))
	for len(b) > 76 {
		enc.WriteString(b[:76] + "\r\n")
		b = b[76:]
	}
	enc.WriteString(b + "\r\n")
	large := "From: a@example.test\r\nSubject: the long one\r\nX-Tag: Quokka\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n" +
		"--z\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n" + enc.String() +
		"--z\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString([]byte("binary wombat")) + "\r\n--z--\r\n"
	ts.deliver(t, bob, testMessage("small", "a hidden treasure, small"))
	ts.deliver(t, bob, large)
	c := ts.login(t, bob, nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		crit imap.SearchCriteria
		want string
	}{
		{imap.SearchCriteria{Body: []string{"HIDDEN treasure"}}, "[1 2]"},
		{imap.SearchCriteria{Body: []string{"treasure is here"}}, "[2]"},
		{imap.SearchCriteria{Body: []string{"wombat"}}, "[]"},
		{imap.SearchCriteria{Text: []string{"quokka"}}, "[2]"},
		{imap.SearchCriteria{Body: []string{"lorem", "is here"}}, "[2]"},
		{imap.SearchCriteria{Not: []imap.SearchCriteria{{Body: []string{"is here"}}}}, "[1]"},
		{imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Body: []string{"nothing like it"}}, {Body: []string{"dolor sit"}}}}}, "[2]"},
	} {
		data, err := c.UIDSearch(&tc.crit, nil).Wait()
		if err != nil || fmt.Sprint(data.AllUIDs()) != tc.want {
			t.Errorf("UID SEARCH %+v: %v, %v; want %s", tc.crit, data.AllUIDs(), err, tc.want)
		}
	}
}

// FuzzStreamedText: on any message, the streamed reader gives
// messageReader's bytes, the streamed text is decodedText, and the
// matcher, written to in pieces of any size, finds a text exactly when
// strings.Contains finds it in strings.ToLower of the text. Its seed
// corpus is in testdata/fuzz/FuzzStreamedText.
func FuzzStreamedText(f *testing.F) {
	f.Add([]byte("Subject: x\r\nContent-Type: text/plain\r\n\r\nHello Wörld\r\n"), "o w", uint8(3))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Transfer-Encoding: base64\n\nSGVsbG8=\n--b--\n"), "hell", uint8(1))
	f.Add([]byte("bad header\n\nraw \xe2\x82 body"), "\ufffd", uint8(2))
	f.Fuzz(func(t *testing.T, msg []byte, needle string, step uint8) {
		streamed, _ := io.ReadAll(cappedStream(bytes.NewReader(msg)))
		whole, _ := io.ReadAll(messageReader(msg))
		if !bytes.Equal(streamed, whole) {
			t.Fatalf("cappedStream %q, messageReader %q", streamed, whole)
		}
		want := decodedText(msg)
		var got bytes.Buffer
		if err := streamText(bytes.NewReader(msg), &got); err != nil || got.String() != want {
			t.Fatalf("streamed text %q (%v), want %q", got.String(), err, want)
		}
		needle = strings.ToLower(needle)
		m := newTextMatcher([]string{needle})
		n := int(step%16) + 1
		for i := 0; i < len(want); i += n {
			if _, err := m.Write([]byte(want[i:min(i+n, len(want))])); err != nil {
				break
			}
		}
		if found := m.result()[needle]; found != strings.Contains(strings.ToLower(want), needle) {
			t.Fatalf("%q in %q in steps of %d: %v", needle, want, n, found)
		}
	})
}
