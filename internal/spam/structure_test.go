package spam

import (
	"slices"
	"testing"
)

func TestStructureTokens(t *testing.T) {
	const rcvd = "Received: from a.example (a.example [192.0.2.1])\n\tby mx.example (8.12) with ESMTP id x;\n\tTue, 3 Sep 2002 15:02:38 -0500\n"
	const own = "Received: from helo.example ([192.0.2.9])\n\tby box.test (boxmail) with ESMTP id y;\n\tSun, 6 Dec 2026 10:00:00 +0000\n"
	tests := []struct {
		name     string
		msg      []byte
		authserv string
		want     []string
		notWant  []string
	}{
		{name: "date in the future", msg: msg(rcvd+"Date: Wed, 4 Sep 2002 15:02:38 -0500\n", "hi\n"),
			want: []string{"x:date:future"}, notWant: []string{"x:date:old", "x:date:late"}},
		{name: "date on time", msg: msg(rcvd+"Date: Tue, 3 Sep 2002 14:59:00 -0500\n", "hi\n"),
			notWant: []string{"x:date:future", "x:date:old", "x:date:late", "x:date:none"}},
		{name: "days old", msg: msg(rcvd+"Date: Sat, 31 Aug 2002 14:59:00 -0500\n", "hi\n"), want: []string{"x:date:old"}},
		{name: "no zone", msg: msg(rcvd+"Date: Wed, 24 Jul 2002 20:03:30\n", "hi\n"), want: []string{"x:date:nozone"}},
		{name: "unreadable", msg: msg("Date: tomorrow\n", "hi\n"), want: []string{"x:date:unreadable"}},
		{name: "none", msg: msg("Subject: x\n", "hi\n"), want: []string{"x:date:none"}},
		// The box's own Received field (a delivery years after the
		// message was written) is not the clock when another is there.
		{name: "own field skipped", msg: msg(own+rcvd+"Date: Tue, 3 Sep 2002 14:59:00 -0500\n", "hi\n"), authserv: "box.test",
			notWant: []string{"x:date:old", "x:date:future"}},
		{name: "own field alone", msg: msg(own+"Date: Tue, 3 Sep 2002 14:59:00 -0500\n", "hi\n"), authserv: "box.test",
			want: []string{"x:date:old"}},
		{name: "8-bit text without a charset", msg: msg("Subject: caf\xe9\n", "caf\xe9 cr\xe8me\n"),
			want: []string{"x:cs:undeclared-8bit", "x:hdr:8bit"}},
		{name: "8-bit text with its charset", msg: msg("Content-Type: text/plain; charset=iso-8859-1\n", "caf\xe9 cr\xe8me\n"),
			notWant: []string{"x:cs:undeclared-8bit", "x:hdr:8bit"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := Parse(tc.msg, tc.authserv)
			for _, w := range tc.want {
				if !slices.Contains(f.Tokens, w) {
					t.Errorf("missing %q in %q", w, f.Tokens)
				}
			}
			for _, w := range tc.notWant {
				if slices.Contains(f.Tokens, w) {
					t.Errorf("unexpected %q in %q", w, f.Tokens)
				}
			}
		})
	}
}
