package test

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"boxmail/internal/mailauth"
	"boxmail/internal/resolver"
)

// publishSelector adds the DNS record of one of the box's keys.
func publishSelector(t *testing.T, b *Box, fake *resolver.Fake, selector string) {
	t.Helper()
	st := b.OpenStore()
	defer st.Close()
	keys, _ := st.DKIMKeys(context.Background(), b.Domain)
	for _, k := range keys {
		if k.Selector == selector {
			rec, _ := mailauth.DKIMRecord(k.Private)
			if err := fake.Add(txtRecord(selector+"._domainkey."+b.Domain+".", rec)); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no key %s", selector)
}

func TestDKIMKeyRotation(t *testing.T) {
	fake := resolver.NewFake(`example.test. 300 IN MX 10 mail.example.test.`)
	dnsAddr := dnsServer(t, fake)
	b := newBoxWith(t, map[string]string{"resolvers": dnsAddr})
	publishSelector(t, b, fake, "mail")

	out, errs, code := b.Cmd("", "dkim", "rotate", "example.test")
	if code != 0 {
		t.Fatalf("rotate: %d %s", code, errs)
	}
	m := regexp.MustCompile(`under selector (\S+); it does not sign yet`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, m[1]+"._domainkey\tTXT\tv=DKIM1; k=rsa; p=") {
		t.Fatalf("rotate printed:\n%s", out)
	}
	sel := m[1]
	// Not published yet: no switch.
	if _, errs, code := b.Cmd("", "dkim", "activate", "example.test", sel, "--timeout", "1s"); code == 0 || !strings.Contains(errs, "not switching: no DKIM record at "+sel+"._domainkey") {
		t.Fatalf("activate before publishing: %d %s", code, errs)
	}
	publishSelector(t, b, fake, sel)
	if out, errs, code := b.Cmd("", "dkim", "activate", "example.test", sel); code != 0 || !strings.Contains(out, "instead of mail") {
		t.Fatalf("activate: %d %s %s", code, out, errs)
	}
	show, _, _ := b.Cmd("", "dkim", "show", "example.test")
	if !regexp.MustCompile(`(?m)^mail\._domainkey .* no$`).MatchString(show) || !regexp.MustCompile(`(?m)^`+sel+`\._domainkey .* yes$`).MatchString(show) {
		t.Errorf("dkim show:\n%s", show)
	}

	// The running server signs with the new key at once.
	out, code = b.Swaks("--server", fmt.Sprintf("127.0.0.1:%d", b.Submission), "-tls", "--auth-user", b.Admin, "--auth-password", b.Password,
		"--from", b.Admin, "--to", b.Admin, "--header", "Subject: after rotation")
	if code != 0 {
		t.Fatalf("swaks: %s", out)
	}
	msg := findMessage(b, "INBOX", "after rotation")
	if bytes.Count(msg, []byte("DKIM-Signature:")) != 1 || !bytes.Contains(msg, []byte("s="+sel+";")) {
		t.Fatalf("message:\n%s", msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if res := mailauth.VerifyDKIM(ctx, &resolver.Net{Servers: []string{dnsAddr}}, msg); len(res) != 1 || res[0].Result != "pass" {
		t.Errorf("verify: %+v", res)
	}

	if _, errs, code := b.Cmd("", "dkim", "remove", "example.test", sel); code == 0 || !strings.Contains(errs, "still signs") {
		t.Errorf("removing the signing key: %d %s", code, errs)
	}
	if out, errs, code := b.Cmd("", "dkim", "remove", "example.test", "mail"); code != 0 || !strings.Contains(out, "removed DKIM key mail") {
		t.Errorf("remove old key: %d %s %s", code, out, errs)
	}
	if _, errs, code := b.Cmd("", "dkim", "activate", "example.test"); code != 2 || !strings.Contains(errs, "DOMAIN SELECTOR") {
		t.Errorf("usage: %d %s", code, errs)
	}
}
