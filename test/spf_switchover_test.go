package test

// The SPF switch-over of the seed's story (issue 24 item 1): the relaxed
// record of 'boxmail spf include' keeps authorising the old provider
// after MX moves to the box, and nothing calls SPF hardened while a user
// still sends through the old provider.

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"boxmail/internal/mailauth"
	"boxmail/internal/resolver"
	"boxmail/internal/testutil"
)

// spfOf evaluates the SPF policy of example.test for a message from ip,
// as a receiver asking the test's DNS would.
func spfOf(t *testing.T, dnsAddr, ip string) mailauth.SPFStatus {
	t.Helper()
	r := resolver.Servers([]string{dnsAddr})
	r.Timeout = 2 * time.Second
	res, err := mailauth.CheckSPF(context.Background(), r, netip.MustParseAddr(ip), "mx.oldprovider.test", "alice@example.test")
	if res.Status == mailauth.SPFTempError {
		t.Fatalf("SPF of %s: %v", ip, err)
	}
	return res.Status
}

func TestSPFSwitchoverKeepsTheOldProviderAuthorised(t *testing.T) {
	w := startWorld(t)
	b := newBoxWith(t, map[string]string{"resolvers": w.addr, "public_ipv4": "127.0.0.1"})
	if _, errs, code := b.Cmd(testPassword+"\n", "user", "add", "alice@example.test"); code != 0 {
		t.Fatalf("user add: %s", errs)
	}
	// me@ switched (logged in at the box); alice@ never does.
	if got := imapsLogin(t, b.IMAPS, b.Admin, b.Password); !strings.HasPrefix(got, "a OK") {
		t.Fatalf("IMAPS login: %q", got)
	}

	box := []string{"mail.example.test. A 127.0.0.1", `mail.example.test. TXT "v=spf1 ip4:127.0.0.1 -all"`}
	oldProvider := "mx.oldprovider.test. A 127.0.0.9"

	// Before the switch: MX and "v=spf1 mx -all" at the old provider.
	w.set(t, append(box, oldProvider, "example.test. MX 10 mx.oldprovider.test.", `example.test. TXT "v=spf1 mx -all"`)...)
	out, errs, code := b.Cmd("", "spf", "include", "v=spf1 mx -all")
	relaxed := strings.TrimSpace(out)
	if code != 0 || !strings.Contains(" "+relaxed+" ", " ip4:127.0.0.9 ") || !strings.Contains(relaxed, " include:mail.example.test ") ||
		strings.Contains(" "+relaxed+" ", " mx ") {
		t.Fatalf("spf include: exit %d, record %q, want the old provider's address named, the box included, no mx\n%s", code, relaxed, errs)
	}
	if !strings.Contains(errs, "mx.oldprovider.test") || !strings.Contains(errs, `"mx" would mean the box`) {
		t.Errorf("spf include does not explain the replacement:\n%s", errs)
	}

	// The switch: MX at the box, the relaxed record published. A receiver
	// still accepts the old provider's servers, and the box.
	w.set(t, append(box, oldProvider, "example.test. MX 10 mail.example.test.", fmt.Sprintf("example.test. TXT %q", relaxed))...)
	for ip, want := range map[string]mailauth.SPFStatus{"127.0.0.9": mailauth.SPFPass, "127.0.0.1": mailauth.SPFPass, "192.0.2.66": mailauth.SPFFail} {
		if got := spfOf(t, w.addr, ip); got != want {
			t.Errorf("after the switch, mail from %s: SPF %s, want %s (record %q)", ip, got, want, relaxed)
		}
	}
	res, sout, _ := status(t, b, "example.test", "--no-ports")
	if l := res["example.test switch-over"]; !strings.HasPrefix(l, "warn ") || !strings.Contains(l, "SPF relaxed") {
		t.Errorf("status with the relaxed record after the switch: %q\n%s", l, sout)
	}

	// Hardening while alice@ has not switched: a warning naming her; the
	// record is still printed.
	out, errs, code = b.Cmd("", "spf", "harden", "example.test")
	if code != 0 || strings.TrimSpace(out) != "v=spf1 mx -all" || !regexp.MustCompile(`(?m)^warning: alice@example\.test .*not switched`).MatchString(errs) ||
		strings.Contains(errs, "warning: me@example.test") {
		t.Errorf("spf harden with alice@ not switched: exit %d, %q\n%s", code, out, errs)
	}

	// Hardened too early: neither status nor the checklist says hardened
	// or complete; both name alice@.
	w.set(t, append(box, oldProvider, "example.test. MX 10 mail.example.test.", `example.test. TXT "v=spf1 mx -all"`)...)
	res, sout, _ = status(t, b, "example.test", "--no-ports")
	if l := res["example.test switch-over"]; !strings.HasPrefix(l, "warn ") || !strings.Contains(l, "alice@example.test") || strings.Contains(l, "complete") {
		t.Errorf("status, hardened with alice@ not switched: %q\n%s", l, sout)
	}
	mout := mustRun(t, "", "migrate", "status", "example.test", "--dir", b.Dir, "--timeout", "2s")
	step7 := regexp.MustCompile(`(?m)^  7\. .*$`).FindString(mout)
	if strings.Contains(step7, "7. done") || !strings.Contains(step7, "alice@example.test") || strings.Contains(mout, "migration is complete") {
		t.Errorf("migrate status, hardened with alice@ not switched:\n%s", mout)
	}

	// A second domain: which domain "mx" means must be given.
	mustRun(t, "", "domain", "add", "example.org", "--dir", b.Dir)
	if _, errs, code := b.Cmd("", "spf", "include", "v=spf1 mx -all"); code != 2 || !strings.Contains(errs, "--domain") {
		t.Errorf("two domains, no --domain: exit %d, %q", code, errs)
	}

	// DNS does not answer: a clear refusal, never a record.
	conf := filepath.Join(b.Dir, "boxmail.conf")
	c, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	dead := "127.0.0.1:" + strconv.Itoa(testutil.FreePort(t))
	if err := os.WriteFile(conf, regexp.MustCompile(`(?m)^resolvers = .*$`).ReplaceAll(c, []byte("resolvers = "+dead)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errs, code = b.Cmd("", "spf", "include", "v=spf1 mx -all", "--domain", "example.test", "--timeout", "300ms")
	if code != 1 || out != "" || !strings.Contains(errs, "cannot resolve mx") {
		t.Errorf("DNS down: exit %d, %q, %q", code, out, errs)
	}
}
