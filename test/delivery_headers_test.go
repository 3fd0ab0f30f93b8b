package test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// Mail stored by final delivery starts with Return-Path (the envelope
// sender, <> for the null sender) and Delivered-To (the account it was
// delivered to, after alias expansion), as Postfix and Dovecot write
// them; a Return-Path the message came with is removed.
func TestStoredMailHasReturnPathAndDeliveredTo(t *testing.T) {
	b := newBox(t)
	mustRun(t, "", "alias", "add", "house@example.test", "me@example.test", "--dir", b.Dir)
	mx := fmt.Sprintf("127.0.0.1:%d", b.SMTP)
	for _, tc := range []struct{ from, to, want string }{
		{"friend@elsewhere.example", "me@example.test", "Return-Path: <friend@elsewhere.example>\r\nDelivered-To: me@example.test\r\n"},
		{"aunt@elsewhere.example", "house@example.test", "Return-Path: <aunt@elsewhere.example>\r\nDelivered-To: me@example.test\r\n"},
		{"<>", "me@example.test", "Return-Path: <>\r\nDelivered-To: me@example.test\r\n"},
	} {
		out, code := b.Swaks("--server", mx, "--from", tc.from, "--to", tc.to,
			"--add-header", "Return-Path: <forged@evil.example>", "--header", "Subject: trace "+tc.to)
		if code != 0 {
			t.Fatalf("swaks from %s to %s: %d\n%s", tc.from, tc.to, code, out)
		}
		msgs := b.Mailbox("me@example.test", "INBOX")
		got := string(msgs[len(msgs)-1])
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("from %s to %s: stored\n%s\nwant it to start %q", tc.from, tc.to, got, tc.want)
		}
		if strings.Contains(got, "forged@evil.example") || strings.Count(got, "Return-Path:") != 1 {
			t.Errorf("from %s to %s: the incoming Return-Path was kept:\n%s", tc.from, tc.to, got)
		}
	}
}

// withoutTrace returns a stored message without the Return-Path and
// Delivered-To fields final delivery puts first and the spam filter's
// fields below them (X-Spam-Status, X-Spam-Score, X-Spam-Reasons), for
// tests about the fields below those.
func withoutTrace(m []byte) []byte {
	for _, p := range []string{"Return-Path: ", "Delivered-To: ", "X-Spam-Status: ", "X-Spam-Score: ", "X-Spam-Reasons: "} {
		if !bytes.HasPrefix(m, []byte(p)) {
			continue
		}
		for i := bytes.IndexByte(m, '\n'); i >= 0; i = bytes.IndexByte(m, '\n') {
			m = m[i+1:]
			if len(m) == 0 || m[0] != ' ' && m[0] != '\t' { // the field's continuation lines go with it
				break
			}
		}
	}
	return m
}
