package config

import (
	"strings"
	"testing"
)

func TestTrustedNetworks(t *testing.T) {
	c, err := Parse("t", []byte("hostname = h.example\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := fields["trusted_networks"].get(&c); got != "127.0.0.1/32, ::1/128" {
		t.Errorf("default = %q", got)
	}
	c, err = Parse("t", []byte("hostname = h.example\ntrusted_networks = 192.0.2.7/24, 2001:db8::1, 10.0.0.1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := fields["trusted_networks"].get(&c); got != "192.0.2.0/24, 2001:db8::1/128, 10.0.0.1/32" {
		t.Errorf("parsed = %q", got)
	}
	if c, err = Parse("t", []byte("hostname = h.example\ntrusted_networks =\n")); err != nil || len(c.TrustedNetworks) != 0 {
		t.Errorf("empty: %v %v", c.TrustedNetworks, err)
	}
	if _, err := Parse("t", []byte("hostname = h.example\ntrusted_networks = everyone\n")); err == nil || !strings.Contains(err.Error(), "t:2: trusted_networks") {
		t.Errorf("bad value: %v", err)
	}
	// Format round-trips.
	c2, err := Parse("t", c.Format())
	if err != nil || len(c2.TrustedNetworks) != 0 {
		t.Errorf("round trip: %v %v", c2.TrustedNetworks, err)
	}
}
