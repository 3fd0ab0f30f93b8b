package test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"boxmail/internal/testutil"
)

// TestAnUploadedCertificateIsServedWithoutARestart: the admin uploads a
// certificate through the API; the IMAPS listener (and the web) serve it
// at the next handshake, and a pair for another host changes nothing.
func TestAnUploadedCertificateIsServedWithoutARestart(t *testing.T) {
	b := newBox(t)
	served := func(port int) *x509.Certificate {
		t.Helper()
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", port),
			&tls.Config{InsecureSkipVerify: true, ServerName: "mail.example.test"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0]
	}
	before := served(b.IMAPS)
	upload := func(certPEM, keyPEM []byte) (int, map[string]any) {
		t.Helper()
		body, _ := json.Marshal(map[string]string{"cert": string(certPEM), "key": string(keyPEM)})
		req, _ := http.NewRequest("POST", fmt.Sprintf("https://127.0.0.1:%d/admin/api/tls", b.HTTPS), bytes.NewReader(body))
		req.SetBasicAuth(b.Admin, b.Password)
		req.Header.Set("Content-Type", "application/json")
		cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		res, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m map[string]any
		json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m
	}

	otherCert, otherKey := testutil.CertPEM(t, time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour), "elsewhere.example")
	if code, m := upload(otherCert, otherKey); code != 400 || !strings.Contains(fmt.Sprint(m["error"]), "not valid for mail.example.test") {
		t.Errorf("a pair for another host: %d %v", code, m)
	}
	if !served(b.IMAPS).Equal(before) {
		t.Fatal("a refused pair changed the served certificate")
	}

	certPEM, keyPEM := testutil.CertPEM(t, time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour), "mail.example.test")
	code, m := upload(certPEM, keyPEM)
	if code != 200 {
		t.Fatalf("upload: %d %v", code, m)
	}
	blk, _ := pem.Decode(certPEM)
	for _, p := range []struct {
		name string
		port int
	}{{"IMAPS", b.IMAPS}, {"HTTPS", b.HTTPS}, {"submissions", b.Submissions}} {
		if got := served(p.port); !bytes.Equal(got.Raw, blk.Bytes) {
			t.Errorf("%s serves %q (serial %v), not the uploaded certificate", p.name, got.Subject.CommonName, got.SerialNumber)
		}
	}
	if !strings.Contains(b.stderr.String(), "TLS certificate reloaded") {
		t.Error("the reload is not in the log")
	}
	if strings.Contains(b.stderr.String(), "PRIVATE KEY") {
		t.Error("the private key is in the log")
	}
}
