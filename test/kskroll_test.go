package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"boxmail/internal/testutil"
)

var dsLine = regexp.MustCompile(`(?m)^; (example\.test\.\s+\d+\s+IN\s+DS\s+(\d+) 13 2 ([0-9a-f]{64}))$`)

// registrarDS returns the DS record 'dns records --format zone' gives
// for the registrar, its key tag and digest.
// A box that just started may not have made its keys yet (its DNS
// server makes them when it first loads the zone): it is given 10 s.
func registrarDS(t *testing.T, b *Box) (anchor, tag, digest string) {
	t.Helper()
	var zone string
	var m []string
	for deadline := time.Now().Add(10 * time.Second); m == nil; time.Sleep(100 * time.Millisecond) {
		zone = mustRun(t, "", "dns", "records", "--format", "zone", "--dir", b.Dir)
		if m = dsLine.FindStringSubmatch(zone); m == nil && time.Now().After(deadline) {
			t.Fatalf("no DS in the zone file:\n%s", zone)
		}
	}
	return strings.Join(strings.Fields(m[1]), " "), m[2], m[3]
}

// verifyDump checks the signed zone dump with ldns-verify-zone.
func verifyDump(t *testing.T, b *Box, step string) {
	t.Helper()
	dump := mustRun(t, "", "dns", "zone", "example.test", "--signed", "--dir", b.Dir)
	zf := filepath.Join(t.TempDir(), "example.test.zone")
	if err := os.WriteFile(zf, []byte(dump), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ldns-verify-zone", zf).CombinedOutput(); err != nil {
		t.Errorf("%s: ldns-verify-zone: %v\n%s", step, err, out)
	}
}

// validates tells whether a resolver answers the zone's MX and DNSKEY
// validated (AD, no SERVFAIL).
func validates(t *testing.T, port int) bool {
	t.Helper()
	for _, q := range []string{"MX", "DNSKEY"} {
		out := digAt(t, port, "+dnssec", q, "example.test")
		if !strings.Contains(digFlags(t, out), " ad ") || strings.Contains(out, "SERVFAIL") {
			return false
		}
	}
	return true
}

// cdsAt returns the CDS RDATA the box serves.
func cdsAt(t *testing.T, b *Box) string {
	t.Helper()
	return strings.TrimSpace(b.dig("dig", "+short", "CDS", "example.test"))
}

// kskCount counts the KSKs (flags 257) the box publishes.
func kskCount(t *testing.T, b *Box) int {
	t.Helper()
	return strings.Count(b.dig("dig", "+short", "DNSKEY", "example.test"), "257 3 13 ")
}

// TestKSKRolloverKeepsTheChain: a resolver anchored at the old DS
// validates before, during and (given the new DS) after a KSK
// rollover; the CDS names the key the parent should have; the signed
// zone passes ldns-verify-zone at each step.
func TestKSKRolloverKeepsTheChain(t *testing.T) {
	for _, tool := range []string{"unbound", "dig", "ldns-verify-zone"} {
		needTool(t, tool)
	}
	b := newBox(t)
	oldAnchor, oldTag, oldDigest := registrarDS(t, b)
	if cds := cdsAt(t, b); !strings.EqualFold(strings.ReplaceAll(cds, " ", ""), oldTag+"132"+oldDigest) {
		t.Errorf("CDS before the rollover %q, want the DS %s", cds, oldAnchor)
	}
	verifyDump(t, b, "before")
	before := startUnbound(t, oldAnchor, b.DNS)
	if !validates(t, before) {
		t.Fatal("the zone does not validate before the rollover")
	}

	out := mustRun(t, "", "dns", "rollover-ksk", "example.test", "--dir", b.Dir)
	if !strings.Contains(out, "new KSK published") {
		t.Fatalf("rollover-ksk: %s", out)
	}
	newAnchor, newTag, newDigest := registrarDS(t, b)
	if newTag == oldTag || !strings.Contains(out, strings.ToUpper(newDigest)) {
		t.Fatalf("DS for the registrar during the rollover: %s (old %s); the command said:\n%s", newAnchor, oldAnchor, out)
	}
	testutil.WaitFor(t, "two KSKs published", 10*time.Second, func() bool { return kskCount(t, b) == 2 })
	if cds := cdsAt(t, b); !strings.EqualFold(strings.ReplaceAll(cds, " ", ""), newTag+"132"+newDigest) {
		t.Errorf("CDS during the rollover %q, want the new DS %s", cds, newAnchor)
	}
	if out := b.dig("dig", "+short", "CDNSKEY", "example.test"); !strings.HasPrefix(out, "257 3 13 ") {
		t.Errorf("CDNSKEY during the rollover %q", out)
	}
	verifyDump(t, b, "during")
	if !validates(t, before) {
		t.Error("the resolver of before (old DS, caches warm) fails during the rollover")
	}
	if !validates(t, startUnbound(t, oldAnchor, b.DNS)) {
		t.Error("a fresh resolver with the old DS fails during the rollover")
	}
	if !validates(t, startUnbound(t, newAnchor, b.DNS)) {
		t.Error("a resolver with the new DS fails during the rollover")
	}
	st, _, _ := b.Cmd("", "status", "--no-ports", "--timeout", "5s")
	if !regexp.MustCompile(`warn\s+example\.test\s+DNSSEC\s+.*KSK rollover in progress`).MatchString(st) || !strings.Contains(st, "rollover-ksk example.test --finish") {
		t.Errorf("status does not show the rollover:\n%s", st)
	}

	out = mustRun(t, "", "dns", "rollover-ksk", "example.test", "--finish", "--dir", b.Dir)
	if !strings.Contains(out, "finished") {
		t.Fatalf("rollover-ksk --finish: %s", out)
	}
	testutil.WaitFor(t, "the old KSK gone", 10*time.Second, func() bool { return kskCount(t, b) == 1 })
	if anchor, _, _ := registrarDS(t, b); anchor != newAnchor {
		t.Errorf("DS after the rollover %s, want %s", anchor, newAnchor)
	}
	if cds := cdsAt(t, b); !strings.EqualFold(strings.ReplaceAll(cds, " ", ""), newTag+"132"+newDigest) {
		t.Errorf("CDS after the rollover %q, want %s", cds, newAnchor)
	}
	verifyDump(t, b, "after")
	if !validates(t, startUnbound(t, newAnchor, b.DNS)) {
		t.Error("a resolver with the new DS fails after the rollover")
	}
	// The old key is really gone: the old DS no longer leads anywhere.
	if validates(t, startUnbound(t, oldAnchor, b.DNS)) {
		t.Error("a resolver with only the old DS validates after the rollover")
	}
	if st, _, _ := b.Cmd("", "status", "--no-ports", "--timeout", "5s"); strings.Contains(st, "KSK rollover in progress") {
		t.Errorf("status still shows a rollover:\n%s", st)
	}
}

// resolves tells whether a resolver answers the zone's MX (NOERROR with
// the record) and whether it validated it (AD); a SERVFAIL fails the
// test.
func resolves(t *testing.T, port int, step string) (ad bool) {
	t.Helper()
	out := digAt(t, port, "+dnssec", "MX", "example.test")
	if strings.Contains(out, "SERVFAIL") || !strings.Contains(out, "status: NOERROR") || !regexp.MustCompile(`(?m)^example\.test\.\s+\d+\s+IN\s+MX\s`).MatchString(out) {
		t.Fatalf("%s: the zone does not resolve:\n%s", step, out)
	}
	return strings.Contains(digFlags(t, out), " ad ")
}

// TestTurningDNSSECOffNeverBreaksResolution: 'dns dnssec off' keeps the
// zone signed and publishes the RFC 8078 delete signal, so a resolver
// holding the DS still validates; once the parent has no DS (a
// resolver without the anchor) the zone resolves insecure, before and
// after the box stops signing; 'dns dnssec on' signs it with the same
// key again. No step gives SERVFAIL.
func TestTurningDNSSECOffNeverBreaksResolution(t *testing.T) {
	for _, tool := range []string{"unbound", "dig", "ldns-verify-zone"} {
		needTool(t, tool)
	}
	b := newBox(t)
	anchor, _, _ := registrarDS(t, b)
	withDS := startUnbound(t, anchor, b.DNS)
	if !resolves(t, withDS, "before") {
		t.Fatal("not validated before")
	}

	out := mustRun(t, "", "dns", "dnssec", "off", "example.test", "--dir", b.Dir)
	if !strings.Contains(out, "being turned off") || !strings.Contains(out, "Remove the DS record of example.test at the registrar") {
		t.Fatalf("dns dnssec off: %s", out)
	}
	testutil.WaitFor(t, "the delete signal", 10*time.Second, func() bool { return cdsAt(t, b) == "0 0 0 00" })
	if got := strings.TrimSpace(b.dig("dig", "+short", "CDNSKEY", "example.test")); got != "0 3 0 AA==" {
		t.Errorf("CDNSKEY while turning off: %q", got)
	}
	if !resolves(t, withDS, "turning off, the resolver of before") || !resolves(t, startUnbound(t, anchor, b.DNS), "turning off, a fresh resolver with the DS") {
		t.Error("not validated while turning off (the zone must stay signed until the DS is gone)")
	}
	verifyDump(t, b, "turning off")
	if zone := mustRun(t, "", "dns", "records", "--format", "zone", "--dir", b.Dir); dsLine.MatchString(zone) {
		t.Errorf("the zone file still offers a DS for the registrar while turning off:\n%s", zone)
	}
	st, _, _ := b.Cmd("", "status", "--no-ports", "--timeout", "5s")
	// (The harness's resolvers have no DS for example.test: the parent's
	// step. Whether the serving box has already noted when the DS went
	// depends on when its own check ran: either wording is right.)
	if !regexp.MustCompile(`warn\s+example\.test\s+DNSSEC\s+DNSSEC being turned off .*delete signal .*; the parent has (no DS|had no DS since)`).MatchString(st) {
		t.Errorf("status does not say what to do:\n%s", st)
	}
	// The registrar removed the DS: a resolver that never had it.
	noDS := startUnbound(t, "", b.DNS)
	if resolves(t, noDS, "turning off, no DS") {
		t.Error("validated without a trust anchor")
	}
	if _, errs, code := b.Cmd("", "dns", "rollover-ksk", "example.test"); code == 0 {
		t.Errorf("a KSK rollover started while turning DNSSEC off: %s", errs)
	}

	out = mustRun(t, "", "dns", "dnssec", "off", "example.test", "--finish", "--dir", b.Dir)
	if !strings.Contains(out, "is off") {
		t.Fatalf("dns dnssec off --finish: %s", out)
	}
	testutil.WaitFor(t, "the zone served unsigned", 10*time.Second, func() bool {
		return strings.TrimSpace(b.dig("dig", "+short", "DNSKEY", "example.test")) == ""
	})
	if out := b.dig("dig", "+dnssec", "MX", "example.test"); strings.Contains(out, "RRSIG") {
		t.Errorf("signatures after DNSSEC is off:\n%s", out)
	}
	if resolves(t, noDS, "off, the resolver of before") || resolves(t, startUnbound(t, "", b.DNS), "off, a fresh resolver") {
		t.Error("validated with DNSSEC off")
	}
	st, _, _ = b.Cmd("", "status", "--no-ports", "--timeout", "5s")
	if !strings.Contains(st, "DNSSEC is off: the zone is served unsigned") {
		t.Errorf("status with DNSSEC off:\n%s", st)
	}

	if out := mustRun(t, "", "dns", "dnssec", "on", "example.test", "--dir", b.Dir); !strings.Contains(out, "is on") {
		t.Fatalf("dns dnssec on: %s", out)
	}
	testutil.WaitFor(t, "signed again", 10*time.Second, func() bool {
		return strings.Contains(b.dig("dig", "+short", "DNSKEY", "example.test"), "257 3 13 ")
	})
	if again, _, _ := registrarDS(t, b); again != anchor {
		t.Errorf("DS after turning on again %s, want the old %s", again, anchor)
	}
	if !resolves(t, startUnbound(t, anchor, b.DNS), "on again") {
		t.Error("not validated after turning DNSSEC on again")
	}
}
