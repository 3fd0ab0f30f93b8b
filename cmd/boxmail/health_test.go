package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"boxmail/internal/config"
	"boxmail/internal/dnsrecords"
	"boxmail/internal/resolver"
	"boxmail/internal/store"
)

func TestReleaseCheck(t *testing.T) {
	for _, c := range []struct {
		latest, have string
		want         dnsrecords.Level
	}{
		{"", "0.1.0-dev", dnsrecords.OK},
		{"0.1.0", "0.1.0-dev", dnsrecords.OK},
		{"0.2.0", "0.1.0-dev", dnsrecords.Warn},
		{"v0.1.1", "0.1.0", dnsrecords.Warn},
		{"0.1.0", "0.2.0", dnsrecords.OK},
		{"1", "0.9.9", dnsrecords.Warn},
	} {
		if r := releaseCheck(c.latest, c.have); r.Level != c.want {
			t.Errorf("latest %q, have %q: %s (%s)", c.latest, c.have, r.Level, r.Found)
		}
	}
}

func TestPort25CheckIsBoundedAndWarnsOnly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	open := ln.Addr().String()
	ln.Close() // now closed: nothing answers there
	cfg := config.Default("box.example.net")
	cfg.Health.Port25Probe = open
	start := time.Now()
	if r := port25Check(context.Background(), cfg, resolver.NewFake(), time.Second); r.Level != dnsrecords.Warn || r.Fix == "" {
		t.Errorf("closed port: %+v", r)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()
	cfg.Health.Port25Probe = ln2.Addr().String()
	if r := port25Check(context.Background(), cfg, resolver.NewFake(), time.Second); r.Level != dnsrecords.OK {
		t.Errorf("open port: %+v", r)
	}
	// A name is looked up through the box's resolver, never the system's.
	_, port, _ := net.SplitHostPort(ln2.Addr().String())
	cfg.Health.Port25Probe = "mx.probe.example:" + port
	if r := port25Check(context.Background(), cfg, resolver.NewFake("mx.probe.example. A 127.0.0.1"), time.Second); r.Level != dnsrecords.OK {
		t.Errorf("open port by name: %+v", r)
	}
	if r := port25Check(context.Background(), cfg, resolver.NewFake(), time.Second); r.Level != dnsrecords.Warn || !strings.Contains(r.Found, "looking up mx.probe.example") {
		t.Errorf("unknown name: %+v", r)
	}
	cfg.Health.Port25Probe = open
	cfg.Outbound.Smarthost = "relay.example.net:587"
	if r := port25Check(context.Background(), cfg, resolver.NewFake(), time.Second); r.Level != dnsrecords.OK || !strings.Contains(r.Found, "smarthost") {
		t.Errorf("smarthost: %+v", r)
	}
}

func TestMemoryAndClockChecks(t *testing.T) {
	p := filepath.Join(t.TempDir(), "meminfo")
	os.WriteFile(p, []byte("MemTotal:       1000000 kB\nMemFree:         10000 kB\nMemAvailable:    150000 kB\n"), 0o600)
	if r := memoryCheck(p); r.Level != dnsrecords.Warn || !strings.HasPrefix(r.Found, "15% available") {
		t.Errorf("memory: %+v", r)
	}
	cfg := config.Default("box.example.net")
	if r := clockCheck(cfg, time.Second, time.Now()); r.Level != dnsrecords.OK || !strings.HasPrefix(r.Found, "not checked") {
		t.Errorf("clock: %+v", r)
	}
}

func TestTheStatusMailGoesOutOnlyWhenSomethingChanged(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.AddDomain(ctx, "example.net"); err != nil {
		t.Fatal(err)
	}
	acct, err := st.AddAccount(ctx, "admin@example.net", "a-long-password-1", true)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default("box.example.net")
	d, err := newDeliverer(dir, cfg, st, newResolver(cfg), slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	disk := dnsrecords.Result{Level: dnsrecords.Warn, Subject: "machine", Check: "free disk", Found: "15% free"}
	ok := dnsrecords.Result{Level: dnsrecords.OK, Subject: "machine", Check: "memory", Found: "50%"}
	now := time.Now()
	for i, c := range []struct {
		results []dnsrecords.Result
		sent    bool
	}{
		{[]dnsrecords.Result{ok}, false}, // all ok, as remembered when nothing is
		{[]dnsrecords.Result{ok, disk}, true},
		{[]dnsrecords.Result{ok, func() dnsrecords.Result { r := disk; r.Found = "14% free"; return r }()}, false}, // the text moved, not the level
		{[]dnsrecords.Result{ok}, true}, // resolved
	} {
		sent, err := statusMail(ctx, cfg, st, d, c.results, now)
		if err != nil || sent != c.sent {
			t.Fatalf("step %d: sent %v, %v", i, sent, err)
		}
	}
	mb, err := st.MailboxByName(ctx, acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := st.Messages(ctx, mb.ID, 1, 0)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("%d mails in the admin's INBOX, %v", len(msgs), err)
	}
	body, _ := st.Body(ctx, msgs[1].BodyID)
	if !strings.Contains(string(body), "RESOLVED (was warn)  machine free disk") {
		t.Errorf("second mail:\n%s", body)
	}
	// The usage report: the first run starts the week, a week later it goes.
	if sent, err := usageReport(ctx, cfg, st, d, now); sent || err != nil {
		t.Fatalf("first usage report: %v %v", sent, err)
	}
	if sent, err := usageReport(ctx, cfg, st, d, now.Add(8*24*time.Hour)); !sent || err != nil {
		t.Fatalf("a week later: %v %v", sent, err)
	}
	msgs, _ = st.Messages(ctx, mb.ID, 1, 0)
	body, _ = st.Body(ctx, msgs[len(msgs)-1].BodyID)
	if !strings.Contains(string(body), "admin@example.net") || !strings.Contains(string(body), "spam caught") {
		t.Errorf("usage report:\n%s", body)
	}
}
