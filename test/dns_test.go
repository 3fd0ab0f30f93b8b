package test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"boxmail/internal/testutil"
)

// dig runs dig or kdig against the box's DNS port.
func (b *Box) dig(tool string, args ...string) string {
	b.t.Helper()
	bin := needTool(b.t, tool)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append([]string{"@" + b.Host(), "-p", strconv.Itoa(b.DNS), "+norecurse", "+timeout=2", "+retry=1"}, args...)...).CombinedOutput()
	if err != nil {
		b.t.Fatalf("%s %v: %v\n%s", tool, args, err, out)
	}
	return string(out)
}

func soaSerial(t *testing.T, b *Box) int {
	t.Helper()
	out := b.dig("dig", "+short", "SOA", "example.test")
	f := strings.Fields(out)
	if len(f) < 3 {
		t.Fatalf("SOA: %q", out)
	}
	n, _ := strconv.Atoi(f[2])
	return n
}

func TestTheBoxServesItsDNSToDigAndKdig(t *testing.T) {
	b := newBox(t)
	dkim := mustRun(t, "", "dkim", "show", "example.test", "--dir", b.Dir)
	key := regexp.MustCompile(`p=([A-Za-z0-9+/=]+)`).FindStringSubmatch(dkim)[1]
	for _, tool := range []string{"dig", "kdig"} {
		for _, proto := range []string{"+notcp", "+tcp"} {
			for _, c := range []struct {
				args []string
				want []string
			}{
				{[]string{"MX", "Example.TEST"}, []string{"status: NOERROR", " aa", "10 mail.example.test."}},
				{[]string{"TXT", "example.test"}, []string{" aa", `"v=spf1 mx -all"`}},
				{[]string{"TXT", "mail._domainkey.example.test"}, []string{" aa", "v=DKIM1; k=rsa; p=" + key[:100]}},
				{[]string{"TXT", "mail.example.test"}, []string{" aa", "v=spf1"}},
				{[]string{"SRV", "_submissions._tcp.example.test"}, []string{" aa", fmt.Sprintf("0 1 %d mail.example.test.", b.Submissions)}},
				{[]string{"A", "nothing.example.test"}, []string{"status: NXDOMAIN", " aa", "SOA"}},
				{[]string{"MX", "_dmarc.example.test"}, []string{"status: NOERROR", " aa", "ANSWER: 0", "SOA"}},
				{[]string{"A", "example.com"}, []string{"status: REFUSED"}},
			} {
				out := b.dig(tool, append([]string{proto}, c.args...)...)
				for _, w := range c.want {
					if !strings.Contains(out, w) {
						t.Errorf("%s %s %v: no %q in\n%s", tool, proto, c.args, w, out)
					}
				}
			}
		}
	}
	// The whole DKIM key, reassembled from its 255-byte strings.
	out := b.dig("dig", "+short", "TXT", "mail._domainkey.example.test")
	if got := strings.ReplaceAll(strings.ReplaceAll(strings.TrimSpace(out), `" "`, ""), `"`, ""); !strings.HasSuffix(got, key) {
		t.Errorf("DKIM over DNS %q, want the key %s", got, key)
	}

	// Changes show at once, with a higher serial: a custom record, a big
	// TXT record that needs TCP, a new domain.
	s1 := soaSerial(t, b)
	mustRun(t, "", "dns", "set", "www.example.test", "A", "192.0.2.80", "--dir", b.Dir)
	big := strings.Repeat("abcdefghij", 200)
	mustRun(t, "", "dns", "set", "big.example.test", "TXT", big, "--dir", b.Dir)
	mustRun(t, "", "domain", "add", "family.test", "--dir", b.Dir)
	testutil.WaitFor(t, "the changes to be served", 5*time.Second, func() bool {
		return soaSerial(t, b) > s1 && strings.Contains(b.dig("dig", "+short", "MX", "family.test"), "mail.example.test")
	})
	if out := b.dig("kdig", "+short", "A", "www.example.test"); strings.TrimSpace(out) != "192.0.2.80" {
		t.Errorf("custom A: %q", out)
	}
	// Over UDP the big record is truncated, dig retries over TCP.
	out = b.dig("dig", "+notcp", "+ignore", "TXT", "big.example.test")
	if !strings.Contains(out, " tc") {
		t.Errorf("2000-byte TXT over UDP not truncated:\n%s", out)
	}
	out = b.dig("dig", "+short", "TXT", "big.example.test")
	if got := strings.ReplaceAll(strings.ReplaceAll(strings.TrimSpace(out), `" "`, ""), `"`, ""); got != big {
		t.Errorf("big TXT via TCP fallback: %d bytes", len(got))
	}
	if out := b.dig("kdig", "+tcp", "TXT", "big.example.test"); !strings.Contains(out, "NOERROR") || strings.Contains(out, " tc") {
		t.Errorf("kdig over TCP:\n%s", out)
	}
	s2 := soaSerial(t, b)
	mustRun(t, "", "dns", "unset", "www.example.test", "A", "--dir", b.Dir)
	// (The serial also moves for other reasons, the zone's first DNSSEC
	// keys among them: wait for the record to go, then check the serial.)
	testutil.WaitFor(t, "the unset to be served", 5*time.Second, func() bool {
		return strings.Contains(b.dig("dig", "A", "www.example.test"), "NXDOMAIN")
	})
	if s3 := soaSerial(t, b); s3 <= s2 {
		t.Errorf("the serial did not grow with the unset: %d then %d", s2, s3)
	}
}

func TestDNSRecordsAsTableZoneFileAndJSON(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	mustRun(t, "", "init", "--dir", dir, "--hostname", "box.example.net", "--domain", "example.net", "--admin", "admin@example.net")
	conf := filepath.Join(dir, "boxmail.conf")
	c, _ := os.ReadFile(conf)
	s := regexp.MustCompile(`(?m)^public_ipv4 = .*$`).ReplaceAllString(string(c), "public_ipv4 = 198.51.100.7")
	s = regexp.MustCompile(`(?m)^public_ipv6 = .*$`).ReplaceAllString(s, "public_ipv6 = 2001:db8::7")
	os.WriteFile(conf, []byte(s), 0o600)
	mustRun(t, "", "domain", "add", "family.example", "--dir", dir)
	mustRun(t, "", "dns", "set", "www.example.net", "CNAME", "example.github.io", "--dir", dir)
	mustRun(t, "", "dns", "set", "example.net", "TXT", "google-site-verification=abc", "--dir", dir)

	table := mustRun(t, "", "dns", "records", "example.net", "--dir", dir)
	for _, want := range []string{"mail._domainkey  ", "_dmarc ", "box  ", "v=DKIM1; k=rsa; p=", "v=spf1 ip4:198.51.100.7 ip6:2001:db8::7 -all", "# DKIM public key", "www ", "CNAME", "example.github.io.", "google-site-verification=abc"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, "mail._domainkey.example.net") || strings.Contains(table, "family.example") {
		t.Errorf("table names not relative or other zone shown:\n%s", table)
	}

	zone := mustRun(t, "", "dns", "records", "--format", "zone", "--dir", dir)
	for _, z := range []string{"example.net", "family.example"} {
		// One file per zone, as a name server loads it.
		var part strings.Builder
		in := false
		for _, l := range strings.SplitAfter(zone, "\n") {
			if strings.HasPrefix(l, "$ORIGIN ") {
				in = l == "$ORIGIN "+z+".\n"
			}
			if in {
				part.WriteString(l)
			}
		}
		f := filepath.Join(t.TempDir(), z+".zone")
		os.WriteFile(f, []byte(part.String()), 0o644)
		checked := false
		if p, err := exec.LookPath("named-checkzone"); err == nil {
			out, err := exec.Command(p, "-k", "fail", "-i", "full", z, f).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "OK") {
				t.Errorf("named-checkzone %s: %v\n%s\n%s", z, err, out, part.String())
			}
			checked = true
		}
		if p, err := exec.LookPath("kzonecheck"); err == nil {
			out, err := exec.Command(p, "-o", z, f).CombinedOutput()
			if err != nil {
				t.Errorf("kzonecheck %s: %v\n%s", z, err, out)
			}
			checked = true
		}
		if !checked {
			needTool(t, "named-checkzone")
		}
	}

	var j struct {
		Zones   []string
		Records []struct{ Zone, Name, Relative, Type, Value, Text, Why string }
	}
	if err := json.Unmarshal([]byte(mustRun(t, "", "dns", "records", "--format", "json", "--dir", dir)), &j); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range j.Records {
		if r.Name == "mail._domainkey.family.example" && r.Relative == "mail._domainkey" && strings.HasPrefix(r.Text, "v=DKIM1;") && r.Why != "" {
			found = true
		}
	}
	if len(j.Zones) != 2 || !found {
		t.Errorf("json: zones %v, DKIM record found %v", j.Zones, found)
	}

	// Bad input: one clear line, exit 1 (2 for usage).
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"dns", "set", "www.example.net", "A", "300.1.2.3"}, 1, "not a valid A value"},
		{[]string{"dns", "set", "www.other.org", "A", "192.0.2.1"}, 1, "not inside a hosted domain"},
		{[]string{"dns", "set", "example.net", "CNAME", "x.example.org"}, 1, "apex"},
		{[]string{"dns", "set", "x.example.net", "SOA", "x"}, 1, "not supported"},
		{[]string{"dns", "set", "*.example.net", "A", "192.0.2.1"}, 1, "wildcard"},
		{[]string{"dns", "set", "www.example.net", "A", "192.0.2.1"}, 1, "CNAME cannot share"},
		{[]string{"dns", "set", "www.example.net", "A"}, 2, "usage"},
		{[]string{"dns", "unset", "nothing.example.net", "A"}, 1, "no custom A record"},
		{[]string{"dns", "records", "nope.example"}, 1, "not a hosted domain"},
		{[]string{"dns", "records", "--format", "xml"}, 2, "--format"},
		{[]string{"dns", "frob"}, 2, "unknown dns subcommand"},
	} {
		_, errs, code := run(t, "", append(c.args, "--dir", dir)...)
		if code != c.code || !strings.Contains(errs, c.want) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q; want %d with %q", c.args, code, errs, c.code, c.want)
		}
	}
}

func TestSPFIncludeAndHarden(t *testing.T) {
	for _, c := range []struct {
		args []string
		out  string
		note string
	}{
		{[]string{`"v=spf1 include:_spf.google.com ~all"`}, "v=spf1 include:_spf.google.com include:box.example.net ~all", "~all"},
		{[]string{"v=spf1", "ip4:192.0.2.1", "+all"}, "v=spf1 ip4:192.0.2.1 include:box.example.net ~all", "whole internet"},
		{[]string{"v=spf1 include:box.example.net -all"}, "v=spf1 include:box.example.net -all", "no change"},
	} {
		out, errs, code := run(t, "", append(append([]string{"spf", "include"}, c.args...), "--box", "box.example.net")...)
		if code != 0 || strings.TrimSpace(out) != c.out || !strings.Contains(errs, c.note) {
			t.Errorf("spf include %q: exit %d, %q, %q", c.args, code, out, errs)
		}
	}
	_, errs, code := run(t, "", "spf", "include", "v=spf1 ip4:1.2.3.4/99 -all", "--box", "box.example.net")
	if code != 1 || !strings.Contains(errs, "prefix length") || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
		t.Errorf("malformed: exit %d, %q", code, errs)
	}
	// A bare mx or a means the domain's: without a box to default to,
	// --domain is needed (spf_switchover_test.go resolves it).
	for _, rec := range []string{"v=spf1 mx -all", "v=spf1 a +all", ""} {
		if _, errs, code := run(t, "", "spf", "include", rec, "--box", "box.example.net"); code != 2 || !strings.Contains(errs, "--domain") {
			t.Errorf("spf include %q without a domain: exit %d, %q", rec, code, errs)
		}
	}
	// The box serves its own MX: "mx" already means the box.
	b := newBox(t)
	out, errs, _ := b.Cmd("", "spf", "include", "v=spf1 mx ~all")
	if strings.TrimSpace(out) != "v=spf1 include:mail.example.test ~all" || !strings.Contains(errs, "already points at the box") {
		t.Errorf("--box and --domain from the config: %q\n%s", out, errs)
	}
	if out := mustRun(t, "", "spf", "harden", "example.test", "--dir", b.Dir); strings.TrimSpace(out) != "v=spf1 mx -all" {
		t.Errorf("harden: %q", out)
	}
}

// worldDNS is a DNS server for status tests: it answers from records
// that the test changes between runs (no recursion, no internet).
type worldDNS struct {
	mu    sync.Mutex
	rrs   map[string][]dns.RR // "name type"
	names map[string]bool
	addr  string
}

func startWorld(t *testing.T) *worldDNS {
	w := &worldDNS{}
	w.set(t)
	w.addr = testutil.ServeDNS(t, w, w)
	return w
}

func (w *worldDNS) set(t *testing.T, records ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.rrs, w.names = map[string][]dns.RR{}, map[string]bool{}
	for _, r := range records {
		rr, err := dns.NewRR(r)
		if err != nil {
			t.Fatalf("%q: %v", r, err)
		}
		h := rr.Header()
		k := strings.ToLower(h.Name) + " " + dns.TypeToString[h.Rrtype]
		w.rrs[k] = append(w.rrs[k], rr)
		for n := strings.ToLower(h.Name); n != ""; {
			w.names[n] = true
			_, n, _ = strings.Cut(n, ".")
		}
	}
}

func (w *worldDNS) ServeDNS(rw dns.ResponseWriter, req *dns.Msg) {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := new(dns.Msg)
	m.SetReply(req)
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	if rrs := w.rrs[name+" "+dns.TypeToString[q.Qtype]]; len(rrs) > 0 {
		m.Answer = rrs
	} else if !w.names[name] {
		m.Rcode = dns.RcodeNameError
	}
	rw.WriteMsg(m)
}

// status runs 'boxmail status' and returns level+check → line.
func status(t *testing.T, b *Box, args ...string) (map[string]string, string, int) {
	t.Helper()
	out, errs, code := b.Cmd("", append([]string{"status"}, args...)...)
	res := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 3 || (f[0] != "ok" && f[0] != "warn" && f[0] != "fail") {
			continue
		}
		check := f[2]
		if f[2] == "reverse" || f[2] == "TLS" || f[2] == "port" || f[2] == "blocklist" {
			check += " " + f[3]
		}
		res[f[1]+" "+check] = f[0] + " " + l
	}
	return res, out + errs, code
}

func TestStatusChecksTheWorldInEveryState(t *testing.T) {
	w := startWorld(t)
	b := newBoxWith(t, map[string]string{"resolvers": w.addr, "public_ipv4": "127.0.0.1", "dnsbl": "bl.test"})
	dkim := mustRun(t, "", "dns", "records", "--format", "json", "--dir", b.Dir)
	var j struct {
		Records []struct{ Name, Type, Value string }
	}
	json.Unmarshal([]byte(dkim), &j)
	dkimTXT := ""
	for _, r := range j.Records {
		if r.Name == "mail._domainkey.example.test" {
			dkimTXT = "mail._domainkey.example.test. TXT " + r.Value
		}
	}
	good := []string{
		"mail.example.test. A 127.0.0.1",
		`mail.example.test. TXT "v=spf1 ip4:127.0.0.1 -all"`,
		"1.0.0.127.in-addr.arpa. PTR mail.example.test.",
		"example.test. MX 10 mail.example.test.",
		`example.test. TXT "v=spf1 mx -all"`,
		dkimTXT,
		`_dmarc.example.test. TXT "v=DMARC1; p=quarantine; rua=mailto:postmaster@example.test"`,
		"example.test. NS mail.example.test.",
		"bl.test. SOA ns.bl.test. h.bl.test. 1 1 1 1 1",
	}
	want := func(res map[string]string, out, key, prefix, text string) {
		t.Helper()
		if l := res[key]; !strings.HasPrefix(l, prefix+" ") || !strings.Contains(l, text) {
			t.Errorf("%s: got %q, want %s with %q\n%s", key, l, prefix, text, out)
		}
	}

	// All in place: every DNS check ok, the self-signed certificate a
	// warning, the running box's ports answer; exit 0. (The admin has
	// logged in at the box: nobody still sends through an old provider.)
	if got := imapsLogin(t, b.IMAPS, b.Admin, b.Password); !strings.HasPrefix(got, "a OK") {
		t.Fatalf("IMAPS login: %q", got)
	}
	w.set(t, good...)
	res, out, code := status(t, b)
	if code != 0 {
		t.Errorf("exit %d\n%s", code, out)
	}
	for _, k := range []string{"mail.example.test address", "mail.example.test reverse DNS", "mail.example.test SPF", "mail.example.test blocklist bl.test",
		"example.test MX", "example.test SPF", "example.test switch-over", "example.test DKIM", "example.test DMARC", "example.test NS",
		"mail.example.test port " + strconv.Itoa(b.SMTP), "mail.example.test port " + strconv.Itoa(b.DNS),
		"mail.example.test port " + strconv.Itoa(b.HTTPS), "mail.example.test port " + strconv.Itoa(b.HTTP)} {
		want(res, out, k, "ok", "")
	}
	want(res, out, "mail.example.test TLS certificate", "warn", "self-signed")

	// Mid-migration: MX at the old provider, SPF relaxed, records hosted
	// elsewhere.
	mid := append([]string{}, good[:3]...)
	mid = append(mid, dkimTXT, good[6], good[8],
		"example.test. MX 10 mx0.123-reg.co.uk.", "example.test. MX 20 mx1.123-reg.co.uk.",
		`example.test. TXT "v=spf1 include:spf.123-reg.co.uk include:mail.example.test ~all"`,
		`spf.123-reg.co.uk. TXT "v=spf1 ip4:203.0.113.0/24 -all"`,
		"example.test. NS ns1.123-reg.co.uk.")
	w.set(t, mid...)
	res, out, _ = status(t, b, "example.test", "--no-ports")
	want(res, out, "example.test MX", "warn", "123-reg")
	want(res, out, "example.test SPF", "ok", "authorises 127.0.0.1")
	want(res, out, "example.test switch-over", "warn", "SPF relaxed")
	want(res, out, "example.test NS", "ok", "hosted elsewhere")
	if !strings.Contains(out, "change: when the accounts are ready, replace the MX records by MX @ 10 mail.example.test.") {
		t.Errorf("no MX advice:\n%s", out)
	}

	// Everything wrong.
	w.set(t,
		"mail.example.test. A 192.0.2.1",
		"1.0.0.127.in-addr.arpa. PTR vps.hoster.test.",
		`example.test. TXT "v=spf1 include:_spf.google.com ~all"`, `_spf.google.com. TXT "v=spf1 ip4:209.85.128.0/17 ~all"`,
		`example.test. TXT "google-site-verification=x"`,
		`mail._domainkey.example.test. TXT "v=DKIM1; k=rsa; p=MIIBIjAN"`,
		`_dmarc.example.test. TXT "v=DMARC1; p=sometimes"`,
		"1.0.0.127.bl.test. A 127.0.0.2", `1.0.0.127.bl.test. TXT "listed: spam seen"`,
		"example.test. NS ns1.elsewhere.test.")
	res, out, code = status(t, b, "--no-ports")
	if code != 1 || !strings.Contains(out, "check(s) failed") {
		t.Errorf("exit %d with failures\n%s", code, out)
	}
	want(res, out, "mail.example.test address", "fail", "192.0.2.1")
	want(res, out, "mail.example.test reverse DNS", "fail", "vps.hoster.test")
	want(res, out, "mail.example.test SPF", "fail", "no SPF record")
	want(res, out, "mail.example.test blocklist bl.test", "fail", "spam seen")
	want(res, out, "example.test MX", "fail", "no MX")
	want(res, out, "example.test SPF", "fail", "does not authorise")
	want(res, out, "example.test DKIM", "fail", "different key")
	want(res, out, "example.test DMARC", "fail", "no valid p=")
	want(res, out, "example.test switch-over", "warn", "step 1")
	if !strings.Contains(out, `v=spf1 include:_spf.google.com include:mail.example.test ~all`) {
		t.Errorf("no SPF fix:\n%s", out)
	}

	// Two SPF records; DMARC p=none; the blocklist refuses the resolver.
	w.set(t, append(good, `example.test. TXT "v=spf1 a -all"`, `_dmarc.example.test. TXT "v=DMARC1; p=none"`, "1.0.0.127.bl.test. A 127.255.255.254")...)
	res, out, _ = status(t, b, "--no-ports")
	want(res, out, "example.test SPF", "fail", "2 SPF records")
	want(res, out, "example.test DMARC", "fail", "2 DMARC records")
	want(res, out, "mail.example.test blocklist bl.test", "warn", "could not check")

	// The resolver does not answer: never ok, always "could not check".
	dead := testutil.FreePort(t)
	conf := filepath.Join(b.Dir, "boxmail.conf")
	c, _ := os.ReadFile(conf)
	os.WriteFile(conf, regexp.MustCompile(`(?m)^resolvers = .*$`).ReplaceAll(c, []byte("resolvers = 127.0.0.1:"+strconv.Itoa(dead))), 0o600)
	res, out, _ = status(t, b, "--no-ports", "--timeout", "300ms")
	for k, l := range res {
		if strings.Contains(k, "TLS") || strings.HasSuffix(k, " backup") || strings.HasPrefix(k, "machine ") || strings.HasSuffix(k, " MTA-STS") || strings.HasSuffix(k, "-reports") { // not DNS checks
			continue
		}
		if !strings.HasPrefix(l, "warn ") || !strings.Contains(l, "could not check") {
			t.Errorf("dead resolver: %s: %q", k, l)
		}
	}
	if len(res) < 9 {
		t.Errorf("dead resolver: only %d checks\n%s", len(res), out)
	}

	// A stopped box: its ports fail.
	b.Stop()
	res, out, _ = status(t, b, "--timeout", "300ms")
	want(res, out, "mail.example.test port "+strconv.Itoa(b.SMTP), "fail", "does not answer")
}

// The records a box publishes name the ports it really serves on: on a
// box whose web server is not on 443, Outlook's autodiscover SRV says so.
func TestTheRecordsNameTheBoxsOwnPorts(t *testing.T) {
	b := newBox(t)
	out := mustRun(t, "", "dns", "records", "--format", "zone", "--dir", b.Dir)
	for _, want := range []string{
		fmt.Sprintf("_autodiscover._tcp.example.test. 3600 IN SRV 0 1 %d mail.example.test.", b.HTTPS),
		fmt.Sprintf("_imaps._tcp.example.test. 3600 IN SRV 0 1 %d mail.example.test.", b.IMAPS),
	} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), want) {
			t.Errorf("the zone lacks %q:\n%s", want, out)
		}
	}
}
