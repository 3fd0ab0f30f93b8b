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
