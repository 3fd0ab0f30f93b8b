package dnsrecords

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
)

func TestTLSAAndDS(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(spki)
	tlsa := TLSAValue(&x509.Certificate{RawSubjectPublicKeyInfo: spki})
	if tlsa != "3 1 1 "+hex.EncodeToString(sum[:]) {
		t.Fatalf("TLSAValue %q", tlsa)
	}
	in := testInput(t)
	in.TLSA = []string{tlsa}
	in.DS = map[string][]string{"example.net": {"12345 13 2 ABCDEF"}}
	set, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"_25._tcp.box.example.net", "_465._tcp.box.example.net", "_587._tcp.box.example.net", "_993._tcp.box.example.net"} {
		recs := set.Find(name, "TLSA")
		if len(recs) != 1 || recs[0].Value != tlsa || recs[0].Zone != "example.net" || !recs[0].NameServer {
			t.Errorf("%s TLSA: %+v", name, recs)
		}
		if _, err := recs[0].RR(); err != nil {
			t.Error(err)
		}
	}
	var zone, table, js bytes.Buffer
	if err := set.WriteZone(&zone, set.Zones); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(zone.String(), "; example.net.\t3600\tIN\tDS\t12345 13 2 ABCDEF\n") ||
		!strings.Contains(zone.String(), "_25._tcp.box.example.net.\t300\tIN\tTLSA\t"+tlsa) {
		t.Errorf("zone file:\n%s", zone.String())
	}
	if err := set.WriteTable(&table, set.Zones); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "example.net. IN DS 12345 13 2 ABCDEF") || strings.Contains(table.String(), "TLSA") {
		t.Errorf("table (DS note, no TLSA for a DNS host):\n%s", table.String())
	}
	if err := set.WriteJSON(&js, set.Zones); err != nil {
		t.Fatal(err)
	}
	var out struct {
		DS map[string][]string `json:"ds"`
	}
	if err := json.Unmarshal(js.Bytes(), &out); err != nil || out.DS["example.net"][0] != "12345 13 2 ABCDEF" {
		t.Errorf("JSON ds: %v %v", out.DS, err)
	}
}
