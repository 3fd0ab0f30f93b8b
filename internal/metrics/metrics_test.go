package metrics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

// scrape returns the text a GET /metrics answers.
func scrape(t testing.TB, m *Metrics) string {
	t.Helper()
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", w.Code)
	}
	return w.Body.String()
}

func TestNilMetricsCountNothing(t *testing.T) {
	var m *Metrics
	m.MessageReceived(Accepted)
	m.Outbound(Delivered, "a@gmail.com")
	m.SpamVerdict("junk")
	m.Login("imap", true)
	m.LoginBlock()
	m.Session("smtp")()
	m.Idle()()
	m.DNSQuery("NOERROR")
	m.StoreCommit(3, time.Millisecond)
	m.Read(Sources{})
}

func TestCountersAppearInTheScrape(t *testing.T) {
	m := New(nil)
	before := scrape(t, m)
	for _, want := range []string{
		`boxmail_messages_received_total{result="accepted"} 0`,
		`boxmail_logins_total{protocol="pop3",result="failed"} 0`,
		`boxmail_sessions_open{protocol="imap"} 0`,
		`go_goroutines `, `process_resident_memory_bytes `,
	} {
		if !strings.Contains(before, want) {
			t.Errorf("a fresh scrape lacks %q", want)
		}
	}
	m.MessageReceived(Accepted)
	m.MessageReceived(Accepted)
	m.MessageReceived(Rejected)
	m.Outbound(Bounced, "grandma@hotmail.de")
	m.SpamVerdict("junk")
	m.Login("imap", false)
	m.LoginBlock()
	closeSMTP := m.Session("smtp")
	m.Session("smtp")()
	endIdle := m.Idle()
	m.DNSQuery("NXDOMAIN")
	m.StoreCommit(5, 3*time.Millisecond)
	m.Read(Sources{
		Queue: func(context.Context) (int64, time.Time, error) { return 7, time.Now().Add(-time.Hour), nil },
		LastBackup: func() (time.Time, error) {
			return time.Time{}, nil
		},
		CertificateExpiry: func() (time.Time, bool) { return time.Now().Add(48 * time.Hour), true },
	})
	got := scrape(t, m)
	for _, want := range []string{
		`boxmail_messages_received_total{result="accepted"} 2`,
		`boxmail_messages_received_total{result="rejected"} 1`,
		`boxmail_outbound_deliveries_total{class="microsoft",result="bounced"} 1`,
		`boxmail_spam_verdicts_total{verdict="junk"} 1`,
		`boxmail_logins_total{protocol="imap",result="failed"} 1`,
		`boxmail_guard_blocks_total 1`,
		`boxmail_sessions_open{protocol="smtp"} 1`,
		`boxmail_imap_idle_connections 1`,
		`boxmail_dns_queries_total{rcode="NXDOMAIN"} 1`,
		`boxmail_store_commit_batch_size_bucket{le="8"} 1`,
		`boxmail_store_commit_seconds_count 1`,
		`boxmail_queue_messages 7`,
		`boxmail_queue_oldest_age_seconds 3600`,
		`boxmail_backup_age_seconds +Inf`,
		`boxmail_tls_certificate_expiry_seconds 172`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	closeSMTP()
	endIdle()
	got = scrape(t, m)
	if !strings.Contains(got, `boxmail_sessions_open{protocol="smtp"} 0`) || !strings.Contains(got, "boxmail_imap_idle_connections 0") {
		t.Errorf("closed sessions still counted:\n%s", got)
	}
}

func TestAQueueThatCannotBeReadFailsOnlyItsGauge(t *testing.T) {
	m := New(nil)
	m.Read(Sources{Queue: func(context.Context) (int64, time.Time, error) {
		return 0, time.Time{}, errors.New("database is locked")
	}})
	m.MessageReceived(Accepted)
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	// promhttp answers 500 by default when a collector fails: the
	// scrape is marked down, which is what an unreadable store is.
	if w.Code != http.StatusInternalServerError {
		t.Errorf("status %d", w.Code)
	}
}

func TestServeAndShutdown(t *testing.T) {
	m := New(nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Serve(ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("GET /metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp, err = http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("GET /: %d, want 404", resp.StatusCode)
	}
	if err := m.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve after Shutdown: %v", err)
	}
}

// BenchmarkScrape is one scrape of a box's metrics with every series
// set, the queue read through a stub (the store's query is measured in
// bench/results/metrics-2026-12-06.md). The budget is 1 ms of CPU.
func BenchmarkScrape(b *testing.B) {
	m := New(nil)
	m.Read(Sources{
		Queue:             func(context.Context) (int64, time.Time, error) { return 12, time.Now().Add(-time.Minute), nil },
		LastBackup:        func() (time.Time, error) { return time.Now().Add(-time.Hour), nil },
		CertificateExpiry: func() (time.Time, bool) { return time.Now().Add(30 * 24 * time.Hour), true },
	})
	for i := range 1000 {
		m.MessageReceived(Accepted)
		m.StoreCommit(i%64+1, time.Duration(i)*time.Microsecond)
		m.Login(protocols[i%len(protocols)], i%7 != 0)
	}
	h := m.Handler()
	req := httptest.NewRequest("GET", "/metrics", nil)
	b.ReportAllocs()
	// CPU time (GC included) rather than wall time alone: the budget is
	// CPU, and a shared machine stretches the wall clock.
	cpu0 := cpuTime()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// The class label names the big providers and nothing else: a family's
// own correspondents never become a label.
func TestDomainClasses(t *testing.T) {
	for in, want := range map[string]string{
		"anna@gmail.com": "gmail", "GoogleMail.com.": "gmail", "x@hotmail.co.uk": "microsoft", "outlook.fr": "microsoft",
		"yahoo.co.jp": "yahoo", "aol.com": "yahoo", "me@icloud.com": "apple", "uncle@family.example": "other", "": "other",
	} {
		if got := DomainClass(in); got != want {
			t.Errorf("DomainClass(%q) = %q, want %q", in, got, want)
		}
	}
}
