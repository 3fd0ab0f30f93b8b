package test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"boxmail/internal/testutil"
)

// pebble is a Pebble ACME server (Let's Encrypt's test CA) on loopback,
// started by a test: it checks every DNS-01 challenge by asking the
// box's own DNS server (-dnsserver).
type pebble struct {
	Dir  string // the ACME directory URL
	Root []byte // PEM of the root that signs what it issues (/roots/0)
	// CAFile is the PEM file trusted for Pebble's own HTTPS
	// (acme_ca_root).
	CAFile string
	cmd    *exec.Cmd
	exited chan error
	log    *syncBuffer
}

// startPebble starts Pebble with certificates valid for validity and
// DNS queries sent to 127.0.0.1:dnsPort. The challenge is really
// checked: PEBBLE_VA_ALWAYS_VALID and PEBBLE_VA_NOSLEEP are not set
// (PEBBLE_VA_SLEEPTIME only shortens the random wait before a check).
func startPebble(t *testing.T, dnsPort int, validity time.Duration) *pebble {
	t.Helper()
	p := testutil.FreePorts(t, 2)
	return startPebbleWith(t, fmt.Sprintf("127.0.0.1:%d", dnsPort), validity, p[0], p[1])
}

// startPebbleWith is startPebble asking the DNS server at dnsAddr, whose
// checks of HTTP-01 and TLS-ALPN-01 connect to httpPort and tlsPort.
func startPebbleWith(t *testing.T, dnsAddr string, validity time.Duration, httpPort, tlsPort int) *pebble {
	t.Helper()
	bin := needTool(t, "pebble")
	dir := t.TempDir()
	certFile, keyFile := testutil.CertFiles(t) // Pebble's HTTPS: localhost, 127.0.0.1
	p := append(testutil.FreePorts(t, 2), httpPort, tlsPort)
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress": fmt.Sprintf("127.0.0.1:%d", p[0]), "managementListenAddress": fmt.Sprintf("127.0.0.1:%d", p[1]),
		"certificate": certFile, "privateKey": keyFile, "httpPort": p[2], "tlsPort": p[3],
		"ocspResponderURL": "", "externalAccountBindingRequired": false,
		"certificateValidityPeriod": int(validity.Seconds()),
	}}
	b, err := json.Marshal(conf)
	if err != nil {
		t.Fatal(err)
	}
	confFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(confFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	pb := &pebble{Dir: fmt.Sprintf("https://127.0.0.1:%d/dir", p[0]), CAFile: certFile, log: &syncBuffer{}, exited: make(chan error, 1)}
	pb.cmd = exec.Command(bin, "-config", confFile, "-dnsserver", dnsAddr)
	pb.cmd.Dir = dir
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "PEBBLE_") {
			env = append(env, e)
		}
	}
	pb.cmd.Env = append(env, "PEBBLE_VA_SLEEPTIME=2")
	pb.cmd.Stdout, pb.cmd.Stderr = pb.log, pb.log
	if err := pb.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { pb.exited <- pb.cmd.Wait() }()
	t.Cleanup(pb.Stop)
	pemCA, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemCA)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	testutil.WaitFor(t, "Pebble's directory", 20*time.Second, func() bool {
		resp, err := hc.Get(pb.Dir)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	resp, err := hc.Get(fmt.Sprintf("https://127.0.0.1:%d/roots/0", p[1]))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if pb.Root, err = io.ReadAll(resp.Body); err != nil || resp.StatusCode != 200 {
		t.Fatalf("Pebble's root: %d %v", resp.StatusCode, err)
	}
	return pb
}

// Stop stops Pebble (the CA goes down).
func (pb *pebble) Stop() {
	if pb.cmd == nil {
		return
	}
	pb.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-pb.exited:
	case <-time.After(10 * time.Second):
		pb.cmd.Process.Kill()
		<-pb.exited
	}
	pb.cmd = nil
}

// servedCert is the leaf a TLS port serves for a server name (not
// verified).
func servedCert(t *testing.T, port int, name string) *x509.Certificate {
	t.Helper()
	return servedCertAt(t, fmt.Sprintf("127.0.0.1:%d", port), name)
}

// servedCertAt is servedCert of the TLS port at addr.
func servedCertAt(t *testing.T, addr, name string) *x509.Certificate {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: name, InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

// verifies tells whether a TLS port serves name a chain that verifies
// against roots.
func verifies(port int, name string, roots *x509.CertPool) error {
	return verifiesAt(fmt.Sprintf("127.0.0.1:%d", port), name, roots)
}

// verifiesAt is verifies of the TLS port at addr.
func verifiesAt(addr, name string, roots *x509.CertPool) error {
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: name, RootCAs: roots})
	if err != nil {
		return err
	}
	return c.Close()
}

// opensslVerifies runs openssl s_client -verify_return_error against a
// port with the CA's root (starttls: "" or a protocol such as smtp).
func opensslVerifies(t *testing.T, port int, name, caFile, starttls string) {
	t.Helper()
	args := []string{"s_client", "-connect", fmt.Sprintf("127.0.0.1:%d", port), "-servername", name,
		"-CAfile", caFile, "-verify_return_error", "-verify_hostname", name, "-brief"}
	if starttls != "" {
		args = append(args, "-starttls", starttls)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, needTool(t, "openssl"), args...)
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Verification: OK") {
		t.Errorf("openssl s_client port %d (%s) %s: %v\n%s", port, name, starttls, err, out)
	}
}

// A fresh box with acme = on and no port 80 or 443 gets a certificate
// for every name it answers to from Pebble through DNS-01 answered by
// its own DNS server; real clients verify the chain on submission,
// submissions, IMAPS, POP3S and HTTPS; trust follows (MTA-STS enforce,
// HSTS); 'boxmail status' shows each certificate; a renewal replaces
// them without a restart and without dropping an IDLE session; a CA
// that is down at renewal keeps the old certificate served and status
// warns.
func TestACMEGetsEveryNameThroughDNS01AndRenewsWithoutARestart(t *testing.T) {
	b := newBox(t)
	b.Stop()
	const validity = 40 * time.Second // renewed at 2/3: after about 27s
	pb := startPebble(t, b.DNS, validity)
	rootFile := writeTemp(t, string(pb.Root))
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pb.Root) {
		t.Fatalf("Pebble's root is not PEM: %q", pb.Root)
	}
	b.configure(map[string]string{"acme": "on", "acme_ca": pb.Dir, "acme_ca_root": pb.CAFile,
		"acme_email": "me@example.test", "acme_renew_check": "1s"})
	start := time.Now()
	b.Start()
	names := []string{"mail.example.test", "autoconfig.example.test", "autodiscover.example.test", "mta-sts.example.test"}
	for _, n := range names {
		var last error
		deadline := time.Now().Add(90 * time.Second)
		for ; time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if last = verifies(b.HTTPS, n, roots); last == nil {
				break
			}
		}
		if last != nil {
			t.Fatalf("%s: no verified certificate after 90s: %v\n%s\npebble:\n%s", n, last, b.stderr.String(), pb.log.String())
		}
	}
	t.Logf("certificates for %d names obtained in %s", len(names), time.Since(start).Round(time.Millisecond))
	time.Sleep(3 * time.Second) // idle
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", b.cmd.Process.Pid)); err == nil {
		t.Logf("idle with ACME on: %s", strings.Join(strings.Fields(lineWithPrefix(string(st), "VmRSS:")), " "))
	}
	if strings.Contains(pb.log.String(), "ALWAYS_VALID") {
		t.Fatal("Pebble runs with PEBBLE_VA_ALWAYS_VALID")
	}

	// Real clients verify the chain on every TLS port.
	host := "mail.example.test"
	opensslVerifies(t, b.Submissions, host, rootFile, "")
	opensslVerifies(t, b.Submission, host, rootFile, "smtp")
	opensslVerifies(t, b.IMAPS, host, rootFile, "")
	opensslVerifies(t, b.POP3S, host, rootFile, "")
	opensslVerifies(t, b.HTTPS, host, rootFile, "")

	// Trust follows: MTA-STS enforce and HSTS.
	checkTrustFollows(t, b, roots)

	// 'boxmail status': one line per certificate.
	out, _, _ := b.Cmd("", "status", "--no-ports", "--timeout", "1s")
	for _, n := range names {
		line := acmeLine(out, n)
		for _, want := range []string{"issuer Pebble Intermediate", "expires ", "challenge dns-01", "next renewal"} {
			if !strings.Contains(line, want) {
				t.Errorf("status line of %s lacks %q: %q\n%s", n, want, line, out)
			}
		}
	}

	// A domain added while the box runs gets its names' certificates.
	if _, errs, code := b.Cmd("", "domain", "add", "family.test"); code != 0 {
		t.Fatalf("domain add: %s", errs)
	}
	testutil.WaitFor(t, "a certificate for autoconfig.family.test", 60*time.Second, func() bool {
		return verifies(b.HTTPS, "autoconfig.family.test", roots) == nil
	})

	// A pair installed by hand wins over ACME; removed, ACME's is back.
	handInstalledWins(t, b, roots)

	halfWrittenIsReplaced(t, b, roots)

	renewalKeepsIdle(t, b, roots)

	caDownKeepsTheOldCertificate(t, b, pb, validity)
}

// handInstalledWins: 'boxmail tls install' replaces the ACME
// certificate at the next connection, 'boxmail tls remove' brings it
// back.
func handInstalledWins(t *testing.T, b *Box, roots *x509.CertPool) {
	t.Helper()
	host := "mail.example.test"
	now := time.Now()
	c, k := testutil.CertPEM(t, now.Add(-time.Hour), now.Add(30*24*time.Hour), host)
	certFile, keyFile := writeTemp(t, string(c)), writeTemp(t, string(k))
	// --now: the pair's key is new, which would be staged for two TTLs.
	if out, errs, code := b.Cmd("", "tls", "install", "--now", "--cert", certFile, "--key", keyFile); code != 0 {
		t.Fatalf("tls install: %s %s", out, errs)
	}
	testutil.WaitFor(t, "the pair installed by hand to be served", 10*time.Second, func() bool {
		return verifies(b.IMAPS, host, roots) != nil && servedCert(t, b.IMAPS, host).Issuer.CommonName == host
	})
	if out, errs, code := b.Cmd("", "tls", "remove"); code != 0 || !strings.Contains(out, pebbleDirHint) {
		t.Fatalf("tls remove: %d %s %s", code, out, errs)
	}
	testutil.WaitFor(t, "ACME's certificate to be served again", 10*time.Second, func() bool {
		return verifies(b.IMAPS, host, roots) == nil
	})
}

// pebbleDirHint is what 'boxmail tls remove' says with acme = on.
const pebbleDirHint = "serves the certificates from https://127.0.0.1:"

// halfWrittenIsReplaced: a half-written certificate file (a crash of
// another writer, a full disk) is set aside at the next start and a new
// certificate obtained.
func halfWrittenIsReplaced(t *testing.T, b *Box, roots *x509.CertPool) {
	t.Helper()
	b.Stop()
	crts, _ := filepath.Glob(filepath.Join(b.Dir, "acme", "certificates", "*", "mail.example.test", "mail.example.test.crt"))
	if len(crts) != 1 {
		t.Fatalf("stored certificates of mail.example.test: %q", crts)
	}
	whole, err := os.ReadFile(crts[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(crts[0], whole[:len(whole)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	b.Start()
	testutil.WaitFor(t, "a new certificate after a half-written one", 60*time.Second, func() bool {
		return verifies(b.HTTPS, "mail.example.test", roots) == nil && verifies(b.HTTPS, "mta-sts.example.test", roots) == nil
	})
	if aside, _ := filepath.Glob(filepath.Join(filepath.Dir(crts[0]) + ".broken-*")); len(aside) != 1 {
		t.Errorf("the half-written certificate was not set aside: %q", aside)
	}
	if fi, err := os.Stat(crts[0]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the new certificate file: %v %v, want mode 0600", fi, err)
	}

}

// caDownKeepsTheOldCertificate: with the CA down the renewal fails, the
// old certificate stays served, status warns and the admin's mailbox
// gets one message.
func caDownKeepsTheOldCertificate(t *testing.T, b *Box, pb *pebble, validity time.Duration) {
	t.Helper()
	host := "mail.example.test"
	var out string
	// The CA goes down: the renewal fails, the old certificate stays,
	// status says so.
	before := servedCert(t, b.HTTPS, host).SerialNumber
	pb.Stop()
	testutil.WaitFor(t, "status to report the failed renewal", 2*validity, func() bool {
		out, _, _ = b.Cmd("", "status", "--no-ports", "--timeout", "1s")
		return strings.Contains(acmeLine(out, host), "renewal failed")
	})
	if l := acmeLine(out, host); !strings.HasPrefix(l, "warn") && !strings.HasPrefix(l, "fail") {
		t.Errorf("status line after a failed renewal: %q", l)
	}
	if after := servedCert(t, b.HTTPS, host).SerialNumber; after.Cmp(before) != 0 {
		t.Errorf("a failed renewal changed the served certificate: %s, was %s", after, before)
	}
	// The admin's mailbox gets one message, not one per retry or name.
	told := func() (n int, last string) {
		for _, m := range b.Mailbox(b.Admin, "INBOX") {
			if strings.Contains(string(m), "Subject: Certificate renewal failed") {
				n, last = n+1, string(m)
			}
		}
		return n, last
	}
	testutil.WaitFor(t, "the admin to be told", 30*time.Second, func() bool { n, _ := told(); return n > 0 })
	time.Sleep(15 * time.Second) // more failures and retries meanwhile
	if n, msg := told(); n != 1 || !strings.Contains(msg, "could not be renewed") {
		t.Errorf("%d messages to the admin, want 1:\n%s", n, msg)
	}
}

// lineWithPrefix is the first line of s that starts with p.
func lineWithPrefix(s, p string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, p) {
			return l
		}
	}
	return ""
}

// acmeLine is the status line of name's ACME certificate.
func acmeLine(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, " "+name+" ") && strings.Contains(l, "TLS certificate (ACME)") {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// checkTrustFollows: with a CA-issued certificate the MTA-STS policy is
// enforce and HTTPS sends HSTS.
func checkTrustFollows(t *testing.T, b *Box, roots *x509.CertPool) {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "mta-sts.example.test"}}}
	req, err := http.NewRequest("GET", fmt.Sprintf("https://127.0.0.1:%d/.well-known/mta-sts.txt", b.HTTPS), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "mta-sts.example.test"
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "mode: enforce") {
		t.Errorf("MTA-STS policy with a CA-issued certificate:\n%s", body)
	}
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Errorf("no HSTS with a CA-issued certificate: %v", resp.Header)
	}
}

// renewalKeepsIdle: an IMAP IDLE session over verified TLS survives the
// renewal, which the next connection sees without a restart.
func renewalKeepsIdle(t *testing.T, b *Box, roots *x509.CertPool) {
	t.Helper()
	host := "mail.example.test"
	c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", b.IMAPS), &tls.Config{ServerName: host, RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	first := c.ConnectionState().PeerCertificates[0].SerialNumber
	firstKey := c.ConnectionState().PeerCertificates[0].RawSubjectPublicKeyInfo
	c.SetDeadline(time.Now().Add(3 * time.Minute))
	r := bufio.NewReader(c)
	readUntil(t, r, "* OK")
	fmt.Fprintf(c, "a1 LOGIN %s %s\r\n", b.Admin, b.Password)
	if l := readUntil(t, r, "a1 "); !strings.HasPrefix(l, "a1 OK") {
		t.Fatalf("LOGIN: %q", l)
	}
	fmt.Fprintf(c, "a2 SELECT INBOX\r\na3 IDLE\r\n")
	readUntil(t, r, "+ ")
	var renewed *big.Int
	testutil.WaitFor(t, "the renewed certificate", 2*time.Minute, func() bool {
		cert := servedCert(t, b.IMAPS, host)
		if s := cert.SerialNumber; s.Cmp(first) != 0 {
			renewed = s
			// The key stays, so the published TLSA 3 1 1 stays true.
			if !bytes.Equal(cert.RawSubjectPublicKeyInfo, firstKey) {
				t.Errorf("the renewal changed the key: the box's TLSA records would be wrong until the zone follows")
			}
			return true
		}
		time.Sleep(500 * time.Millisecond)
		return false
	})
	if err := verifies(b.IMAPS, host, roots); err != nil {
		t.Errorf("the renewed certificate does not verify: %v", err)
	}
	fmt.Fprintf(c, "DONE\r\n")
	if l := readUntil(t, r, "a3 "); !strings.HasPrefix(l, "a3 OK") {
		t.Fatalf("IDLE across the renewal ended with %q", l)
	}
	fmt.Fprintf(c, "a4 NOOP\r\n")
	if l := readUntil(t, r, "a4 "); !strings.HasPrefix(l, "a4 OK") {
		t.Fatalf("NOOP after the renewal: %q", l)
	}
	t.Logf("renewed without a restart: serial %s -> %s", first, renewed)
}

// TestQuickstartHonoursTheACMESettings: acme stays off in a new
// quickstart box; set in its boxmail.conf and restarted, the demo box
// gets its certificates through DNS-01 from its own DNS port.
func TestQuickstartHonoursTheACMESettings(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "boxmail-data")
	ports := testutil.FreePorts(t, 11)
	_, cmd, _ := startQuickstart(t, dir, ports)
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("quickstart did not exit cleanly: %v", err)
	}
	conf := filepath.Join(dir, "boxmail.conf")
	c, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(c), "\nacme = off\n") {
		t.Fatalf("a new quickstart box has ACME on:\n%s", c)
	}
	pb := startPebble(t, ports[5], 24*time.Hour)
	s := strings.Replace(string(c), "\nacme = off\n", "\nacme = on\n", 1)
	s = regexp.MustCompile(`(?m)^acme_ca = .*$`).ReplaceAllLiteralString(s, "acme_ca = "+pb.Dir)
	s = regexp.MustCompile(`(?m)^acme_ca_root = .*$`).ReplaceAllLiteralString(s, "acme_ca_root = "+pb.CAFile)
	if err := os.WriteFile(conf, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	qs := exec.Command(binary, "quickstart", "--dir", dir,
		"--smtp-port", fmt.Sprint(ports[0]), "--submission-port", fmt.Sprint(ports[1]), "--submissions-port", fmt.Sprint(ports[2]),
		"--imap-port", fmt.Sprint(ports[3]), "--imaps-port", fmt.Sprint(ports[4]), "--dns-port", fmt.Sprint(ports[5]),
		"--http-port", fmt.Sprint(ports[6]), "--https-port", fmt.Sprint(ports[7]),
		"--pop3-port", fmt.Sprint(ports[8]), "--pop3s-port", fmt.Sprint(ports[9]), "--managesieve-port", fmt.Sprint(ports[10]))
	logs := &syncBuffer{}
	qs.Stdout, qs.Stderr = logs, logs
	if err := qs.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		qs.Process.Signal(syscall.SIGINT)
		if err := qs.Wait(); err != nil {
			t.Errorf("quickstart: %v\n%s", err, logs.String())
		}
	}()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pb.Root)
	for _, n := range []string{"mail.example.test", "mta-sts.example.test"} {
		var last error
		deadline := time.Now().Add(60 * time.Second)
		for ; time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if last = verifies(ports[7], n, roots); last == nil {
				break
			}
		}
		if last != nil {
			conf, _ := os.ReadFile(conf)
			t.Fatalf("%s: no verified certificate after 60s: %v\n%s\nquickstart:\n%s\npebble:\n%s", n, last, conf, logs.String(), pb.log.String())
		}
	}
}

// A box whose router forwards ports 80 and 443 to it says so with
// acme_challenges, and gets its certificates through HTTP-01 or
// TLS-ALPN-01 as Pebble checks them on those ports.
func TestACMEAnswersHTTP01AndTLSALPN01WhereTheConfigSays(t *testing.T) {
	for _, ch := range []string{"http-01", "tls-alpn-01"} {
		t.Run(ch, func(t *testing.T) {
			b := newBox(t)
			b.Stop()
			pb := startPebbleWith(t, b.HostPort(b.DNS), time.Hour, b.HTTP, b.HTTPS)
			roots := x509.NewCertPool()
			roots.AppendCertsFromPEM(pb.Root)
			b.configure(map[string]string{"acme": "on", "acme_ca": pb.Dir, "acme_ca_root": pb.CAFile, "acme_challenges": ch,
				"public_ipv4": "127.0.0.1"}) // what the box's DNS answers for its names
			b.Start()
			testutil.WaitFor(t, "a certificate through "+ch, 90*time.Second, func() bool {
				return verifies(b.HTTPS, "mail.example.test", roots) == nil
			})
			out, _, _ := b.Cmd("", "status", "--no-ports", "--timeout", "1s")
			if line := acmeLine(out, "mail.example.test"); !strings.Contains(line, "challenge "+ch) {
				t.Errorf("status: %q, want challenge %s\n%s", line, ch, out)
			}
			if l := lineWithPrefix(out, "ACME challenges"); !strings.Contains(out, ch+" (port ") || strings.Contains(out, "no "+ch) {
				t.Errorf("the ACME challenges line does not name %s: %q", ch, l)
			}
		})
	}
}

// Two boxes that share their ACME storage (two nodes of one service)
// start at the same moment and race for the same names: the storage's
// locks let one of them order each certificate (the one the CA does not
// check), the other answers the CA's HTTP-01 check from the shared
// storage, and both serve the one certificate issued per name.
func TestTwoBoxesRacingForTheSameCertificatesShareOne(t *testing.T) {
	a, b := newBox(t), newBox(t)
	a.Stop()
	b.Stop()
	pb := startPebbleWith(t, a.HostPort(a.DNS), time.Hour, a.HTTP, a.HTTPS)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pb.Root)
	shared := filepath.Join(a.Dir, "acme")
	if err := os.MkdirAll(shared, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(shared, filepath.Join(b.Dir, "acme")); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*Box{a, b} {
		x.configure(map[string]string{"acme": "on", "acme_ca": pb.Dir, "acme_ca_root": pb.CAFile, "acme_challenges": "http-01",
			"public_ipv4": "127.0.0.1"})
	}
	// The second box starts first and orders while the CA checks the
	// first one's port: the first answers from the shared storage.
	b.Start()
	a.Start()
	name := "mail.example.test"
	for _, x := range []*Box{a, b} {
		testutil.WaitFor(t, "a certificate on both boxes", 90*time.Second, func() bool { return verifies(x.HTTPS, name, roots) == nil })
	}
	oneCertificatePerName(t, pb, name, a, b)
}

// oneCertificatePerName checks that a and b serve the same certificate
// for name, and that Pebble issued at most one per name of the box (4).
func oneCertificatePerName(t *testing.T, pb *pebble, name string, a, b *Box) {
	t.Helper()
	ca, cb := servedCertAt(t, a.HostPort(a.HTTPS), name), servedCertAt(t, b.HostPort(b.HTTPS), name)
	if ca.SerialNumber.Cmp(cb.SerialNumber) != 0 {
		t.Errorf("the boxes serve two certificates for %s (serials %x and %x): both ordered one", name, ca.SerialNumber, cb.SerialNumber)
	}
	n := strings.Count(pb.log.String(), "Issued certificate serial")
	t.Logf("Pebble issued %d certificates; obtained by the box the CA checks %d, by the other %d", n,
		strings.Count(a.stderr.String(), "certificate obtained successfully"), strings.Count(b.stderr.String(), "certificate obtained successfully"))
	if n == 0 || n > 4 {
		t.Errorf("Pebble issued %d certificates for 4 names", n)
	}
}
