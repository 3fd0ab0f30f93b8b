package test

// Moving contacts and calendars in from a live old server (issue 20):
// Debian's Radicale plays the old provider of 'migrate import --carddav
// --caldav' and the side-by-side peer of the python3-caldav scenario;
// khard and khal read what vdirsyncer synced from the box; cadaver
// speaks raw WebDAV to it.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"boxmail/internal/testutil"
)

// radicale is a Radicale server on a free loopback port with htpasswd
// (plain) auth for old@example.org and its storage in a temp dir.
type radicale struct {
	t          *testing.T
	URL        string // http://127.0.0.1:PORT/
	User, Pass string
	PassFile   string
	http       *davClient // the same test client as the box's, at Radicale's URL
}

func startRadicale(t *testing.T) *radicale {
	t.Helper()
	bin := needTool(t, "radicale")
	dir := t.TempDir()
	port := testutil.FreePort(t)
	r := &radicale{t: t, URL: fmt.Sprintf("http://127.0.0.1:%d/", port), User: "old@example.org", Pass: "old-provider-pw-9",
		PassFile: filepath.Join(dir, "password")}
	r.http = &davClient{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port), c: &http.Client{Timeout: 20 * time.Second}}
	files := map[string]string{
		"users":    r.User + ":" + r.Pass + "\n",
		"password": r.Pass + "\n",
		"config": fmt.Sprintf("[server]\nhosts = 127.0.0.1:%d\n[auth]\ntype = htpasswd\nhtpasswd_filename = %s\nhtpasswd_encryption = plain\n"+
			"[storage]\nfilesystem_folder = %s\n[rights]\ntype = owner_only\n[web]\ntype = none\n[logging]\nlevel = warning\n",
			port, filepath.Join(dir, "users"), filepath.Join(dir, "collections")),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var log syncBuffer
	cmd := exec.Command(bin, "--config", filepath.Join(dir, "config"))
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // the one process this test started
		<-exited
	})
	for deadline := time.Now().Add(15 * time.Second); ; {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("radicale exited:\n%s", log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("radicale did not listen on %d:\n%s", port, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return r
}

// do sends one request as the old user and returns the status and body.
func (r *radicale) do(method, path, body string, hdr ...string) (int, string) {
	r.t.Helper()
	code, b, _ := r.http.do(r.User, r.Pass, method, path, body, hdr...)
	return code, b
}

// must sends a request that must answer 2xx.
func (r *radicale) must(method, path, body string, hdr ...string) string {
	r.t.Helper()
	code, b := r.do(method, path, body, hdr...)
	if code/100 != 2 {
		r.t.Fatalf("radicale %s %s: %d %s", method, path, code, b)
	}
	return b
}

// makeCollections makes the old user's address book (name) and calendar
// (name) with display names.
func (r *radicale) makeCollections(book, bookDisplay, cal, calDisplay string) {
	r.t.Helper()
	home := "/" + r.User + "/"
	r.must("MKCOL", home+book+"/", `<?xml version="1.0"?><D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:set><D:prop>`+
		`<D:resourcetype><D:collection/><C:addressbook/></D:resourcetype><D:displayname>`+bookDisplay+`</D:displayname></D:prop></D:set></D:mkcol>`,
		"Content-Type", davXML)
	r.must("MKCALENDAR", home+cal+"/", `<?xml version="1.0"?><C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>`+
		`<D:displayname>`+calDisplay+`</D:displayname></D:prop></D:set></C:mkcalendar>`, "Content-Type", davXML)
}

// The old provider's objects: name -> content.
var (
	oldCards = map[string]string{
		"grandma.vcf": davCard,
		"uncle.vcf":   "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:uncle-2\r\nFN:Uncle Bob\r\nN:Bob;Uncle;;;\r\nEMAIL;TYPE=INTERNET:bob@old.example\r\nADR;TYPE=HOME:;;1 Main St;Springfield;;12345;USA\r\nNOTE:likes fishing\\, and golf\r\nEND:VCARD\r\n",
		"cousin.vcf":  "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:cousin-3@old.example\r\nFN:Cousin Åsa\r\nN:Åsa;Cousin;;;\r\nTEL;TYPE=CELL:+46 70 000 00 00\r\nBDAY:2001-02-03\r\nEND:VCARD\r\n",
	}
	oldEvents = map[string]string{
		"picnic.ics": "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//old//EN\r\nBEGIN:VEVENT\r\nUID:picnic-1\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260601T120000Z\r\nDTEND:20260601T150000Z\r\nSUMMARY:Picnic\r\nLOCATION:The park\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
		"piano.ics": "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//old//EN\r\nBEGIN:VEVENT\r\nUID:piano-2\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T160000Z\r\nDTEND:20260105T170000Z\r\nRRULE:FREQ=WEEKLY;COUNT=10\r\nSUMMARY:Piano lesson\r\nEND:VEVENT\r\n" +
			"BEGIN:VEVENT\r\nUID:piano-2\r\nRECURRENCE-ID:20260112T160000Z\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260112T170000Z\r\nDTEND:20260112T180000Z\r\nSUMMARY:Piano lesson (later)\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
		"dentist.ics": "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//old//EN\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\nEND:STANDARD\r\n" +
			"BEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n" +
			"BEGIN:VEVENT\r\nUID:dentist-3@old.example\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20260212T093000\r\nDTEND;TZID=Europe/Berlin:20260212T100000\r\nSUMMARY:Dentist\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
	}
)

// davLines is an object's content lines unfolded and sorted: equal for
// two servers that keep the same properties, whatever their order.
func davLines(s string) string {
	s = strings.NewReplacer("\r\n ", "", "\r\n\t", "", "\n ", "", "\n\t", "").Replace(strings.ReplaceAll(s, "\r\n", "\n"))
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "PRODID:") {
			lines = append(lines, l)
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestDAVMigrateImportFromRadicale: a live Radicale with an address book
// and a calendar is copied into the box from its bare URL (well-known,
// principal, home set): each object arrives under its old name with the
// same UID and content, in a collection keeping the old display name; a
// second run changes nothing; a change on the old side is one update;
// 'migrate status' shows the imports; a wrong password and a closed
// port fail in words.
func TestDAVMigrateImportFromRadicale(t *testing.T) {
	old := startRadicale(t)
	old.makeCollections("family", "Family", "home", "Home")
	for name, card := range oldCards {
		old.must("PUT", "/"+old.User+"/family/"+name, card, "Content-Type", "text/vcard")
	}
	for name, ev := range oldEvents {
		old.must("PUT", "/"+old.User+"/home/"+name, ev, "Content-Type", "text/calendar")
	}
	b := newBox(t)
	imp := func() string {
		t.Helper()
		return mustRun(t, "", "migrate", "import", b.Admin, "--dir", b.Dir, "--carddav", old.URL, "--caldav", old.URL,
			"--user", old.User, "--password-file", old.PassFile, "--insecure")
	}
	first := imp()
	if !strings.Contains(first, "contacts: 3 read, 3 new") || !strings.Contains(first, "calendar: 3 read, 3 new") {
		t.Fatalf("first import:\n%s", first)
	}
	c := newDAVClient(t, b, "127.0.0.1")
	same := func(home, col string, objs map[string]string) {
		t.Helper()
		for name := range objs {
			_, want := old.do("GET", "/"+old.User+"/"+col+"/"+name, "")
			code, got, _ := c.do(b.Admin, b.Password, "GET", "/dav/me@example.test/"+home+"/"+col+"/"+name, "")
			if code != http.StatusOK || davLines(got) != davLines(want) {
				t.Errorf("%s/%s: %d\nbox:\n%s\nold:\n%s", col, name, code, davLines(got), davLines(want))
			}
		}
	}
	same("contacts", "family", oldCards)
	same("calendars", "home", oldEvents)
	list := `<D:propfind xmlns:D="DAV:"><D:prop><D:displayname/></D:prop></D:propfind>`
	if code, body, _ := c.do(b.Admin, b.Password, "PROPFIND", "/dav/me@example.test/calendars/home/", list, "Content-Type", davXML, "Depth", "0"); code != http.StatusMultiStatus || !strings.Contains(body, ">Home<") {
		t.Errorf("the imported calendar's display name: %d %s", code, body)
	}

	second := imp()
	if !strings.Contains(second, "contacts: 3 read, 0 new, 0 changed, 3 unchanged") || !strings.Contains(second, "calendar: 3 read, 0 new, 0 changed, 3 unchanged") {
		t.Fatalf("second import:\n%s", second)
	}
	old.must("PUT", "/"+old.User+"/family/uncle.vcf", strings.Replace(oldCards["uncle.vcf"], "likes fishing", "likes sailing", 1), "Content-Type", "text/vcard")
	third := imp()
	if !strings.Contains(third, "contacts: 3 read, 0 new, 1 changed, 2 unchanged") || !strings.Contains(third, "calendar: 3 read, 0 new, 0 changed, 3 unchanged") {
		t.Fatalf("import after one change:\n%s", third)
	}
	if _, body, _ := c.do(b.Admin, b.Password, "GET", "/dav/me@example.test/contacts/family/uncle.vcf", ""); !strings.Contains(body, "likes sailing") {
		t.Errorf("the changed card: %s", body)
	}

	status := mustRun(t, "", "migrate", "status", "--dir", b.Dir, "--timeout", "300ms")
	for _, want := range []string{"me@example.test: contacts imported", "me@example.test: calendars imported", "from " + old.URL, "me@example.test: not imported"} {
		if !strings.Contains(status, want) {
			t.Errorf("migrate status lacks %q:\n%s", want, status)
		}
	}

	wrong := writeTemp(t, "not-the-password\n")
	_, errOut, code := b.Cmd("", "migrate", "import", b.Admin, "--carddav", old.URL, "--user", old.User, "--password-file", wrong, "--insecure")
	if code == 0 || !strings.Contains(errOut, "refused the login") || strings.Contains(errOut, "not-the-password") {
		t.Errorf("a wrong password: exit %d: %s", code, errOut)
	}
	closed := fmt.Sprintf("http://127.0.0.1:%d/", testutil.FreePort(t))
	if _, errOut, code := b.Cmd("", "migrate", "import", b.Admin, "--caldav", closed, "--user", old.User, "--password-file", old.PassFile, "--insecure"); code == 0 || !strings.Contains(errOut, "cannot reach the old server") {
		t.Errorf("a closed port: exit %d: %s", code, errOut)
	}
	if _, errOut, code := b.Cmd("", "migrate", "import", b.Admin, "--caldav", old.URL, "--user", old.User, "--password-file", old.PassFile); code == 0 || !strings.Contains(errOut, "--insecure") {
		t.Errorf("http:// without --insecure: exit %d: %s", code, errOut)
	}
}

// TestDAVCadaverSpeaksRawWebDAV: cadaver, a plain WebDAV client, lists
// the box's address book (PROPFIND), reads a card's properties, fetches
// it (GET) and stores another (PUT, which names no Content-Type) with
// the account's credentials from a .netrc.
func TestDAVCadaverSpeaksRawWebDAV(t *testing.T) {
	cadaver := needTool(t, "cadaver")
	b := newBox(t)
	c := newDAVClient(t, b, "127.0.0.1")
	if code, _, _ := c.do(b.Admin, b.Password, "PUT", "/dav/me@example.test/contacts/default/grandma-1.vcf", davCard, "Content-Type", "text/vcard"); code != http.StatusCreated {
		t.Fatalf("PUT: %d", code)
	}
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, ".netrc"), []byte("machine 127.0.0.1\nlogin "+b.Admin+"\npassword "+b.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got := filepath.Join(home, "got.vcf")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// cadaver asks whether to accept the box's self-signed certificate
	// only on a terminal: script(1) gives it one.
	script := needTool(t, "script")
	cmd := exec.CommandContext(ctx, script, "-q", "-e", "-c", fmt.Sprintf("%s https://127.0.0.1:%d/dav/me@example.test/contacts/default/", cadaver, b.HTTPS), "/dev/null")
	cmd.Dir, cmd.Env = home, append(os.Environ(), "HOME="+home)
	upload := filepath.Join(home, "cousin.vcf")
	if err := os.WriteFile(upload, []byte(strings.ReplaceAll(davCard, "grandma-1", "cousin-2")), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = strings.NewReader("y\nls\npropget grandma-1.vcf\nget grandma-1.vcf " + got + "\nput " + upload + " cousin-2.vcf\nquit\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cadaver: %v\n%s", err, out)
	}
	for _, want := range []string{"Listing collection `/dav/me@example.test/contacts/default/': succeeded", "grandma-1.vcf", "getetag", "UID:grandma-1"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("cadaver's output lacks %q:\n%s", want, out)
		}
	}
	if data, err := os.ReadFile(got); err != nil || davLines(string(data)) != davLines(davCard) {
		t.Errorf("the card cadaver fetched: %v\n%s", err, data)
	}
	if code, body, _ := c.do(b.Admin, b.Password, "GET", "/dav/me@example.test/contacts/default/cousin-2.vcf", ""); code != http.StatusOK || !strings.Contains(body, "UID:cousin-2") {
		t.Errorf("the card cadaver put: %d\n%s\ncadaver:\n%s", code, body, out)
	}
}

// TestDAVPythonCaldavSideBySideWithRadicale: the python3-caldav round
// trip of TestDAVPythonCaldavRoundTrip, against Radicale and against the
// box, gives the same steps.
func TestDAVPythonCaldavSideBySideWithRadicale(t *testing.T) {
	py := davPython(t)
	old := startRadicale(t)
	old.must("MKCALENDAR", "/"+old.User+"/default/", "")
	b := newBox(t)
	steps := func(url, user, pass string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		var out, errs strings.Builder // stderr: urllib3's warnings about the box's self-signed certificate
		cmd := exec.CommandContext(ctx, py, filepath.Join("clients", "dav_caldav.py"), url, user, pass)
		cmd.Stdout, cmd.Stderr = &out, &errs
		if err := cmd.Run(); err != nil {
			t.Fatalf("dav_caldav.py against %s: %v\n%s%s", url, err, out.String(), errs.String())
		}
		var keep []string
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			if !strings.HasPrefix(l, "principal ") && !strings.HasPrefix(l, "calendars ") { // the servers' own URLs
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	ref := steps(old.URL, old.User, old.Pass)
	box := steps(fmt.Sprintf("https://127.0.0.1:%d/dav/", b.HTTPS), b.Admin, b.Password)
	if ref != box || !strings.HasSuffix(box, "deleted") {
		t.Errorf("python3-caldav against Radicale:\n%s\nagainst the box:\n%s", ref, box)
	}
}

// TestDAVKhardKhalReadWhatVdirsyncerSynced: vdirsyncer copies the box's
// address book and calendar to local directories, which khard and khal
// then read: the card, a timed event, and a recurring event's moved
// occurrence.
func TestDAVKhardKhalReadWhatVdirsyncerSynced(t *testing.T) {
	vs := needTool(t, "vdirsyncer")
	khard := needTool(t, "khard")
	khal := needTool(t, "khal")
	b := newBox(t)
	c := newDAVClient(t, b, "127.0.0.1")
	if code, _, _ := c.do(b.Admin, b.Password, "PUT", "/dav/me@example.test/contacts/default/grandma-1.vcf", davCard, "Content-Type", "text/vcard"); code != http.StatusCreated {
		t.Fatalf("PUT a card: %d", code)
	}
	for _, name := range []string{"picnic.ics", "piano.ics"} {
		if code, _, _ := c.do(b.Admin, b.Password, "PUT", "/dav/me@example.test/calendars/default/"+name, oldEvents[name], "Content-Type", "text/calendar"); code != http.StatusCreated {
			t.Fatalf("PUT %s: %d", name, code)
		}
	}
	dir := t.TempDir()
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "[general]\nstatus_path = %q\n\n", filepath.Join(dir, "status"))
	for _, kind := range []struct{ name, typ, ext string }{{"contacts", "carddav", ".vcf"}, {"calendars", "caldav", ".ics"}} {
		fmt.Fprintf(&cfg, "[pair %s]\na = \"box_%s\"\nb = \"local_%s\"\ncollections = [\"from a\"]\n\n", kind.name, kind.name, kind.name)
		fmt.Fprintf(&cfg, "[storage box_%s]\ntype = %q\nurl = \"https://127.0.0.1:%d/\"\nusername = %q\npassword = %q\nverify_fingerprint = %q\n\n",
			kind.name, kind.typ, b.HTTPS, b.Admin, b.Password, certFingerprint(t, b.HTTPS))
		fmt.Fprintf(&cfg, "[storage local_%s]\ntype = \"filesystem\"\npath = %q\nfileext = %q\n\n", kind.name, filepath.Join(dir, kind.name), kind.ext)
	}
	tool := func(bin string, stdin string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Dir, cmd.Env = dir, append(os.Environ(), "HOME="+dir, "TZ=UTC")
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", bin, args, err, out)
		}
		return string(out)
	}
	files := map[string]string{
		"vdirsyncer.conf": cfg.String(),
		"khard.conf": "[addressbooks]\n[[family]]\npath = " + filepath.Join(dir, "contacts", "default") +
			"\n[general]\ndefault_action = list\neditor = /bin/true\nmerge_editor = /bin/true\n",
		"khal.conf": "[calendars]\n[[home]]\npath = " + filepath.Join(dir, "calendars", "default") + "\ntype = calendar\n" +
			"[locale]\nlocal_timezone = UTC\ndefault_timezone = UTC\ntimeformat = %H:%M\ndateformat = %Y-%m-%d\nlongdateformat = %Y-%m-%d\n" +
			"datetimeformat = %Y-%m-%d %H:%M\nlongdatetimeformat = %Y-%m-%d %H:%M\n[sqlite]\npath = " + filepath.Join(dir, "khal.db") + "\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "vdirsyncer.conf")
	tool(vs, strings.Repeat("y\n", 10), "-c", conf, "discover")
	tool(vs, "", "-c", conf, "sync")
	if out := tool(khard, "", "-c", filepath.Join(dir, "khard.conf"), "list"); !strings.Contains(out, "Grandma Rose") || !strings.Contains(out, "+1 555 0100") {
		t.Errorf("khard list:\n%s", out)
	}
	khalConf := filepath.Join(dir, "khal.conf")
	if out := tool(khal, "", "-c", khalConf, "list", "2026-06-01", "2026-06-02"); !strings.Contains(out, "12:00-15:00 Picnic") {
		t.Errorf("khal list on the picnic's day:\n%s", out)
	}
	if out := tool(khal, "", "-c", khalConf, "list", "2026-01-12", "2026-01-13"); !strings.Contains(out, "17:00-18:00 Piano lesson (later)") || strings.Contains(out, "16:00-17:00") {
		t.Errorf("khal list on the moved lesson's day:\n%s", out)
	}
	if out := tool(khal, "", "-c", khalConf, "list", "2026-01-19", "2026-01-20"); !strings.Contains(out, "16:00-17:00 Piano lesson") {
		t.Errorf("khal list on a regular lesson's day:\n%s", out)
	}
}
