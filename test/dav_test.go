package test

// Contacts and calendars (CardDAV/CalDAV, issue 20) against the real
// binary: discovery and the protocol spoken with Go's net/http (the
// contract other tests rely on), Debian's python3-caldav and vdirsyncer
// as real clients, hostile requests, the shared login lockout, and
// 'migrate import --vcf/--ics'.

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// davClient speaks HTTP to the box's HTTPS port from a loopback source
// address (a test of the lockout uses its own).
type davClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newDAVClient(t *testing.T, b *Box, source string) *davClient {
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}}
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DialContext: d.DialContext}
	return &davClient{t: t, base: fmt.Sprintf("https://127.0.0.1:%d", b.HTTPS), c: &http.Client{Timeout: 20 * time.Second, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends one request (user "": no credentials; hdr: name, value...)
// and returns the status, the body and the headers.
func (d *davClient) do(user, pass, method, path, body string, hdr ...string) (int, string, http.Header) {
	d.t.Helper()
	req, err := http.NewRequest(method, d.base+path, strings.NewReader(body))
	if err != nil {
		d.t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := d.c.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		d.t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

const (
	davXML  = "application/xml"
	davCard = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:grandma-1\r\nFN:Grandma Rose\r\nN:Rose;Grandma;;;\r\nTEL:+1 555 0100\r\nEND:VCARD\r\n"
)

// TestDAVDiscoveryAndTheProtocolOverHTTPS is the contract: the
// well-known names redirect to the DAV root, PROPFIND with Basic auth
// answers current-user-principal, the principal's home sets list a
// default address book and calendar; then ETags, another account's
// collections and hostile input.
func TestDAVDiscoveryAndTheProtocolOverHTTPS(t *testing.T) {
	b := newBox(t)
	mustRun(t, "", "user", "add", "kid@example.test", "--dir", b.Dir, "--password-file", writeTemp(t, "kid-password-77"))
	c := newDAVClient(t, b, "127.0.0.1")
	me, pw := b.Admin, b.Password
	for _, wk := range []string{"/.well-known/carddav", "/.well-known/caldav"} {
		code, _, h := c.do("", "", "PROPFIND", wk, "")
		if (code != 301 && code != 307 && code != 308) || h.Get("Location") != "/dav/" {
			t.Errorf("%s: %d to %q", wk, code, h.Get("Location"))
		}
	}
	if code, _, h := c.do("", "", "PROPFIND", "/dav/", ""); code != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic") {
		t.Fatalf("no credentials: %d %q", code, h.Get("WWW-Authenticate"))
	}
	pf := `<D:propfind xmlns:D="DAV:" xmlns:A="urn:ietf:params:xml:ns:carddav" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:current-user-principal/><A:addressbook-home-set/><C:calendar-home-set/></D:prop></D:propfind>`
	code, body, _ := c.do(me, pw, "PROPFIND", "/dav/", pf, "Content-Type", davXML, "Depth", "0")
	if code != http.StatusMultiStatus || !strings.Contains(body, "/dav/me@example.test/") {
		t.Fatalf("PROPFIND /dav/: %d %s", code, body)
	}
	code, body, _ = c.do(me, pw, "PROPFIND", "/dav/me@example.test/", pf, "Content-Type", davXML, "Depth", "0")
	if code != http.StatusMultiStatus || !strings.Contains(body, "/dav/me@example.test/contacts/") || !strings.Contains(body, "/dav/me@example.test/calendars/") {
		t.Fatalf("PROPFIND the principal: %d %s", code, body)
	}
	list := `<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:displayname/></D:prop></D:propfind>`
	for _, home := range []string{"contacts", "calendars"} {
		code, body, _ = c.do(me, pw, "PROPFIND", "/dav/me@example.test/"+home+"/", list, "Content-Type", davXML, "Depth", "1")
		if code != http.StatusMultiStatus || !strings.Contains(body, "/dav/me@example.test/"+home+"/default/") {
			t.Errorf("the default collection of %s: %d %s", home, code, body)
		}
	}

	card := "/dav/me@example.test/contacts/default/grandma-1.vcf"
	code, _, h := c.do(me, pw, "PUT", card, davCard, "Content-Type", "text/vcard", "If-None-Match", "*")
	if code != http.StatusCreated || h.Get("ETag") == "" {
		t.Fatalf("PUT a vCard: %d %q", code, h.Get("ETag"))
	}
	etag := h.Get("ETag")
	if code, _, _ := c.do(me, pw, "PUT", card, davCard, "Content-Type", "text/vcard", "If-Match", `"stale"`); code != http.StatusPreconditionFailed {
		t.Errorf("PUT with a stale ETag: %d", code)
	}
	if code, body, h := c.do(me, pw, "GET", card, ""); code != http.StatusOK || h.Get("ETag") != etag || !strings.Contains(body, "Grandma Rose") {
		t.Errorf("GET: %d %q %s", code, h.Get("ETag"), body)
	}

	// Another account's collections are not there for me, nor mine for it.
	for _, m := range []string{"PROPFIND", "GET", "PUT", "DELETE", "REPORT"} {
		if code, _, _ := c.do("kid@example.test", "kid-password-77", m, card, davCard, "Content-Type", "text/vcard"); code != http.StatusNotFound {
			t.Errorf("%s on my card as kid: %d", m, code)
		}
	}
	if code, _, _ := c.do(me, pw, "GET", card, ""); code != http.StatusOK {
		t.Errorf("my card after kid's tries: %d", code)
	}

	// Hostile input: oversized, malformed, names that climb.
	big := strings.Replace(davCard, "FN:Grandma Rose", "FN:"+strings.Repeat("x", 2<<20), 1)
	if code, _, _ := c.do(me, pw, "PUT", "/dav/me@example.test/contacts/default/big.vcf", big, "Content-Type", "text/vcard"); code != http.StatusRequestEntityTooLarge {
		t.Errorf("a 2 MiB vCard: %d", code)
	}
	if code, body, _ := c.do(me, pw, "PUT", "/dav/me@example.test/contacts/default/bad.vcf", "BEGIN:VCARD\r\nFN:no end\r\n", "Content-Type", "text/vcard"); code != http.StatusBadRequest {
		t.Errorf("a malformed vCard: %d %s", code, body)
	}
	if code, _, _ := c.do(me, pw, "PUT", "/dav/me@example.test/calendars/default/bad.ics", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nSUMMARY:no uid\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", "Content-Type", "text/calendar"); code != http.StatusBadRequest {
		t.Errorf("an event without UID: %d", code)
	}
	for _, p := range []string{
		"/dav/me@example.test/contacts/default/..%2F..%2Fkid@example.test%2Fcontacts%2Fdefault%2Fx.vcf",
		"/dav/me@example.test/contacts/default/%2e%2e",
		"/dav/kid@example.test/contacts/default/x.vcf",
		"/dav/me@example.test/contacts/default/sub/x.vcf",
	} {
		if code, _, _ := c.do(me, pw, "PUT", p, davCard, "Content-Type", "text/vcard"); code < 400 || code >= 500 {
			t.Errorf("PUT %s: %d", p, code)
		}
	}
	if code, _, _ := c.do("kid@example.test", "kid-password-77", "PROPFIND", "/dav/kid@example.test/contacts/", list, "Content-Type", davXML, "Depth", "1"); code != http.StatusMultiStatus {
		t.Errorf("kid's own address books: %d", code)
	}
	// Discovery from a bare domain name (RFC 6764): SRV and TXT records.
	zone := strings.Join(strings.Fields(mustRun(t, "", "dns", "records", "--format", "zone", "--dir", b.Dir)), " ")
	for _, want := range []string{
		fmt.Sprintf("_carddavs._tcp.example.test. 3600 IN SRV 0 1 %d mail.example.test.", b.HTTPS),
		fmt.Sprintf("_caldavs._tcp.example.test. 3600 IN SRV 0 1 %d mail.example.test.", b.HTTPS),
		`_carddavs._tcp.example.test. 3600 IN TXT "path=/dav/"`,
		`_caldavs._tcp.example.test. 3600 IN TXT "path=/dav/"`,
	} {
		if !strings.Contains(zone, want) {
			t.Errorf("dns records lack %s", want)
		}
	}
	if strings.Contains(b.stderr.String(), pw) || strings.Contains(b.stderr.String(), "kid-password-77") {
		t.Error("a password is in the log")
	}
}

// TestDAVWrongPasswordsCountTowardsTheSharedLockout: failed DAV logins
// block the client's network for IMAP too, and the right password is
// then refused from there while another address still logs in.
func TestDAVWrongPasswordsCountTowardsTheSharedLockout(t *testing.T) {
	b := newBoxWith(t, map[string]string{"auth_max_failures": "3", "auth_failure_delay": "10ms"})
	bad := newDAVClient(t, b, "127.0.0.3")
	for i := range 3 {
		if code, _, _ := bad.do(b.Admin, fmt.Sprintf("wrong-%d", i), "PROPFIND", "/dav/", ""); code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d", i, code)
		}
	}
	if code, _, _ := bad.do(b.Admin, b.Password, "PROPFIND", "/dav/", "", "Depth", "0"); code != http.StatusUnauthorized {
		t.Errorf("the right password from a blocked network: %d", code)
	}
	out, err := b.Python("login_attempts.py", "imap", "127.0.0.3", "127.0.0.1", strconv.Itoa(b.IMAP), b.Admin, b.Password, "0")
	if err == nil {
		t.Errorf("IMAP from the network DAV failures blocked logged in:\n%s", out)
	}
	good := newDAVClient(t, b, "127.0.0.1")
	if code, _, _ := good.do(b.Admin, b.Password, "PROPFIND", "/dav/", "", "Depth", "0"); code != http.StatusMultiStatus {
		t.Errorf("the right password from another address: %d", code)
	}
}

// davPython returns a python3 that has Debian's caldav module.
func davPython(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if p, err := exec.LookPath(py); err == nil && exec.Command(p, "-c", "import caldav").Run() == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("python3-caldav is required in CI but not installed")
	}
	t.Skip("python3-caldav not installed")
	return ""
}

// TestDAVPythonCaldavRoundTrip: Debian's python3-caldav discovers the
// calendars from the bare server URL, creates, finds by time range,
// updates and deletes an event, and makes a calendar.
func TestDAVPythonCaldavRoundTrip(t *testing.T) {
	py := davPython(t)
	b := newBox(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	url := fmt.Sprintf("https://127.0.0.1:%d/dav/", b.HTTPS)
	out, err := exec.CommandContext(ctx, py, filepath.Join("clients", "dav_caldav.py"), url, b.Admin, b.Password).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "deleted") {
		t.Fatalf("dav_caldav.py: %v\n%s", err, out)
	}
}

// TestDAVVdirsyncerSyncsBothWays: vdirsyncer pairs the box's address
// book and calendar with local directories, discovered from the bare
// server URL (well-known); a card made on either side reaches the other,
// and a deletion on the box reaches the local side.
func TestDAVVdirsyncerSyncsBothWays(t *testing.T) {
	vs := needTool(t, "vdirsyncer")
	b := newBox(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "config")
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "[general]\nstatus_path = %q\n\n", filepath.Join(dir, "status"))
	for _, kind := range []struct{ name, typ, ext string }{{"contacts", "carddav", ".vcf"}, {"calendars", "caldav", ".ics"}} {
		fmt.Fprintf(&cfg, "[pair %s]\na = \"box_%s\"\nb = \"local_%s\"\ncollections = [\"from a\"]\n\n", kind.name, kind.name, kind.name)
		fmt.Fprintf(&cfg, "[storage box_%s]\ntype = %q\nurl = \"https://127.0.0.1:%d/\"\nusername = %q\npassword = %q\nverify_fingerprint = %q\n\n",
			kind.name, kind.typ, b.HTTPS, b.Admin, b.Password, certFingerprint(t, b.HTTPS))
		fmt.Fprintf(&cfg, "[storage local_%s]\ntype = \"filesystem\"\npath = %q\nfileext = %q\n\n", kind.name, filepath.Join(dir, kind.name), kind.ext)
	}
	if err := os.WriteFile(conf, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	vdir := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, vs, append([]string{"-c", conf}, args...)...)
		cmd.Stdin = strings.NewReader(strings.Repeat("y\n", 10))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("vdirsyncer %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	vdir("discover")
	vdir("sync")
	local := filepath.Join(dir, "contacts", "default")
	if err := os.WriteFile(filepath.Join(local, "aunt-1.vcf"), []byte(strings.NewReplacer("grandma-1", "aunt-1", "Grandma Rose", "Aunt May").Replace(davCard)), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newDAVClient(t, b, "127.0.0.1")
	if code, _, _ := c.do(b.Admin, b.Password, "PUT", "/dav/me@example.test/contacts/default/grandma-1.vcf", davCard, "Content-Type", "text/vcard"); code != http.StatusCreated {
		t.Fatalf("PUT on the box: %d", code)
	}
	event := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:picnic-1\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260601T120000Z\r\nSUMMARY:Picnic\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
	if code, _, _ := c.do(b.Admin, b.Password, "PUT", "/dav/me@example.test/calendars/default/picnic-1.ics", event, "Content-Type", "text/calendar"); code != http.StatusCreated {
		t.Fatalf("PUT an event on the box: %d", code)
	}
	vdir("sync")
	if code, body, _ := c.do(b.Admin, b.Password, "PROPFIND", "/dav/me@example.test/contacts/default/", `<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>`, "Content-Type", davXML, "Depth", "1"); code != http.StatusMultiStatus || !strings.Contains(body, "aunt-1") {
		t.Errorf("the box after sync: %d %s", code, body)
	}
	if got := filesIn(t, local); !strings.Contains(got, "Grandma Rose") {
		t.Errorf("the box's card did not reach the local side: %s", got)
	}
	if got := filesIn(t, filepath.Join(dir, "calendars", "default")); !strings.Contains(got, "Picnic") {
		t.Errorf("the box's event did not reach the local side: %s", got)
	}
	if code, _, _ := c.do(b.Admin, b.Password, "DELETE", "/dav/me@example.test/contacts/default/grandma-1.vcf", ""); code != http.StatusNoContent {
		t.Fatalf("DELETE on the box: %d", code)
	}
	vdir("sync")
	if got := filesIn(t, local); strings.Contains(got, "Grandma Rose") || !strings.Contains(got, "Aunt May") {
		t.Errorf("after a deletion on the box, the local side has: %s", got)
	}
}

// filesIn returns the contents of the files of a directory, joined.
func filesIn(t *testing.T, dir string) string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, e := range es {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
	}
	return all.String()
}

// TestDAVMigrateImportVCFAndICSIsIdempotent: 'migrate import --vcf
// --ics' beside a running box, twice, leaves the same objects, which a
// client then reads.
func TestDAVMigrateImportVCFAndICSIsIdempotent(t *testing.T) {
	b := newBox(t)
	vcf := writeTemp(t, davCard+strings.ReplaceAll(strings.ReplaceAll(davCard, "grandma-1", "uncle-2"), "Grandma Rose", "Uncle Bob"))
	ics := writeTemp(t, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//old//EN\r\nMETHOD:PUBLISH\r\n"+
		"BEGIN:VEVENT\r\nUID:a@old\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260301T100000Z\r\nSUMMARY:One\r\nEND:VEVENT\r\n"+
		"BEGIN:VEVENT\r\nUID:b@old\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260302T100000Z\r\nSUMMARY:Two\r\nEND:VEVENT\r\n"+
		"BEGIN:VEVENT\r\nUID:b@old\r\nRECURRENCE-ID:20260302T100000Z\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260302T110000Z\r\nSUMMARY:Two moved\r\nEND:VEVENT\r\n"+
		"END:VCALENDAR\r\n")
	first := mustRun(t, "", "migrate", "import", b.Admin, "--dir", b.Dir, "--vcf", vcf, "--ics", ics)
	if !strings.Contains(first, "contacts: 2 read, 2 new") || !strings.Contains(first, "calendar: 2 read, 2 new") {
		t.Fatalf("first import:\n%s", first)
	}
	second := mustRun(t, "", "migrate", "import", b.Admin, "--dir", b.Dir, "--vcf", vcf, "--ics", ics)
	if !strings.Contains(second, "contacts: 2 read, 0 new, 0 changed, 2 unchanged") || !strings.Contains(second, "calendar: 2 read, 0 new, 0 changed, 2 unchanged") {
		t.Fatalf("second import:\n%s", second)
	}
	c := newDAVClient(t, b, "127.0.0.1")
	code, body, _ := c.do(b.Admin, b.Password, "GET", "/dav/me@example.test/calendars/default/b@old.ics", "")
	if code != http.StatusOK || !strings.Contains(body, "Two moved") || strings.Contains(body, "METHOD") {
		t.Errorf("the imported recurring event: %d %s", code, body)
	}
	if _, errOut, code := b.Cmd("", "migrate", "import", b.Admin, "--dir", b.Dir, "--vcf", writeTemp(t, "not a vcard")); code == 0 {
		t.Errorf("a malformed .vcf imported: %s", errOut)
	}
}

// certFingerprint is the SHA-256 fingerprint (AA:BB:...) of the
// certificate the box's HTTPS port serves (self-signed in tests).
func certFingerprint(t *testing.T, port int) string {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sum := sha256.Sum256(c.ConnectionState().PeerCertificates[0].Raw)
	hexes := make([]string, len(sum))
	for i, x := range sum {
		hexes[i] = fmt.Sprintf("%02X", x)
	}
	return strings.Join(hexes, ":")
}
