package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// loopbackNames are the names a certificate is for when a test names
// none: what a client on the same machine dials.
var loopbackNames = []string{"localhost", "127.0.0.1", "::1"}

// CertPEM makes a self-signed ECDSA P-256 server certificate for names
// (DNS names or IP literals; none means localhost, 127.0.0.1 and ::1),
// valid from notBefore to notAfter, and returns it and its PKCS #8 key
// in PEM.
func CertPEM(t testing.TB, notBefore, notAfter time.Time, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	if len(names) == 0 {
		names = loopbackNames
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: names[0]},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// Cert is a self-signed certificate for names (none: the loopback
// names), valid from an hour ago for 90 days.
func Cert(t testing.TB, names ...string) tls.Certificate {
	t.Helper()
	now := time.Now()
	c, k := CertPEM(t, now.Add(-time.Hour), now.Add(90*24*time.Hour), names...)
	pair, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

// TLSConfig is a server TLS configuration with Cert(t, names...).
func TLSConfig(t testing.TB, names ...string) *tls.Config {
	t.Helper()
	return &tls.Config{Certificates: []tls.Certificate{Cert(t, names...)}}
}

// CertFiles writes a certificate for names (none: the loopback names),
// valid from an hour ago for 90 days, and its key into a temporary
// directory, and returns the two paths.
func CertFiles(t testing.TB, names ...string) (certFile, keyFile string) {
	t.Helper()
	now := time.Now()
	c, k := CertPEM(t, now.Add(-time.Hour), now.Add(90*24*time.Hour), names...)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, c, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, k, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
