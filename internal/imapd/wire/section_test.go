package wire

import (
	"errors"
	"testing"
)

const mixedMsg = "From: a@b\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n" +
	"--XX\r\nContent-Type: text/plain\r\n\r\nhello\r\n" +
	"--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\nAw==\r\n" +
	"--XX\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: multipart/alternative; boundary=YY\r\n\r\n" +
	"--YY\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9=\r\n!\r\n--YY--\r\n" +
	"--XX--\r\n"

func TestExtractSection(t *testing.T) {
	msg := []byte(mixedMsg)
	tests := []struct {
		sec  Section
		want string
		ok   bool
	}{
		{Section{}, mixedMsg, true},
		{Section{Specifier: "HEADER.FIELDS", Fields: []string{"subject"}}, "Subject: s\r\n\r\n", true},
		{Section{Specifier: "HEADER.FIELDS.NOT", Fields: []string{"subject", "content-type"}}, "From: a@b\r\n\r\n", true},
		{Section{Part: []uint32{1}}, "hello", true},
		{Section{Part: []uint32{1}, Specifier: "MIME"}, "Content-Type: text/plain\r\n\r\n", true},
		{Section{Part: []uint32{3}, Specifier: "HEADER.FIELDS", Fields: []string{"Subject"}}, "Subject: inner\r\n\r\n", true},
		{Section{Part: []uint32{3, 1}}, "caf=C3=A9=\r\n!", true},
		{Section{Part: []uint32{3, 1}, Specifier: "MIME"}, "Content-Transfer-Encoding: quoted-printable\r\n\r\n", true},
		{Section{Part: []uint32{4}}, "", false},
		{Section{Part: []uint32{1, 2}}, "", false},
		{Section{Part: []uint32{1}, Specifier: "TEXT"}, "", false},
	}
	for _, tt := range tests {
		got, ok := ExtractSection(msg, &tt.sec)
		if ok != tt.ok || string(got) != tt.want {
			t.Errorf("%s: got %q %v, want %q %v", tt.sec.String(), got, ok, tt.want, tt.ok)
		}
	}
	plain := []byte("Subject: x\r\n\r\nbody")
	if got, ok := ExtractSection(plain, &Section{Part: []uint32{1}}); !ok || string(got) != "body" {
		t.Errorf("BODY[1] of a single part: %q %v", got, ok)
	}
	if got := (&Partial{Offset: 1, Count: 3}).Apply([]byte("hello")); string(got) != "ell" {
		t.Errorf("partial %q", got)
	}
	if got := (&Partial{Offset: 10, Count: 3}).Apply([]byte("hello")); len(got) != 0 {
		t.Errorf("partial past the end %q", got)
	}
}

func TestExtractBinary(t *testing.T) {
	msg := []byte(mixedMsg)
	if got, ok, err := ExtractBinary(msg, []uint32{2}); err != nil || !ok || string(got) != "\x00\x01\x02\x03" {
		t.Errorf("base64: %q %v %v", got, ok, err)
	}
	if got, ok, err := ExtractBinary(msg, []uint32{3, 1}); err != nil || !ok || string(got) != "café!" {
		t.Errorf("quoted-printable: %q %v %v", got, ok, err)
	}
	if got, _, err := ExtractBinary(msg, []uint32{1}); err != nil || string(got) != "hello" {
		t.Errorf("7bit: %q %v", got, err)
	}
	odd := []byte("Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin")
	if _, _, err := ExtractBinary(odd, nil); !errors.Is(err, ErrUnknownCTE) {
		t.Errorf("unknown CTE: %v", err)
	}
	if _, ok, _ := ExtractBinary(msg, []uint32{9}); ok {
		t.Error("missing part found")
	}
	empty := []byte("Content-Transfer-Encoding: base64\r\n\r\n")
	if got, ok, err := ExtractBinary(empty, nil); err != nil || !ok || len(got) != 0 {
		t.Errorf("empty part: %q %v %v", got, ok, err)
	}
}
