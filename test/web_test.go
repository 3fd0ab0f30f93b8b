package test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"image"
	"image/png"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMailClientsConfigureThemselvesFromTheBox: Thunderbird's autoconfig
// (plain HTTP, autoconfig.DOMAIN) and Outlook's autodiscover (HTTPS POST)
// as a Python client parses them; every server entry must be a real
// listener of the box that answers with the protocol and TLS it claims.
func TestMailClientsConfigureThemselvesFromTheBox(t *testing.T) {
	b := newBox(t)
	out, err := b.Python("autoconfig.py", strconv.Itoa(b.HTTP), strconv.Itoa(b.HTTPS), "me@example.test")
	if err != nil {
		t.Fatalf("autoconfig.py: %v\n%s", err, out)
	}
	listeners := map[int]string{b.IMAPS: "imap SSL", b.IMAP: "imap STARTTLS", b.Submissions: "smtp SSL", b.Submission: "smtp STARTTLS",
		b.POP3S: "pop3 SSL", b.POP3: "pop3 STARTTLS"}
	seen := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line) // SOURCE TYPE HOST PORT SOCKET USERNAME
		if len(f) != 6 {
			t.Fatalf("bad line %q", line)
		}
		seen[f[0]]++
		port, _ := strconv.Atoi(f[3])
		if f[2] != "mail.example.test" || f[5] != "me@example.test" {
			t.Errorf("%s: host or username wrong", line)
		}
		if listeners[port] != f[1]+" "+f[4] {
			t.Errorf("%s: port %d is %q on the box", line, port, listeners[port])
			continue
		}
		greeting := dialGreeting(t, port, f[4] == "SSL")
		if want := map[string]string{"imap": "* OK", "smtp": "220", "pop3": "+OK"}[f[1]]; !strings.HasPrefix(greeting, want) {
			t.Errorf("%s: greeting %q", line, greeting)
		}
	}
	if seen["autoconfig"] != 6 || seen["autodiscover"] != 2 {
		t.Errorf("servers listed: %v\n%s", seen, out)
	}
}

func dialGreeting(t *testing.T, port int, implicitTLS bool) string {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var c net.Conn
	var err error
	if implicitTLS {
		c, err = tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	} else {
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
	}
	if err != nil {
		t.Errorf("dial %s: %v", addr, err)
		return ""
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 256)
	n, _ := c.Read(buf)
	return string(buf[:n])
}

// TestPlainHTTPRedirectsExceptWhatMustAnswerOnIt, and the MTA-STS policy
// names the box.
func TestPlainHTTPRedirectsExceptWhatMustAnswerOnIt(t *testing.T) {
	b := newBox(t)
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	res, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/admin?x=1", b.HTTP))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("https://127.0.0.1:%d/admin?x=1", b.HTTPS); res.StatusCode != 301 || res.Header.Get("Location") != want {
		t.Errorf("plain /admin: %s %q, want 301 to %s", res.Status, res.Header.Get("Location"), want)
	}
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/.well-known/autoconfig/mail/config-v1.1.xml", b.HTTP), nil)
	req.Host = "autoconfig.example.test"
	if res, err := c.Do(req); err != nil || res.StatusCode != 200 {
		t.Errorf("autoconfig over plain HTTP: %v %v", res.Status, err)
	}
	req, _ = http.NewRequest("GET", fmt.Sprintf("https://127.0.0.1:%d/.well-known/mta-sts.txt", b.HTTPS), nil)
	req.Host = "mta-sts.example.test"
	res, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(res.Body)
	// The test box's certificate is self-signed: testing, not enforce.
	if want := "version: STSv1\r\nmode: testing\r\nmx: mail.example.test\r\n"; !strings.HasPrefix(body.String(), want) {
		t.Errorf("MTA-STS policy:\n%s", body.String())
	}
}

// TestInABrowser: the admin adds a user and an alias and looks at the
// DNS records; the new user changes their password; anyone fills in the
// set-up page. Headless Chromium through chromedriver, with a screenshot
// of each page checked for content.
func TestInABrowser(t *testing.T) {
	b := newBox(t)
	br := newBrowser(t)
	base := fmt.Sprintf("https://127.0.0.1:%d", b.HTTPS)
	shots := t.TempDir()
	if d := os.Getenv("WEB_SCREENSHOTS"); d != "" {
		shots = d
	}
	shot := func(name, css string) {
		t.Helper()
		data := br.Screenshot(filepath.Join(shots, name+".png"))
		checkNotBlank(t, name, data, br.Rect(css))
	}
	login := func(email, pw string) {
		t.Helper()
		br.Type("#email", email)
		br.Type("#password", pw)
		br.Click("#login-button")
	}
	flash := func(want string) {
		t.Helper()
		if got := br.WaitText(".flash", want); !strings.Contains(got, want) {
			t.Errorf("message %q, want %q (page %s)", got, want, br.URL())
		}
	}

	br.Go(base + "/admin")
	if !strings.Contains(br.URL(), "/login?next=%2Fadmin") {
		t.Fatalf("not sent to the login page: %s", br.URL())
	}
	shot("login", "#login-form")
	login(b.Admin, b.Password)
	if !strings.HasSuffix(br.WaitURL("/admin/users"), "/admin/users") {
		t.Fatalf("after admin login: %s\n%s", br.URL(), br.Text("main"))
	}
	br.Type("#new-email", "grandma@example.test")
	br.Type("#new-password", "knitting-2024")
	br.Type("#new-password2", "knitting-2024")
	br.Click("#add-user-button")
	flash("Added grandma@example.test")
	if !strings.Contains(br.Text("#users"), "grandma@example.test") {
		t.Error("grandma not in the user list")
	}
	shot("users", "#users")

	br.Go(base + "/admin/aliases")
	br.Type("#alias-address", "grandkids@example.test")
	br.Type("#alias-targets", "grandma@example.test, me@example.test")
	br.Click("#add-alias-button")
	flash("Added alias grandkids@example.test")
	if tx := br.Text("#aliases"); !strings.Contains(tx, "grandkids@example.test") || !strings.Contains(tx, "postmaster@example.test") {
		t.Errorf("alias list:\n%s", tx)
	}
	shot("aliases", "#aliases")

	br.Go(base + "/admin/dns")
	if tx := br.Text("main"); !strings.Contains(tx, "_mta-sts") || !strings.Contains(tx, "10 mail.example.test.") {
		t.Errorf("External DNS page:\n%s", tx)
	}
	shot("dns", "table.dns")
	br.Click("#logout")
	if !strings.HasSuffix(br.WaitURL("/login"), "/login") {
		t.Errorf("after logout: %s", br.URL())
	}
	br.Go(base + "/admin/users")
	if !strings.Contains(br.URL(), "/login") {
		t.Errorf("admin page reachable after logout: %s", br.URL())
	}

	// Grandma logs in on the page the admin left: she is told it is not for her.
	login("grandma@example.test", "knitting-2024")
	if tx := br.WaitText("main", "is not one"); !strings.Contains(tx, "is not one") {
		t.Errorf("a user sees the admin page:\n%s", tx)
	}
	br.Go(base + "/account")
	br.Type("#current", "knitting-2024")
	br.Type("#new-password", "crochet-2025!")
	br.Type("#new-password2", "crochet-2025!")
	br.Click("#passwd-button")
	flash("Your password is changed")
	shot("account", "#passwd-form")
	if _, _, code := b.Cmd("", "user", "list"); code != 0 {
		t.Error("user list failed")
	}

	br.Go(base + "/setup")
	if got := br.Text("#in-server"); got != "mail.example.test" {
		t.Errorf("setup defaults to server %q", got)
	}
	br.Type("#domain", "family.example")
	br.Type("#server", "box.family.example")
	if got := br.Text("#in-server"); got != "box.family.example" {
		t.Errorf("table not filled while typing: %q", got)
	}
	if u := br.URL(); !strings.HasSuffix(u, "/setup?domain=family.example&server=box.family.example") {
		t.Errorf("address bar: %s", u)
	}
	br.Go(base + "/setup?domain=family.example&server=box.family.example") // what the form's GET loads without JavaScript
	if got, want := br.WaitText("#in-port", strconv.Itoa(b.IMAPS)), strconv.Itoa(b.IMAPS); got != want {
		t.Errorf("IMAP port %q, want %s", got, want)
	}
	if got := br.Text("#out-security"); !strings.HasPrefix(got, "STARTTLS") {
		t.Errorf("SMTP security %q", got)
	}
	shot("setup", "#settings") // a shared link: the compact settings table (web_setup_test.go)
}

// checkNotBlank fails when the screenshot is one flat colour, or when the
// element that must be there has no size or no ink inside its box.
func checkNotBlank(t *testing.T, name string, data []byte, r rect) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if r.Width < 100 || r.Height < 40 {
		t.Errorf("%s: element is %.0fx%.0f", name, r.Width, r.Height)
	}
	box := image.Rect(int(r.X), int(r.Y), int(r.X+r.Width), int(r.Y+r.Height)).Intersect(img.Bounds())
	colours := map[uint32]bool{}
	dark := 0
	for y := box.Min.Y; y < box.Max.Y; y += 2 {
		for x := box.Min.X; x < box.Max.X; x += 2 {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			colours[cr>>12<<8|cg>>12<<4|cb>>12] = true
			if cr+cg+cb < 3*0x8000 {
				dark++
			}
		}
	}
	if len(colours) < 3 || dark < 20 {
		t.Errorf("%s: the element's area looks blank (%d colours, %d dark pixels)", name, len(colours), dark)
	}
}
