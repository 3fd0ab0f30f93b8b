package test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"boxmail/internal/testutil"
)

// startUnbound runs Debian's unbound as a validating resolver on a free
// loopback port, trusting anchor (a DS record) for example.test and
// sending its queries for example.test to the box's DNS port. It
// returns the port. An empty anchor is a parent without our DS: the
// zone is insecure to it.
func startUnbound(t *testing.T, anchor string, dnsPort int) int {
	t.Helper()
	return startUnboundWith(t, unboundOptions{Stubs: []stubZone{{Name: "example.test", Anchor: anchor, Port: dnsPort}}})
}

// stubZone is a zone a resolver asks one server for (on Host, default
// 127.0.0.1),
// with the DS record it trusts for the zone ("": none, the zone is
// insecure to it, as under a parent without its DS).
type stubZone struct {
	Name   string
	Anchor string
	Port   int
	Host   string
}

// unboundOptions say which zones a test's unbound resolves, and where
// it runs.
type unboundOptions struct {
	Stubs []stubZone
	// Port it answers on (0: a free loopback port).
	Port int
	// NS is the network namespace it runs in (dane_postfix_test.go);
	// nil: the test's own.
	NS *netNS
	// TCPUpstream: it asks the stub servers over TCP only.
	TCPUpstream bool
	// MaxTTL caps how long it caches anything, in seconds (0: unbound's
	// default of a day), so a change to a zone reaches its clients.
	MaxTTL int
}

// startUnboundWith runs Debian's unbound as a validating resolver on
// loopback that resolves the stub zones only: every other name is
// REFUSED, so no query leaves the machine. It returns the port.
func startUnboundWith(t *testing.T, o unboundOptions) int {
	t.Helper()
	bin := needTool(t, "unbound")
	dir := t.TempDir()
	port := o.Port
	if port == 0 {
		port = testutil.FreePort(t)
	}
	var zones, stubs strings.Builder
	if o.MaxTTL > 0 {
		fmt.Fprintf(&zones, "  cache-max-ttl: %d\n  cache-max-negative-ttl: %d\n", o.MaxTTL, o.MaxTTL)
	}
	for _, z := range o.Stubs {
		fmt.Fprintf(&zones, "  local-zone: %q transparent\n", z.Name+".")
		if z.Anchor != "" {
			fmt.Fprintf(&zones, "  trust-anchor: %q\n", z.Anchor)
		}
		host := z.Host
		if host == "" {
			host = "127.0.0.1"
		}
		fmt.Fprintf(&stubs, "stub-zone:\n  name: %q\n  stub-addr: %s@%d\n", z.Name, host, z.Port)
	}
	conf := fmt.Sprintf(`server:
  interface: 127.0.0.1
  port: %d
  do-ip6: no
  do-not-query-localhost: no
  username: ""
  chroot: ""
  directory: %q
  pidfile: ""
  use-syslog: no
  logfile: ""
  verbosity: 1
  val-log-level: 2
  access-control: 127.0.0.0/8 allow
  tcp-upstream: %s
  # unbound answers .test (RFC 6761) itself unless told not to.
  local-zone: "test." nodefault
  # Nothing but the stub zones is resolved.
  local-zone: "." refuse
  # A bogus answer is not kept: the next query validates again.
  val-bogus-ttl: 1
%s%sremote-control:
  control-enable: no
`, port, dir, yesNo(o.TCPUpstream), zones.String(), stubs.String())
	path := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	log := &syncBuffer{}
	cmd := exec.Command(bin, "-d", "-c", path)
	dial := dialTCP
	if o.NS != nil {
		cmd = o.NS.command(bin, "-d", "-c", path)
		dial = o.NS.dial
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if err := cmd.Process.Kill(); err == nil {
			<-done
		}
		if t.Failed() {
			t.Logf("unbound:\n%s", log.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := dial(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			if err := c.Close(); err != nil {
				t.Log(err)
			}
			return port
		}
		select {
		case err := <-done:
			t.Fatalf("unbound exited: %v\n%s", err, log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("unbound did not start:\n%s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// digAt runs dig against a resolver on loopback (recursion wanted).
func digAt(t *testing.T, port int, args ...string) string {
	t.Helper()
	bin := needTool(t, "dig")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append([]string{"@127.0.0.1", "-p", strconv.Itoa(port), "+timeout=5", "+retry=1"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("dig %v: %v\n%s", args, err, out)
	}
	return string(out)
}

var flagsLine = regexp.MustCompile(`(?m)^;; flags: ([a-z ]+);`)

func digFlags(t *testing.T, out string) string {
	t.Helper()
	m := flagsLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no flags in\n%s", out)
	}
	return " " + m[1] + " "
}

func TestDNSSECSignedZoneValidatesInUnbound(t *testing.T) {
	for _, tool := range []string{"unbound", "dig", "ldns-verify-zone", "dnssec-verify"} {
		needTool(t, tool)
	}
	b := newBox(t)

	// Contract: dig +dnssec against the box gives DNSKEY and RRSIGs.
	out := b.dig("dig", "+dnssec", "DNSKEY", "example.test")
	for _, want := range []string{"DNSKEY\t257 3 13 ", "DNSKEY\t256 3 13 ", "RRSIG\tDNSKEY 13 2 3600 "} {
		if !strings.Contains(out, want) {
			t.Errorf("DNSKEY answer lacks %q:\n%s", want, out)
		}
	}
	if out := b.dig("dig", "+dnssec", "MX", "example.test"); !strings.Contains(out, "RRSIG\tMX 13 2 3600 ") {
		t.Errorf("MX answer unsigned:\n%s", out)
	}
	if out := b.dig("dig", "MX", "example.test"); strings.Contains(out, "RRSIG") {
		t.Errorf("RRSIG without the DO bit:\n%s", out)
	}

	// Contract: the zone file has the DS for the registrar and the TLSA
	// of the certificate the box serves.
	zone := mustRun(t, "", "dns", "records", "--format", "zone", "--dir", b.Dir)
	m := regexp.MustCompile(`(?m)^; (example\.test\.\s+\d+\s+IN\s+DS\s+\d+ 13 2 [0-9a-f]{64})$`).FindStringSubmatch(zone)
	if m == nil {
		t.Fatalf("no DS in the zone file:\n%s", zone)
	}
	anchor := strings.Join(strings.Fields(m[1]), " ")
	conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(b.IMAPS)), &tls.Config{InsecureSkipVerify: true, ServerName: "mail.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(conn.ConnectionState().PeerCertificates[0].RawSubjectPublicKeyInfo)
	if err := conn.Close(); err != nil {
		t.Log(err)
	}
	tlsa := "3 1 1 " + hex.EncodeToString(sum[:])
	if !strings.Contains(zone, "_25._tcp.mail.example.test.\t300\tIN\tTLSA\t"+tlsa) {
		t.Errorf("no TLSA %s of the served certificate at _25._tcp:\n%s", tlsa, zone)
	}

	// The signed zone dump passes two independent verifiers.
	dump := mustRun(t, "", "dns", "zone", "example.test", "--signed", "--dir", b.Dir)
	zf := filepath.Join(t.TempDir(), "example.test.zone")
	if err := os.WriteFile(zf, []byte(dump), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][]string{{"ldns-verify-zone", zf}, {"dnssec-verify", "-o", "example.test", zf}} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", c[0], err, out)
		}
	}

	// A validating resolver anchored at our DS: AD on answers, NXDOMAIN
	// and NODATA, and the TLSA the box serves.
	u := startUnbound(t, anchor, b.DNS)
	for _, q := range [][]string{{"MX", "example.test"}, {"TXT", "mail._domainkey.example.test"}, {"TLSA", "_25._tcp.mail.example.test"},
		{"A", "nothing.example.test"}, {"MX", "_dmarc.example.test"}, {"A", "mail.example.test"}} {
		out := digAt(t, u, append([]string{"+dnssec"}, q...)...)
		if !strings.Contains(digFlags(t, out), " ad ") || strings.Contains(out, "SERVFAIL") {
			t.Errorf("%v through unbound: not validated:\n%s", q, out)
		}
	}
	if out := digAt(t, u, "+short", "TLSA", "_25._tcp.mail.example.test"); !strings.EqualFold(strings.ReplaceAll(strings.TrimSpace(out), " ", ""), strings.ReplaceAll(tlsa, " ", "")) {
		t.Errorf("TLSA through unbound %q, want %s", out, tlsa)
	}

	// status: the keys, the DS, and the chain validated by a resolver.
	b.configure(map[string]string{"resolvers": "127.0.0.1:" + strconv.Itoa(u)})
	st, _, _ := b.Cmd("", "status", "--no-ports", "--timeout", "5s")
	if !regexp.MustCompile(`ok\s+example\.test\s+DNSSEC\s+keys present; DS for the registrar: example\.test\. IN DS \d+ 13 2 [0-9a-f]+; the chain of trust validates`).MatchString(st) {
		t.Errorf("status has no validated DNSSEC line:\n%s", st)
	}

	// Tampering: the box signs with other keys than the anchor's (its
	// keys dropped from the store, so it makes new ones); a fresh
	// validating resolver refuses the zone.
	b.Stop()
	if err := b.OpenStore().DeleteZoneKeys(context.Background(), "example.test"); err != nil {
		t.Fatal(err)
	}
	b.Start()
	u2 := startUnbound(t, anchor, b.DNS)
	out = digAt(t, u2, "+dnssec", "MX", "example.test")
	if !strings.Contains(out, "status: SERVFAIL") {
		t.Errorf("a zone signed with the wrong key validated:\n%s", out)
	}
	b.configure(map[string]string{"resolvers": "127.0.0.1:" + strconv.Itoa(u2)})
	st, _, _ = b.Cmd("", "status", "--no-ports", "--timeout", "5s")
	if !regexp.MustCompile(`fail\s+example\.test\s+DNSSEC\s+.*SERVFAIL`).MatchString(st) {
		t.Errorf("status does not fail the broken chain:\n%s", st)
	}
}

// TestABoxUpgradedInPlaceKeepsItsDNSSECKeys: before the keys moved into
// the store, a box kept them in DATADIR/dnssec/ZONE.json (the same
// JSON). A box upgraded in place imports its file once: the same DNSKEY
// set and the same DS for the registrar.
func TestABoxUpgradedInPlaceKeepsItsDNSSECKeys(t *testing.T) {
	needTool(t, "dig")
	b := newBox(t)
	anchor, _, _ := registrarDS(t, b)
	keys := dnskeys(t, b)
	b.Stop()
	st := b.OpenStore()
	ctx := context.Background()
	data, _, err := st.ZoneKeys(ctx, "example.test")
	if err != nil || data == nil {
		t.Fatalf("the keys in the store: %q %v", data, err)
	}
	// The layout of the earlier version: its key file, nothing in the store.
	if err := os.MkdirAll(filepath.Join(b.Dir, "dnssec"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.Dir, "dnssec", "example.test.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteZoneKeys(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	b.Start()
	if got := dnskeys(t, b); !slices.Equal(got, keys) {
		t.Errorf("DNSKEY after the upgrade %q, before %q", got, keys)
	}
	if got, _, _ := registrarDS(t, b); got != anchor {
		t.Errorf("DS after the upgrade %s, before %s", got, anchor)
	}
	if data, _, err := st.ZoneKeys(ctx, "example.test"); err != nil || data == nil {
		t.Errorf("the imported keys are not in the store: %v", err)
	}
}

// TestZoneTransferToSecondaries: dns_secondaries may transfer the zone
// (dig axfr from 127.0.0.1), anyone else (dig -b 127.0.0.2) is refused,
// and a change sends the secondary a NOTIFY.
func TestZoneTransferToSecondaries(t *testing.T) {
	needTool(t, "dig")
	notifyPort := testutil.FreePort(t)
	pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(notifyPort)))
	if err != nil {
		t.Fatal(err)
	}
	notified := make(chan string, 20)
	sec := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		if r.Opcode == dns.OpcodeNotify && len(r.Question) == 1 {
			notified <- r.Question[0].Name
		}
		m := new(dns.Msg)
		m.SetReply(r)
		if err := w.WriteMsg(m); err != nil {
			t.Log(err)
		}
	})}
	go func() {
		if err := sec.ActivateAndServe(); err != nil {
			t.Log(err)
		}
	}()
	defer func() {
		if err := sec.Shutdown(); err != nil {
			t.Log(err)
		}
	}()
	b := newBoxWith(t, map[string]string{"dns_secondaries": "127.0.0.1:" + strconv.Itoa(notifyPort)})

	out := b.dig("dig", "AXFR", "example.test")
	for _, want := range []string{"IN\tSOA\t", "IN\tMX\t10 mail.example.test.", "IN\tDNSKEY\t257 3 13", "IN\tRRSIG\t", "IN\tNSEC\t", "XFR size: "} {
		if !strings.Contains(out, want) {
			t.Errorf("AXFR from the secondary lacks %q:\n%s", want, out)
		}
	}
	refused := b.dig("dig", "-b", "127.0.0.2", "AXFR", "example.test")
	if !strings.Contains(refused, "Transfer failed") || strings.Contains(refused, "IN\tMX\t") {
		t.Errorf("AXFR from a stranger was not refused:\n%s", refused)
	}

	// The NOTIFY of the start, then one for a change to the zone.
	wait := func(what string) {
		t.Helper()
		select {
		case z := <-notified:
			if z != "example.test." {
				t.Errorf("NOTIFY for %s", z)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no NOTIFY %s", what)
		}
	}
	wait("at start")
	mustRun(t, "", "dns", "set", "www.example.test", "A", "192.0.2.80", "--dir", b.Dir)
	wait("after a change")
}
