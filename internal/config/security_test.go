package config

import (
	"strings"
	"testing"
	"time"
)

func TestSecuritySettings(t *testing.T) {
	c, err := Parse("boxmail.conf", []byte("hostname = a.b\npop3_port = 1110\npop3s_port = 0\nauth_allow = 192.0.2.7, 2001:db8::/48\nauth_block_times = 1m, 2h\nauth_failure_delay = off\ngreylisting = no\ngreylist_delay = 2s\nsmtp_dnsbl = Zen.Test., bl.example\nsmtp_greet_wait = off\nmax_connections_per_ip = 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Security
	if c.POP3Port != 1110 || c.POP3SPort != 0 || len(s.AuthAllow) != 2 || s.AuthAllow[0].String() != "192.0.2.7/32" || len(s.AuthBlockTimes) != 2 ||
		s.AuthFailureDelay >= 0 || s.Greylisting || s.GreylistDelay != 2*time.Second || strings.Join(s.SMTPDNSBL, " ") != "zen.test bl.example" ||
		s.GreetWait >= 0 || s.MaxConnsPerIP != 3 || s.AuthMaxFailures != 10 {
		t.Errorf("parsed %+v (pop3 %d/%d)", s, c.POP3Port, c.POP3SPort)
	}
	if c2, err := Parse("x", c.Format()); err != nil || string(c2.Format()) != string(c.Format()) {
		t.Errorf("round trip: %v", err)
	}
	d := Default("a.b")
	if d.POP3Port != 110 || d.POP3SPort != 995 || !d.Security.Greylisting || len(d.Security.AuthAllow) != 0 || d.Security.SMTPDNSBL[0] != "zen.spamhaus.org" {
		t.Errorf("defaults %+v", d.Security)
	}
	for in, want := range map[string]string{
		"pop3_port = 143\n":                                           "both 143",
		"auth_allow = everyone\n":                                     "is not an IP network",
		"auth_block_times = never\n":                                  "is not a duration",
		"smtp_dnsbl = nodots\n":                                       "is not a DNS zone",
		"auth_max_failures = 0\n":                                     "want a number from 1",
		"greylisting = sometimes\n":                                   "want true or false",
		"max_connections_per_ip = x\n":                                "want a number",
		"smtp_data_memory = 10\n":                                     "from 1048576 (1 MiB) to 68719476736 (64 GiB), or auto",
		"memory_limit = lots\n":                                       "or off",
		"max_message_size = 104857600\nsmtp_data_memory = 67108864\n": "boxmail.conf:3: smtp_data_memory (67108864) is below max_message_size (104857600)",
	} {
		if _, err := Parse("boxmail.conf", []byte("hostname = a.b\n"+in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}
