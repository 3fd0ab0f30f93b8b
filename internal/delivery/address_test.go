package delivery

import "testing"

func TestParseAddress(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"me@example.net", "me@example.net", true},
		{"Me@Example.NET", "me@example.net", true},
		{"me+tag@example.net", "me+tag@example.net", true},
		{"first.last@sub.example.net.", "first.last@sub.example.net", true},
		{`"odd person"@example.net`, `"odd person"@example.net`, true},
		{"root@localhost", "root@localhost", true},
		{"jörg@bücher.example", "jörg@bücher.example", true},
		{"", "", false},
		{"me", "", false},
		{"@example.net", "", false},
		{"me@", "", false},
		{".me@example.net", "", false},
		{"me..you@example.net", "", false},
		{"me you@example.net", "", false},
		{"me@exa mple.net", "", false},
		{"me@-example.net", "", false},
		{"me@example..net", "", false},
		{"me@[127.0.0.1]", "", false},
		{"a\x00b@example.net", "", false},
		{"\xff@example.net", "", false},
		{`"unterminated@example.net`, "", false},
		{"0123456789012345678901234567890123456789012345678901234567890123456789@example.net", "", false},
	} {
		a, err := ParseAddress(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseAddress(%q) error = %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if tc.ok && a.String() != tc.want {
			t.Errorf("ParseAddress(%q) = %q, want %q", tc.in, a, tc.want)
		}
	}
}

func TestSubAddressBase(t *testing.T) {
	for in, want := range map[string]string{"me+x@d.net": "me@d.net", "me@d.net": "me@d.net", "+x@d.net": "+x@d.net", "me+a+b@d.net": "me@d.net"} {
		a, err := ParseAddress(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Base().String(); got != want {
			t.Errorf("Base(%s) = %s, want %s", in, got, want)
		}
	}
}

func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"me@example.net", `"x y"@d.net`, "a+b@c.d", "@d", "x@[1.2.3.4]", "\xff@x.y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			return
		}
		// A parsed address re-parses to itself.
		b, err := ParseAddress(a.String())
		if err != nil || b != a {
			t.Fatalf("%q parsed to %q, which re-parses to %q, %v", s, a, b, err)
		}
	})
}
