package config

import (
	"strings"
	"testing"
)

func TestStoreURLIsAPostgreSQLURLAndErrorsHideIt(t *testing.T) {
	for _, c := range []struct {
		v  string
		ok bool
	}{
		{"", true},
		{"postgres://box:s3cret@127.0.0.1:5432/box", true},
		{"postgresql://box:s3cret@db.example.net/box?sslmode=verify-full", true},
		{"mysql://box:s3cret@127.0.0.1/box", false},
		{"postgres://box:s3cret@127.0.0.1:5432/", false},
		{"postgres://box:s3cret@/box", false},
		{"box:s3cret@127.0.0.1", false},
	} {
		conf := "hostname = mail.example.test\nstore_url = " + c.v + "\n"
		cfg, err := Parse("boxmail.conf", []byte(conf))
		if (err == nil) != c.ok {
			t.Errorf("store_url = %q: %v, want ok=%v", c.v, err, c.ok)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("store_url = %q: the error shows the password: %v", c.v, err)
		}
		if err == nil && cfg.StoreURL != c.v {
			t.Errorf("store_url = %q: read %q", c.v, cfg.StoreURL)
		}
	}
}
