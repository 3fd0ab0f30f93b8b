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
		{"hostname = a.b\nsmtp_port = 99999\n", `boxmail.conf:2: smtp_port: 99999 is out of range: want a port from 0 to 65535`},
		{"hostname = a.b\nbogus = 1\n", `boxmail.conf:2: unknown setting "bogus"`},
		{"hostname = a.b\nhostname = c.d\n", "boxmail.conf:2: hostname is already set on line 1: set each setting once"},
		{"hostname a.b\n", `boxmail.conf:1: "hostname a.b" has no '=': want "key = value"`},
		{"listen = 0.0.0.0\n", "hostname is not set"},
		{"hostname = a.b\nlisten = everywhere\n", `boxmail.conf:2: listen: "everywhere" is not an IP address`},
		{"hostname = a.b\ninsecure_auth = true\n", "insecure_auth is allowed only with a loopback"},
		{"hostname = a.b\nsmtp_port = 143\n", "imap_port are both 143"},
		{"hostname = a.b\ninsecure_auth = perhaps\n", "want true or false"},
		{"hostname = a.b\nlog_level = loud\n", "boxmail.conf:2: log_level"},
		{"hostname = a.b\nlog_format = logfmt\n", `boxmail.conf:2: log_format: "logfmt" is not a log format: want text or json`},
		{"hostname = a.b\nmax_recipients = 0\n", "want a number from 1"},
		{"hostname = a.b\nresolvers = dns.google\n", "is not an IP address"},
		{"hostname = a.b\nsmtp_port = 25x\n", `boxmail.conf:2: smtp_port: "25x" is not a port: want a number from 0 to 65535`},
		{"hostname = a.b\nsmtp_prot = 25\n", `boxmail.conf:2: unknown setting "smtp_prot": did you mean smtp_port?`},
		{"hostname = mail box\n", `boxmail.conf:1: hostname: "mail box" is not a host name`},
		{"hostname = a..b\n", `is not a host name`},
		{"hostname =\n", "boxmail.conf:1: hostname: empty: want the box's host name"},
		{"hostname = a.b\ntls_cert =\n", "boxmail.conf:2: tls_cert: empty: want a PEM certificate file"},
		{"hostname = a.b\nlisten = 0.0.0.0\ninsecure_auth = yes\n", "boxmail.conf:3: insecure_auth is allowed only with a loopback listen address"},
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

func TestOutboundSettings(t *testing.T) {
	c, err := Parse("boxmail.conf", []byte("hostname = a.b\ntransports = Friends.Example=127.0.0.1:2526, *=[::1]:25\nretry_schedule = 1s, 2s\nqueue_lifetime = 1h\ndelay_warning = off\nsmarthost = smtp.provider.example:587\nsmarthost_tls = implicit\n"))
	if err != nil {
		t.Fatal(err)
	}
	o := c.Outbound
	if o.Transports["friends.example"] != "127.0.0.1:2526" || o.Transports["*"] != "[::1]:25" || len(o.Retry) != 2 || o.Lifetime.Hours() != 1 || o.DelayWarning >= 0 || o.SmarthostTLS != "implicit" || o.MaxPerDomain != 2 {
		t.Errorf("parsed %+v", o)
	}
	if c2, err := Parse("x", c.Format()); err != nil || string(c2.Format()) != string(c.Format()) {
		t.Errorf("round trip: %v", err)
	}
	for in, want := range map[string]string{
		"transports = friends.example\n":    "want domain=host:port",
		"transports = a.b=nohost\n":         "is not host:port",
		"retry_schedule = soon\n":           "is not a duration",
		"queue_lifetime = -5h\n":            "want a duration",
		"smarthost_tls = maybe\n":           "want starttls, implicit or none",
		"outbound_connections = 0\n":        "want a number from 1",
		"smarthost = relay.example:99999\n": "bad port",
	} {
		if _, err := Parse("boxmail.conf", []byte("hostname = a.b\n"+in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

func TestOutboundBind(t *testing.T) {
	for _, tc := range []struct{ conf, v4, v6 string }{
		{"listen = 0.0.0.0\n", "invalid IP", "invalid IP"},
		{"listen = ::\n", "invalid IP", "invalid IP"},
		{"listen = 127.0.0.3\n", "127.0.0.3", "invalid IP"},
		{"listen = ::1\n", "invalid IP", "::1"},
		{"listen = 127.0.0.1\nsmtp_bind_address = 127.0.0.3\n", "127.0.0.3", "invalid IP"},
		{"listen = 0.0.0.0\nsmtp_bind_address = 192.0.2.25\nsmtp_bind_address6 = 2001:db8::25\n", "192.0.2.25", "2001:db8::25"},
		{"listen = ::1\nsmtp_bind_address6 = 2001:db8::25\n", "invalid IP", "2001:db8::25"},
	} {
		c, err := Parse("boxmail.conf", []byte("hostname = a.b\n"+tc.conf))
		if err != nil {
			t.Fatal(err)
		}
		v4, v6 := c.OutboundBind()
		if v4.String() != tc.v4 || v6.String() != tc.v6 {
			t.Errorf("%q: %s %s, want %s %s", tc.conf, v4, v6, tc.v4, tc.v6)
		}
		if c2, err := Parse("x", c.Format()); err != nil || string(c2.Format()) != string(c.Format()) {
			t.Errorf("%q: round trip: %v", tc.conf, err)
		}
	}
	for in, want := range map[string]string{
		"smtp_bind_address = ::1\n":        `boxmail.conf:2: smtp_bind_address: "::1" is not a source address: want an IPv4 address`,
		"smtp_bind_address = mail\n":       "want an IPv4 address such as 192.0.2.25",
		"smtp_bind_address = 0.0.0.0\n":    "is not a source address",
		"smtp_bind_address6 = 127.0.0.1\n": "want an IPv6 address such as 2001:db8::25, or empty",
	} {
		if _, err := Parse("boxmail.conf", []byte("hostname = a.b\n"+in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

func TestLogFormat(t *testing.T) {
	c, err := Parse("boxmail.conf", []byte("hostname = a.b\n"))
	if err != nil || c.LogFormat != "text" {
		t.Errorf("default log_format %q (%v), want text", c.LogFormat, err)
	}
	c, err = Parse("boxmail.conf", []byte("hostname = a.b\nlog_format = JSON\n"))
	if err != nil || c.LogFormat != "json" {
		t.Errorf("log_format = JSON gave %q (%v), want json", c.LogFormat, err)
	}
	if !strings.Contains(string(c.Format()), "\nlog_format = json\n") {
		t.Errorf("Format does not write log_format:\n%s", c.Format())
	}
}
