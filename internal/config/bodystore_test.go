package config

import (
	"strings"
	"testing"
)

func TestBodyStoreIsDBFileOrAnS3URLAndErrorsHideTheSecret(t *testing.T) {
	for v, ok := range map[string]bool{
		"": true, "db": true, "file": true,
		"s3://key:s3cret@127.0.0.1:9000/bucket/box?tls=false": true,
		"s3://key:s3cret@127.0.0.1:9000":                      false, // no bucket
		"s3://127.0.0.1:9000/bucket":                          false, // no keys
		"nfs://key:s3cret@h/b":                                false,
	} {
		cfg, err := Parse("boxmail.conf", []byte("hostname = mail.example.test\nbody_store = "+v+"\n"))
		if (err == nil) != ok {
			t.Errorf("body_store = %q: %v, want ok=%v", v, err, ok)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("body_store = %q: the error shows the secret: %v", v, err)
		}
		if err == nil && cfg.BodyStore != v {
			t.Errorf("body_store = %q: read %q", v, cfg.BodyStore)
		}
	}
}
