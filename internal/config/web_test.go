package config

import (
	"strings"
	"testing"
)

func TestProfileServers(t *testing.T) {
	c, err := Parse("boxmail.conf", []byte("hostname = box.example.net\nprofile_servers = IMAP.Example.net., mail.example.org\n"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.ProfileServers, ",") != "imap.example.net,mail.example.org" {
		t.Errorf("profile_servers %q", c.ProfileServers)
	}
	if c, err := Parse("x", c.Format()); err != nil || len(c.ProfileServers) != 2 {
		t.Errorf("round trip: %v %v", c.ProfileServers, err)
	}
	for _, bad := range []string{"localhost", "evil.example/x", "a@b.example", "x.example:993", "ex ample.net", "é.example"} {
		if _, err := Parse("boxmail.conf", []byte("hostname = a.b\nprofile_servers = "+bad+"\n")); err == nil || !strings.Contains(err.Error(), "profile_servers") {
			t.Errorf("profile_servers = %s: %v", bad, err)
		}
	}
}

func TestMetricsListen(t *testing.T) {
	c, err := Parse("boxmail.conf", []byte("hostname = box.example.net\n"))
	if err != nil || c.MetricsListen != "" {
		t.Fatalf("default metrics_listen %q (%v), want off", c.MetricsListen, err)
	}
	for in, want := range map[string]string{"9154": "127.0.0.1:9154", "127.0.0.1:9100": "127.0.0.1:9100", "[::1]:9154": "[::1]:9154", "": ""} {
		c, err := Parse("boxmail.conf", []byte("hostname = box.example.net\nmetrics_listen = "+in+"\n"))
		if err != nil || c.MetricsListen != want {
			t.Errorf("metrics_listen = %s: %q, %v; want %q", in, c.MetricsListen, err, want)
			continue
		}
		if c2, err := Parse("x", c.Format()); err != nil || c2.MetricsListen != want {
			t.Errorf("round trip of %s: %q %v", in, c2.MetricsListen, err)
		}
	}
	for _, bad := range []string{"localhost:9154", "0", "127.0.0.1:99999", "x"} {
		if _, err := Parse("boxmail.conf", []byte("hostname = a.b\nmetrics_listen = "+bad+"\n")); err == nil || !strings.Contains(err.Error(), "metrics_listen") {
			t.Errorf("metrics_listen = %s: %v", bad, err)
		}
	}
}
