package mailauth

import (
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"
)

func TestDKIMKeysAndTheirRecords(t *testing.T) {
	for _, alg := range []string{AlgRSA, AlgEd25519} {
		k, err := NewDKIMKey(alg)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := DKIMRecord(k)
		if err != nil {
			t.Fatal(err)
		}
		prefix := "v=DKIM1; k=" + alg + "; p="
		if !strings.HasPrefix(rec, prefix) {
			t.Fatalf("%s record %q", alg, rec)
		}
		p, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(rec, prefix))
		if err != nil {
			t.Fatal(err)
		}
		if alg == AlgRSA {
			if _, err := x509.ParsePKIXPublicKey(p); err != nil {
				t.Errorf("RSA p= is not a SubjectPublicKeyInfo: %v", err)
			}
		} else if len(p) != 32 {
			t.Errorf("ed25519 p= has %d bytes", len(p))
		}
	}
	if _, err := DKIMRecord("garbage"); err == nil {
		t.Error("garbage key accepted")
	}
	if _, err := NewDKIMKey("dsa"); err == nil {
		t.Error("unknown algorithm accepted")
	}
}
