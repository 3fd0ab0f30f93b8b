package test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"

	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

// The outbound TLS policies (issue 22) against a real Postfix as the
// friend's provider: its domain friends.example has its MX
// mx.friends.example on 127.0.0.2, in a zone served by boxmail's own
// DNS server (signed with its own keys, as the box signs its zones:
// dane_dns_test.go), an MTA-STS policy served over HTTPS by the test,
// and the box reaches both through BOXMAIL_TEST_OUTBOUND_LOOPBACK. The
// box's only resolver is Debian's unbound, validating, with the zone's
// DS as its trust anchor: the AD bit the box believes is unbound's
// verdict on real signatures. The test's certificates are the box's
// trusted roots through SSL_CERT_FILE.

// peerTrust is how the box's validating resolver finds the friend's
// zone.
type peerTrust int

const (
	// signedZone: signed, its DS the resolver's trust anchor (secure).
	signedZone peerTrust = iota
	// unsignedZone: no signatures and no DS (insecure, RFC 4035 4.3).
	unsignedZone
	// tamperedTLSA: signed and anchored, but an attacker between the
	// resolver and the zone's server corrupts the signatures of its
	// TLSA records (bogus: unbound answers SERVFAIL).
	tamperedTLSA
)

// tlsPeer is the friend's provider with its DNS, certificates and
// MTA-STS web server.
type tlsPeer struct {
	t        *testing.T
	pf       *Postfix
	port     int
	zone     *peerZone
	tamper   *tamperer // tamperedTLSA only
	resolver int       // unbound's port
	dir      string
	mu       sync.Mutex
	policy   string // served at /.well-known/mta-sts.txt; "" is 404
	fetches  int
	https    int
}

// tlsNames are the names the test has certificates for, each trusted.
var tlsNames = []string{"mx.friends.example", "other.example", "mta-sts.friends.example"}

func startTLSPeer(t *testing.T, trust peerTrust, records ...string) *tlsPeer {
	t.Helper()
	p := &tlsPeer{t: t, dir: t.TempDir()}
	now := time.Now()
	var bundle []byte
	for _, n := range tlsNames {
		c, k := testutil.CertPEM(t, now.Add(-time.Hour), now.Add(90*24*time.Hour), n)
		os.WriteFile(filepath.Join(p.dir, n+".pem"), c, 0o644)
		os.WriteFile(filepath.Join(p.dir, n+".key"), k, 0o644)
		bundle = append(bundle, c...)
	}
	roots := filepath.Join(p.dir, "roots.pem")
	os.WriteFile(roots, bundle, 0o644)
	t.Setenv("SSL_CERT_FILE", roots) // the box's trusted roots: the test's certificates only

	p.pf = startPostfix(t, "anna")
	_, ps, _ := net.SplitHostPort(p.pf.Addr)
	fmt.Sscan(ps, &p.port)
	f, err := os.OpenFile(filepath.Join(p.pf.Dir, "conf", "main.cf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "smtpd_tls_security_level = may\nsmtpd_tls_cert_file = %[1]s/conf/tls.pem\nsmtpd_tls_key_file = %[1]s/conf/tls.key\nsmtpd_tls_loglevel = 1\n", p.pf.Dir)
	f.Close()
	f, err = os.OpenFile(filepath.Join(p.pf.Dir, "conf", "master.cf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "tlsmgr    unix  - - n 1000? 1 tlsmgr\n")
	f.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/mta-sts.txt", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.fetches++
		if p.policy == "" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, p.policy)
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.pair("mta-sts.friends.example")}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, hs, _ := net.SplitHostPort(srv.Listener.Addr().String())
	fmt.Sscan(hs, &p.https)

	p.zone = startPeerZone(t, "friends.example", trust != unsignedZone, append([]string{"friends.example. MX 10 mx.friends.example.",
		"mx.friends.example. A 127.0.0.2", "mta-sts.friends.example. A 127.0.0.1"}, records...)...)
	stub := stubZone{Name: "friends.example", Port: p.zone.Port}
	if trust != unsignedZone {
		stub.Anchor = p.zone.Anchor()
	}
	if trust == tamperedTLSA {
		p.tamper = startTamperer(t, p.zone.Port, dns.TypeTLSA)
		stub.Port = p.tamper.Port
	}
	p.resolver = startUnboundWith(t, unboundOptions{Stubs: []stubZone{stub}})
	t.Setenv("BOXMAIL_TEST_OUTBOUND_LOOPBACK", fmt.Sprintf("%d,%d", p.port, p.https))
	return p
}

func (p *tlsPeer) pair(name string) tls.Certificate {
	c, err := tls.LoadX509KeyPair(filepath.Join(p.dir, name+".pem"), filepath.Join(p.dir, name+".key"))
	if err != nil {
		p.t.Fatal(err)
	}
	return c
}

// serveCert makes Postfix offer the certificate for name (restarting it).
func (p *tlsPeer) serveCert(name string) {
	p.t.Helper()
	for _, ext := range []string{".pem", ".key"} {
		b, err := os.ReadFile(filepath.Join(p.dir, name+ext))
		if err != nil {
			p.t.Fatal(err)
		}
		os.WriteFile(filepath.Join(p.pf.Dir, "conf", "tls"+ext), b, 0o644)
	}
	p.pf.Stop()
	p.pf.Start()
}

// spki is the TLSA 3 1 1 data of the certificate for name.
func (p *tlsPeer) spki(name string) string {
	b, _ := os.ReadFile(filepath.Join(p.dir, name+".pem"))
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		p.t.Fatal(err)
	}
	h := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(h[:])
}

func (p *tlsPeer) setPolicy(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.policy = s
}

// box starts a box whose only resolver is the validating unbound.
func (p *tlsPeer) box() *Box {
	return newBoxWith(p.t, map[string]string{"resolvers": "127.0.0.1:" + strconv.Itoa(p.resolver), "retry_schedule": "1s"})
}

func submitTo(t *testing.T, b *Box, rcpt, subject string) {
	t.Helper()
	out, code := b.Swaks("--server", fmt.Sprintf("127.0.0.1:%d", b.Submission), "-tls", "--auth-user", b.Admin, "--auth-password", b.Password,
		"--from", b.Admin, "--to", rcpt, "--h-Subject", subject, "--body", "Meet at noon.")
	if code != 0 {
		t.Fatalf("submission: %s", out)
	}
}

// waitDeferred waits for the only queue entry to have failed twice and
// returns its last error.
func waitDeferred(t *testing.T, b *Box) string {
	t.Helper()
	testutil.WaitFor(t, "two failed attempts", 20*time.Second, func() bool { q := b.Queue(); return len(q) == 1 && q[0].Attempts >= 2 })
	return b.Queue()[0].LastError
}

func tlsResults(t *testing.T, b *Box) []store.TLSResult {
	t.Helper()
	st := b.OpenStore()
	defer st.Close()
	r, err := st.TLSResults(context.Background(), "2000-01-01", "2999-12-31")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// sawTLSResult tells whether the box counted a session under a policy
// type with a result for TLS-RPT.
func sawTLSResult(t *testing.T, b *Box, policyType, result string) bool {
	t.Helper()
	for _, r := range tlsResults(t, b) {
		if r.PolicyType == policyType && r.Result == result {
			return true
		}
	}
	return false
}

const enforcePolicy = "version: STSv1\r\nmode: enforce\r\nmx: mx.friends.example\r\nmax_age: 86400\r\n"

func TestMTASTSEnforceNeverSendsToAWrongCertificateAndDeliversToTheRightOne(t *testing.T) {
	p := startTLSPeer(t, signedZone, `_mta-sts.friends.example. TXT "v=STSv1; id=20261206"`)
	p.setPolicy(enforcePolicy)
	p.serveCert("other.example")
	b := p.box()
	submitTo(t, b, "anna@friends.example", "enforced")
	last := waitDeferred(t, b)
	want := "MTA-STS policy of friends.example requires TLS; mx.friends.example offered a certificate for other.example"
	if !strings.Contains(last, want) {
		t.Errorf("last error %q, want %q", last, want)
	}
	if n := len(p.pf.Mail("anna")); n != 0 {
		t.Fatalf("Postfix received %d messages despite the policy", n)
	}
	if log, _ := os.ReadFile(filepath.Join(p.pf.Dir, "postfix.log")); strings.Contains(string(log), "message-id=") {
		t.Fatalf("Postfix accepted a message:\n%s", log)
	}
	p.serveCert("mx.friends.example")
	testutil.WaitFor(t, "delivery over verified TLS", 30*time.Second, func() bool { return len(p.pf.Mail("anna")) == 1 })
	testutil.WaitFor(t, "the queue to drain", 10*time.Second, func() bool { return len(b.Queue()) == 0 })
	if log, _ := os.ReadFile(filepath.Join(p.pf.Dir, "postfix.log")); !strings.Contains(string(log), "TLS connection established") {
		t.Errorf("Postfix logged no TLS session:\n%s", log)
	}
	p.mu.Lock()
	fetches := p.fetches
	p.mu.Unlock()
	if fetches != 1 {
		t.Errorf("policy fetched %d times, want once (then cached)", fetches)
	}
	var sawFail, sawOK bool
	for _, r := range tlsResults(t, b) {
		sawFail = sawFail || r.PolicyType == "sts" && r.Result == "certificate-host-mismatch"
		sawOK = sawOK || r.PolicyType == "sts" && r.Result == "success"
	}
	if !sawFail || !sawOK {
		t.Errorf("TLS results %+v lack the failure or the success", tlsResults(t, b))
	}
}

func TestMTASTSTestingDeliversAndRecordsTheFailure(t *testing.T) {
	p := startTLSPeer(t, signedZone, `_mta-sts.friends.example. TXT "v=STSv1; id=1"`)
	p.setPolicy(strings.Replace(enforcePolicy, "enforce", "testing", 1))
	p.serveCert("other.example")
	b := p.box()
	submitTo(t, b, "anna@friends.example", "testing mode")
	testutil.WaitFor(t, "delivery", 30*time.Second, func() bool { return len(p.pf.Mail("anna")) == 1 })
	testutil.WaitFor(t, "the queue to drain", 10*time.Second, func() bool { return len(b.Queue()) == 0 })
	res := tlsResults(t, b)
	if len(res) != 1 || res[0].PolicyType != "sts" || res[0].Result != "certificate-host-mismatch" || res[0].MXHost != "mx.friends.example" ||
		!strings.Contains(res[0].Policy, "mode: testing") {
		t.Errorf("TLS results %+v", res)
	}
}

func TestDANEWithASignedTLSARecordDeliversOnlyOnAMatch(t *testing.T) {
	p := startTLSPeer(t, signedZone)
	tlsaName := fmt.Sprintf("_%d._tcp.mx.friends.example.", p.port)
	p.zone.Add(tlsaName + " TLSA 3 1 1 " + p.spki("other.example")) // a key Postfix does not have
	p.serveCert("mx.friends.example")
	b := p.box()
	submitTo(t, b, "anna@friends.example", "dane")
	last := waitDeferred(t, b)
	if !strings.Contains(last, "DANE") || !strings.Contains(last, "none of its TLSA records matches") {
		t.Errorf("last error %q", last)
	}
	if n := len(p.pf.Mail("anna")); n != 0 {
		t.Fatalf("Postfix received %d messages despite the TLSA mismatch", n)
	}
	// The right key published: the next attempt delivers.
	p.zone.Add(tlsaName + " TLSA 3 1 1 " + p.spki("mx.friends.example"))
	testutil.WaitFor(t, "delivery under DANE", 30*time.Second, func() bool { return len(p.pf.Mail("anna")) == 1 })
	if !sawTLSResult(t, b, "tlsa", "success") {
		t.Errorf("TLS results %+v lack the DANE success", tlsResults(t, b))
	}
}

// TLSA records in a zone without DNSSEC vouch for nothing (RFC 7672
// 2.2): anyone who can forge the zone's answers could name his own key.
// Here they name the key of the certificate Postfix serves, which is
// not valid for its name; the box ignores them and applies the domain's
// MTA-STS policy, which refuses that certificate.
func TestDANEIgnoresTLSARecordsOfAnUnsignedZone(t *testing.T) {
	p := startTLSPeer(t, unsignedZone, `_mta-sts.friends.example. TXT "v=STSv1; id=7672"`)
	p.zone.Add(fmt.Sprintf("_%d._tcp.mx.friends.example. TLSA 3 1 1 %s", p.port, p.spki("other.example")))
	p.setPolicy(enforcePolicy)
	p.serveCert("other.example")
	b := p.box()
	submitTo(t, b, "anna@friends.example", "forged tlsa")
	last := waitDeferred(t, b)
	if want := "MTA-STS policy of friends.example requires TLS; mx.friends.example offered a certificate for other.example"; !strings.Contains(last, want) {
		t.Errorf("last error %q, want %q", last, want)
	}
	if n := len(p.pf.Mail("anna")); n != 0 {
		t.Fatalf("Postfix received %d messages on the strength of unsigned TLSA records", n)
	}
	for _, r := range tlsResults(t, b) {
		if r.PolicyType != "sts" {
			t.Errorf("TLS result under policy %q (want only sts): %+v", r.PolicyType, r)
		}
	}
}

// A signed zone whose TLSA answer fails validation (an attacker on the
// path corrupts its signatures: unbound answers SERVFAIL) may be an
// attack on DANE (RFC 7672 2.2): the box defers rather than fall back to
// MTA-STS or opportunistic TLS, although Postfix's certificate is the
// one the records name; once the answers are intact, it delivers under
// DANE.
func TestDANEDefersWhenTheTLSAAnswerIsBogus(t *testing.T) {
	p := startTLSPeer(t, tamperedTLSA)
	p.zone.Add(fmt.Sprintf("_%d._tcp.mx.friends.example. TLSA 3 1 1 %s", p.port, p.spki("mx.friends.example")))
	p.serveCert("mx.friends.example")
	b := p.box()
	submitTo(t, b, "anna@friends.example", "bogus tlsa")
	last := waitDeferred(t, b)
	if want := "the TLSA lookup of mx.friends.example (a signed zone) failed"; !strings.Contains(last, want) || !strings.Contains(last, "SERVFAIL") {
		t.Errorf("last error %q, want %q (SERVFAIL)", last, want)
	}
	if n := len(p.pf.Mail("anna")); n != 0 {
		t.Fatalf("Postfix received %d messages despite the bogus TLSA answer", n)
	}
	if !sawTLSResult(t, b, "tlsa", "dnssec-invalid") {
		t.Errorf("TLS results %+v lack dnssec-invalid", tlsResults(t, b))
	}
	if hits := p.tamper.set(false); hits == 0 {
		t.Fatal("the attacker corrupted no signature")
	}
	testutil.WaitFor(t, "delivery under DANE once the answers are intact", 60*time.Second, func() bool { return len(p.pf.Mail("anna")) == 1 })
	if !sawTLSResult(t, b, "tlsa", "success") {
		t.Errorf("TLS results %+v lack the DANE success", tlsResults(t, b))
	}
}

// A REQUIRETLS message (RFC 8689) to a host whose certificate is not
// valid for its name bounces with a DSN that says so, and is not sent.
func TestARequireTLSMessageBouncesWithoutAVerifiedPeer(t *testing.T) {
	p := startTLSPeer(t, signedZone)
	p.serveCert("other.example")
	b := p.box()
	c, err := smtp.DialStartTLS(fmt.Sprintf("127.0.0.1:%d", b.Submission), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, _ := c.Extension("REQUIRETLS"); !ok {
		t.Fatal("submission does not offer REQUIRETLS after STARTTLS")
	}
	if err := c.Auth(sasl.NewPlainClient("", b.Admin, b.Password)); err != nil {
		t.Fatal(err)
	}
	msg := "From: " + b.Admin + "\r\nTo: anna@friends.example\r\nSubject: secret plans\r\n\r\nOnly over TLS.\r\n"
	if err := c.SendMail(b.Admin, []string{"anna@friends.example"}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail(b.Admin, &smtp.MailOptions{RequireTLS: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("anna@friends.example", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(w, strings.Replace(msg, "secret plans", "requiretls plans", 1))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	// The plain message goes out (opportunistic TLS); the REQUIRETLS one
	// bounces.
	testutil.WaitFor(t, "the bounce", 30*time.Second, func() bool { return len(b.Mailbox(b.Admin, "INBOX")) == 1 })
	dsn := string(b.Mailbox(b.Admin, "INBOX")[0])
	for _, want := range []string{"Status: 5.7.30", "REQUIRETLS", "mx.friends.example offered a certificate for other.example", "Subject: requiretls plans"} {
		if !strings.Contains(dsn, want) {
			t.Errorf("bounce lacks %q:\n%s", want, dsn)
		}
	}
	testutil.WaitFor(t, "the queue to drain", 20*time.Second, func() bool { return len(b.Queue()) == 0 })
	testutil.WaitFor(t, "Postfix to store the plain message", 20*time.Second, func() bool { return len(p.pf.Mail("anna")) == 1 })
	got := p.pf.Mail("anna")
	if len(got) != 1 || !strings.Contains(got[0], "Subject: secret plans") {
		t.Errorf("Postfix got %d messages, want only the one without REQUIRETLS", len(got))
	}
}

// sendRequireTLS submits a message marked REQUIRETLS (RFC 8689).
func sendRequireTLS(t *testing.T, b *Box, rcpt, subject string) {
	t.Helper()
	c, err := smtp.DialStartTLS(fmt.Sprintf("127.0.0.1:%d", b.Submission), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", b.Admin, b.Password)); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail(b.Admin, &smtp.MailOptions{RequireTLS: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(w, "From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nOnly over TLS.\r\n", b.Admin, rcpt, subject)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Log(err)
	}
}

// RFC 8689 against a real Postfix whose domain has an MTA-STS policy in
// enforce: a message whose sender said "TLS-Required: No" is delivered
// although Postfix's certificate is wrong (the header kept), while a
// plain one waits for the right certificate; then a REQUIRETLS message
// bounces, because Postfix does not offer REQUIRETLS.
func TestTLSRequiredNoAndRequireTLSAgainstPostfix(t *testing.T) {
	p := startTLSPeer(t, signedZone, `_mta-sts.friends.example. TXT "v=STSv1; id=8689"`)
	p.setPolicy(enforcePolicy)
	p.serveCert("other.example")
	b := p.box()
	submitTo(t, b, "anna@friends.example", "policy applies")
	out, code := b.Swaks("--server", fmt.Sprintf("127.0.0.1:%d", b.Submission), "-tls", "--auth-user", b.Admin, "--auth-password", b.Password,
		"--from", b.Admin, "--to", "anna@friends.example", "--h-Subject", "policy waived", "--add-header", "TLS-Required: No", "--body", "Deliver anyway.")
	if code != 0 {
		t.Fatalf("submission: %s", out)
	}
	testutil.WaitFor(t, "the TLS-Required: No message", 30*time.Second, func() bool { return len(p.pf.Mail("anna")) == 1 })
	got := p.pf.Mail("anna")[0]
	if !strings.Contains(got, "Subject: policy waived") || !strings.Contains(got, "TLS-Required: No") {
		t.Errorf("Postfix got:\n%s", got)
	}
	if last := waitDeferred(t, b); !strings.Contains(last, "MTA-STS policy of friends.example requires TLS") {
		t.Errorf("the plain message's last error %q", last)
	}

	p.serveCert("mx.friends.example")
	testutil.WaitFor(t, "the plain message over verified TLS", 30*time.Second, func() bool { return len(p.pf.Mail("anna")) == 2 })
	sendRequireTLS(t, b, "anna@friends.example", "requiretls to postfix")
	testutil.WaitFor(t, "the bounce", 30*time.Second, func() bool { return len(b.Mailbox(b.Admin, "INBOX")) == 1 })
	dsn := strings.Join(strings.Fields(string(b.Mailbox(b.Admin, "INBOX")[0])), " ")
	for _, want := range []string{"Status: 5.7.30", "mx.friends.example does not offer REQUIRETLS", "Subject: requiretls to postfix"} {
		if !strings.Contains(dsn, want) {
			t.Errorf("bounce lacks %q:\n%s", want, dsn)
		}
	}
	if n := len(p.pf.Mail("anna")); n != 2 {
		t.Errorf("Postfix has %d messages, want 2 (not the REQUIRETLS one)", n)
	}
}
