package config

import (
	"strings"
	"testing"
)

func TestParseGoodConfig(t *testing.T) {
	c, err := Parse("boxmail.conf", []byte("# comment\n\nhostname = Box.Example.NET.\nlisten = 127.0.0.1\nsmtp_port = 2525\ninsecure_auth = yes\nmax_message_size = 1048576\nlog_level = debug\nresolvers = 127.0.0.1:5353, ::1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Hostname != "box.example.net" || c.SMTPPort != 2525 || c.SubmissionPort != 587 || !c.InsecureAuth || c.MaxMessageBytes != 1<<20 || c.LogLevel.String() != "DEBUG" || len(c.Resolvers) != 2 || c.Resolvers[1] != "[::1]:53" {
		t.Errorf("parsed %+v", c)
	}
	// Format and Parse round-trip.
	c2, err := Parse("x", c.Format())
	if err != nil || c2.Format() == nil || string(c2.Format()) != string(c.Format()) {
		t.Errorf("round trip: %+v, %v", c2, err)
	}
}

func TestBadConfigsNameTheLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"hostname = a.b\nsmtp_port = 99999\n", "boxmail.conf:2: smtp_port: port must be"},
		{"hostname = a.b\nbogus = 1\n", `boxmail.conf:2: unknown setting "bogus"`},
		{"hostname = a.b\nhostname = c.d\n", "boxmail.conf:2: hostname already set on line 1"},
		{"hostname a.b\n", `boxmail.conf:1: want "key = value"`},
		{"listen = 0.0.0.0\n", "hostname is not set"},
		{"hostname = a.b\nlisten = everywhere\n", "boxmail.conf:2: listen: want an IP address"},
		{"hostname = a.b\ninsecure_auth = true\n", "insecure_auth is allowed only with a loopback"},
		{"hostname = a.b\nsmtp_port = 143\n", "imap_port are both 143"},
		{"hostname = a.b\ninsecure_auth = perhaps\n", "want true or false"},
		{"hostname = a.b\nlog_level = loud\n", "boxmail.conf:2: log_level"},
		{"hostname = a.b\nmax_recipients = 0\n", "want a number from 1"},
		{"hostname = a.b\nresolvers = dns.google\n", "is not an IP address"},
	} {
		_, err := Parse("boxmail.conf", []byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want error containing %q", tc.in, err, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("hostname = a.b\nsmtp_port = 25\n"))
	f.Add([]byte("# x\nlisten = ::1\ninsecure_auth = on\nhostname=x.y"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f", data)
		if err != nil {
			return
		}
		if _, err := Parse("f", c.Format()); err != nil {
			t.Fatalf("formatted config does not parse: %v", err)
		}
	})
}
