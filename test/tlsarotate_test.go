package test

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"boxmail/internal/testutil"
)

// spkiOn25 is the TLSA 3 1 1 data of the key the box serves with
// STARTTLS on its SMTP port.
func spkiOn25(t *testing.T, b *Box) string {
	t.Helper()
	c, err := smtp.DialStartTLS(b.HostPort(b.SMTP), &tls.Config{InsecureSkipVerify: true, ServerName: "mail.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Noop(); err != nil { // the handshake is done by then
		t.Fatal(err)
	}
	cs, ok := c.TLSConnectionState()
	if !ok || len(cs.PeerCertificates) == 0 {
		t.Fatal("no TLS on port 25")
	}
	sum := sha256.Sum256(cs.PeerCertificates[0].RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:])
}

// pemSPKI is the TLSA 3 1 1 data of a PEM certificate.
func pemSPKI(t *testing.T, certPEM []byte) string {
	t.Helper()
	blk, _ := pem.Decode(certPEM)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:])
}

// validatedTLSA returns the 3 1 1 data of the TLSA records of
// _25._tcp.mail.example.test through a validating resolver, failing
// unless the answer is validated (AD).
func validatedTLSA(t *testing.T, port int) []string {
	t.Helper()
	out := digAt(t, port, "+dnssec", "TLSA", "_25._tcp.mail.example.test")
	if !strings.Contains(digFlags(t, out), " ad ") {
		t.Fatalf("TLSA not validated:\n%s", out)
	}
	return tlsa311(out)
}

// tlsa311 is the data of the TLSA 3 1 1 records in dig's output,
// lower case, sorted.
func tlsa311(digOut string) []string {
	var got []string
	for _, m := range regexp.MustCompile(`(?m)\tTLSA\t3 1 1 ([0-9A-Fa-f ]+)$`).FindAllStringSubmatch(digOut, -1) {
		got = append(got, strings.ToLower(strings.ReplaceAll(m[1], " ", "")))
	}
	slices.Sort(got)
	return got
}

// TestTLSAIsPublishedBeforeTheKeyChanges: a pair installed by hand
// replaced by one with a new key is staged; the validated TLSA RRset
// names both keys while the old one is served, so a DANE sender that
// cached it then accepts the new key after the switch; the switch waits
// for two TTLs unless forced, and the old key's record goes with it.
// At every step the key served on port 25 is in the validated RRset.
func TestTLSAIsPublishedBeforeTheKeyChanges(t *testing.T) {
	for _, tool := range []string{"unbound", "dig"} {
		needTool(t, tool)
	}
	b := newBox(t)
	now := time.Now()
	c1, k1 := testutil.CertPEM(t, now.Add(-time.Hour), now.Add(90*24*time.Hour), "mail.example.test")
	if out, errs, code := b.Cmd("", "tls", "install", "--cert", writeTemp(t, string(c1)), "--key", writeTemp(t, string(k1))); code != 0 || strings.Contains(out, "staged") {
		t.Fatalf("first install (over the self-signed pair: at once): %s %s", out, errs)
	}
	key1 := pemSPKI(t, c1)
	testutil.WaitFor(t, "the first pair served and published", 10*time.Second, func() bool {
		return spkiOn25(t, b) == key1 && strings.Contains(strings.ReplaceAll(b.dig("dig", "+short", "TLSA", "_25._tcp.mail.example.test"), " ", ""), strings.ToUpper(key1))
	})
	anchor, _, _ := registrarDS(t, b)
	if got := validatedTLSA(t, startUnbound(t, anchor, b.DNS)); !slices.Equal(got, []string{key1}) {
		t.Fatalf("TLSA before %v, want the served key %s", got, key1)
	}

	c2, k2 := testutil.CertPEM(t, now.Add(-time.Hour), now.Add(90*24*time.Hour), "mail.example.test")
	out, errs, code := b.Cmd("", "tls", "install", "--cert", writeTemp(t, string(c2)), "--key", writeTemp(t, string(k2)))
	if code != 0 || !strings.Contains(out, "staged") {
		t.Fatalf("second install (a new key: staged): %d %s %s", code, out, errs)
	}
	var during []string
	var cached int
	testutil.WaitFor(t, "both TLSA records published", 10*time.Second, func() bool {
		cached = startUnbound(t, anchor, b.DNS)
		during = validatedTLSA(t, cached)
		return len(during) == 2
	})
	if served := spkiOn25(t, b); served != key1 || !slices.Contains(during, key1) {
		t.Fatalf("while staged: served %s, TLSA %v", served, during)
	}
	key2 := pemSPKI(t, c2)
	if !slices.Contains(during, key2) {
		t.Fatalf("while staged: TLSA %v lacks the next key %s", during, key2)
	}
	_, errs, code = b.Cmd("", "tls", "switch")
	if code == 0 || !strings.Contains(errs, "it is served from") {
		t.Errorf("tls switch before two TTLs: %d %s", code, errs)
	}
	b.configure(map[string]string{"resolvers": "127.0.0.1:" + strconv.Itoa(cached)})
	st, _, _ := b.Cmd("", "status", "--no-ports", "--timeout", "5s")
	if !regexp.MustCompile(`ok\s+mail\.example\.test\s+DANE\s+_25\._tcp\.mail\.example\.test TLSA 3 1 1 ` + key1 + ` matches the key served on port 25 .*key change in progress: the next key's TLSA 3 1 1 ` + key2).MatchString(st) {
		t.Errorf("status has no DANE line with the key change:\n%s", st)
	}

	if out, errs, code := b.Cmd("", "tls", "switch", "--force"); code != 0 || !strings.Contains(out, "switched") {
		t.Fatalf("tls switch --force: %d %s %s", code, out, errs)
	}
	testutil.WaitFor(t, "the new key served", 10*time.Second, func() bool { return spkiOn25(t, b) == key2 })
	// The resolver that cached the RRset while staged accepts the new key.
	if got := validatedTLSA(t, cached); !slices.Contains(got, key2) {
		t.Errorf("the cached RRset %v lacks the served key %s", got, key2)
	}
	testutil.WaitFor(t, "the old key's record gone", 10*time.Second, func() bool {
		return slices.Equal(validatedTLSA(t, startUnbound(t, anchor, b.DNS)), []string{key2})
	})
}

// TestACMEKeyChangesPublishTheNextTLSAFirst: the first ACME certificate
// keeps the key of the self-signed pair it replaces, so the validated
// TLSA never stops naming the key served on port 25; 'tls rotate-key'
// gets a certificate for a new key from the CA and stages it: both
// TLSA records are served while the old key is, the switch waits for
// two TTLs unless forced, then the new key is served (trusted, and
// after a restart) and only its record is left.
func TestACMEKeyChangesPublishTheNextTLSAFirst(t *testing.T) {
	for _, tool := range []string{"unbound", "dig", "pebble"} {
		needTool(t, tool)
	}
	b := newBox(t)
	b.Stop()
	pb := startPebble(t, b.DNS, 24*time.Hour)
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pb.Root) {
		t.Fatalf("Pebble's root is not PEM: %q", pb.Root)
	}
	selfPEM, err := os.ReadFile(filepath.Join(b.Dir, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	key0 := pemSPKI(t, selfPEM)
	b.configure(map[string]string{"acme": "on", "acme_ca": pb.Dir, "acme_ca_root": pb.CAFile, "acme_renew_check": "1s"})
	b.Start()
	host := "mail.example.test"
	testutil.WaitFor(t, "ACME's certificate for "+host, 90*time.Second, func() bool { return verifies(b.HTTPS, host, roots) == nil })
	if got := spkiOn25(t, b); got != key0 {
		t.Fatalf("the first ACME certificate has key %s, the self-signed pair (whose TLSA was published) %s", got, key0)
	}
	anchor, _, _ := registrarDS(t, b)
	if got := validatedTLSA(t, startUnbound(t, anchor, b.DNS)); !slices.Equal(got, []string{key0}) {
		t.Fatalf("TLSA with ACME's first certificate %v, want %s", got, key0)
	}

	out, errs, code := b.Cmd("", "tls", "rotate-key")
	if code != 0 || !strings.Contains(out, "staged") {
		t.Fatalf("tls rotate-key: %d %s %s\n%s", code, out, errs, pb.log.String())
	}
	key1 := regexp.MustCompile(`TLSA \(3 1 1 ([0-9a-f]+)\)`).FindStringSubmatch(out)
	if key1 == nil || key1[1] == key0 {
		t.Fatalf("tls rotate-key names no new key: %s", out)
	}
	var cached int
	testutil.WaitFor(t, "both TLSA records published", 10*time.Second, func() bool {
		cached = startUnbound(t, anchor, b.DNS)
		return slices.Equal(validatedTLSA(t, cached), sorted(key0, key1[1]))
	})
	if served := spkiOn25(t, b); served != key0 {
		t.Fatalf("the new key is served before its TLSA has been out two TTLs: %s", served)
	}
	if _, errs, code := b.Cmd("", "tls", "rotate-key"); code == 0 || !strings.Contains(errs, "staged already") {
		t.Errorf("a second rotate-key while one is staged: %d %s", code, errs)
	}
	if _, errs, code := b.Cmd("", "tls", "switch"); code == 0 || !strings.Contains(errs, "it is served from") {
		t.Errorf("tls switch before two TTLs: %d %s", code, errs)
	}
	if out, errs, code := b.Cmd("", "tls", "switch", "--force"); code != 0 || !strings.Contains(out, "switched") {
		t.Fatalf("tls switch --force: %d %s %s", code, out, errs)
	}
	testutil.WaitFor(t, "the new key served", 10*time.Second, func() bool { return spkiOn25(t, b) == key1[1] })
	if err := verifies(b.HTTPS, host, roots); err != nil {
		t.Errorf("the certificate of the new key is not trusted: %v", err)
	}
	if got := validatedTLSA(t, cached); !slices.Contains(got, key1[1]) {
		t.Errorf("the RRset cached while staged %v lacks the served key %s", got, key1[1])
	}
	testutil.WaitFor(t, "the old key's record gone", 10*time.Second, func() bool {
		return slices.Equal(validatedTLSA(t, startUnbound(t, anchor, b.DNS)), []string{key1[1]})
	})
	// The new key is ACME's now: it stays after a restart (renewals keep it).
	b.Stop()
	b.Start()
	testutil.WaitFor(t, "the new key served after a restart", 30*time.Second, func() bool {
		return verifies(b.HTTPS, host, roots) == nil && spkiOn25(t, b) == key1[1]
	})
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}

// adminAPI calls the box's admin JSON API as its admin.
func adminAPI(t *testing.T, b *Box, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, fmt.Sprintf("https://127.0.0.1:%d%s", b.HTTPS, path), rd)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(b.Admin, b.Password)
	req.Header.Set("Content-Type", "application/json")
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	res, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		t.Fatalf("%s %s: %s: %v", method, path, res.Status, err)
	}
	return res.StatusCode, m
}

// publishedTLSA is the TLSA 3 1 1 data the box's own DNS serves for
// port 25, sorted.
func publishedTLSA(t *testing.T, b *Box) []string {
	t.Helper()
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(b.dig("dig", "+short", "TLSA", "_25._tcp.mail.example.test")), "\n") {
		if f := strings.Fields(l); len(f) >= 4 && f[0] == "3" && f[1] == "1" && f[2] == "1" {
			got = append(got, strings.ToLower(strings.Join(f[3:], "")))
		}
	}
	slices.Sort(got)
	return got
}

// TestTheAdminPanelStagesAnUploadedNewKey: the admin panel's upload
// goes through the same staging as 'tls install': a new key replacing
// one installed by hand is staged (the answer says when it switches),
// both TLSA records are served while the old key is, and "switch now"
// serves the new key and drops the old record.
func TestTheAdminPanelStagesAnUploadedNewKey(t *testing.T) {
	needTool(t, "dig")
	b := newBox(t)
	now := time.Now()
	c1, k1 := testutil.CertPEM(t, now.Add(-time.Hour), now.Add(90*24*time.Hour), "mail.example.test")
	if code, m := adminAPI(t, b, "POST", "/admin/api/tls", map[string]string{"cert": string(c1), "key": string(k1)}); code != 200 || m["Staged"] != nil {
		t.Fatalf("first upload (over the generated pair: at once): %d %v", code, m)
	}
	key1 := pemSPKI(t, c1)
	testutil.WaitFor(t, "the first pair served and published", 10*time.Second, func() bool {
		return spkiOn25(t, b) == key1 && slices.Equal(publishedTLSA(t, b), []string{key1})
	})
	c2, k2 := testutil.CertPEM(t, now.Add(-time.Hour), now.Add(90*24*time.Hour), "mail.example.test")
	key2 := pemSPKI(t, c2)
	code, m := adminAPI(t, b, "POST", "/admin/api/tls", map[string]string{"cert": string(c2), "key": string(k2)})
	if code != 200 || m["Staged"] == nil || !regexp.MustCompile(`^\d\d:\d\d UTC$`).MatchString(fmt.Sprint(m["SwitchAt"])) {
		t.Fatalf("second upload (a new key: staged): %d %v", code, m)
	}
	testutil.WaitFor(t, "both TLSA records published", 10*time.Second, func() bool {
		return slices.Equal(publishedTLSA(t, b), sorted(key1, key2))
	})
	if served := spkiOn25(t, b); served != key1 {
		t.Fatalf("the staged key is served at once: %s", served)
	}
	if code, m := adminAPI(t, b, "POST", "/admin/api/tls", map[string]bool{"switch": true}); code != 200 || m["Staged"] != nil {
		t.Fatalf("switch now: %d %v", code, m)
	}
	testutil.WaitFor(t, "the new key served, alone in the TLSA", 10*time.Second, func() bool {
		return spkiOn25(t, b) == key2 && slices.Equal(publishedTLSA(t, b), []string{key2})
	})
}
