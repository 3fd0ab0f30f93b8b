package config

import (
	"strings"
	"testing"
)

func TestDNSSettings(t *testing.T) {
	c, err := Parse("boxmail.conf", []byte("hostname = box.example.net\ndns_port = 5353\npublic_ipv4 = 198.51.100.7, 198.51.100.8\npublic_ipv6 = 2001:db8::7\ndnsbl = zen.example., bl.example\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.DNSPort != 5353 || len(c.PublicIPv4) != 2 || c.PublicIPv6[0].String() != "2001:db8::7" || strings.Join(c.DNSBL, " ") != "zen.example bl.example" {
		t.Errorf("parsed %+v", c)
	}
	if d := Default("box.example.net"); d.DNSPort != 53 || len(d.DNSBL) == 0 {
		t.Errorf("defaults %+v", d)
	}
	// Format round-trips.
	c2, err := Parse("x", c.Format())
	if err != nil || c2.DNSPort != 5353 || len(c2.PublicIPv4) != 2 || len(c2.DNSBL) != 2 {
		t.Errorf("round trip: %+v, %v", c2, err)
	}
	for in, want := range map[string]string{
		"public_ipv4 = 2001:db8::1":     "not an IPv4",
		"public_ipv6 = 198.51.100.7":    "not an IPv6",
		"public_ipv4 = box":             "not an IPv4",
		"dnsbl = spamhaus":              "not a DNS zone",
		"dns_port = 99999":              "port",
		"dns_port = 25\nsmtp_port = 25": "both 25",
	} {
		_, err := Parse("x", []byte("hostname = h.example\n"+in+"\n"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}
