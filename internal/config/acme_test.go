package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestACMESettings(t *testing.T) {
	c, err := Parse("t", []byte("hostname = mail.example.net\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.ACME.On || c.ACME.CA != LetsEncrypt || c.ACME.RenewCheck != 10*time.Minute {
		t.Errorf("defaults: %+v", c.ACME)
	}
	c, err = Parse("t", []byte("hostname = mail.example.net\nacme = on\nacme_ca = https://127.0.0.1:14000/dir\nacme_ca_root = pebble.pem\nacme_email = admin@example.net\nacme_renew_check = 1s\nacme_challenges = HTTP-01, tls-alpn-01, http-01\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := ACME{On: true, CA: "https://127.0.0.1:14000/dir", CARoot: "pebble.pem", Email: "admin@example.net", RenewCheck: time.Second, Challenges: []string{"http-01", "tls-alpn-01"}}
	if !reflect.DeepEqual(c.ACME, want) {
		t.Errorf("got %+v, want %+v", c.ACME, want)
	}
	// Format writes them back.
	again, err := Parse("t", c.Format())
	if err != nil || !reflect.DeepEqual(again.ACME, want) {
		t.Errorf("round trip: %+v, %v", again.ACME, err)
	}
	for line, msg := range map[string]string{
		"acme = maybe":                       "is not on or off",
		"acme_ca = ftp://x.example/dir":      "is not an https:// ACME directory URL",
		"acme_ca = https://":                 "is not an https:// ACME directory URL",
		"acme_email = Admin <a@example.net>": "is not an email address",
		"acme_email = admin@localhost":       "is not an email address",
		"acme_renew_check = 0s":              "want a duration from 1s to 24h",
		"acme_challenges = dns-02":           `"dns-02" is not a challenge type`,
		"acme_challenges = ,":                "names no challenge type",
	} {
		_, err := Parse("t", []byte("hostname = mail.example.net\n"+line+"\n"))
		if err == nil || !strings.Contains(err.Error(), "t:2: ") || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v, want t:2: ... %s", line, err, msg)
		}
	}
}
