package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

// fakeRspamd answers /checkv2 with score and records what it was sent.
type fakeRspamd struct {
	mu      sync.Mutex
	score   float64
	delay   time.Duration
	huge    bool
	checked []http.Header
	learned []string // "spam:FIRSTLINE" / "ham:FIRSTLINE"
}

func (f *fakeRspamd) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	score, delay, huge := f.score, f.delay, f.huge
	first, _, _ := strings.Cut(string(body), "\r\n")
	switch r.URL.Path {
	case "/checkv2":
		f.checked = append(f.checked, r.Header.Clone())
	case "/learnspam":
		f.learned = append(f.learned, "spam:"+first)
	case "/learnham":
		f.learned = append(f.learned, "ham:"+first)
	default:
		f.mu.Unlock()
		http.NotFound(w, r)
		return
	}
	f.mu.Unlock()
	if r.URL.Path != "/checkv2" {
		w.Write([]byte(`{"success":true}`))
		return
	}
	time.Sleep(delay)
	ans := map[string]any{"score": score, "required_score": 15, "action": "reject", "is_skipped": false}
	if huge {
		ans["symbols"] = strings.Repeat("x", rspamdMaxAnswer)
	}
	json.NewEncoder(w).Encode(ans)
}

// rspamd's verdict joins ours (a message we call ham goes to Junk when
// rspamd would refuse it); an rspamd that is slow, answers too much or is
// gone leaves our verdict alone within the time cap; training is
// forwarded.
func TestRspamdAdapter(t *testing.T) {
	fake := &fakeRspamd{score: 16}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	f := newFamily(t)
	f.with(Options{Hostname: "mx.example.net", Spam: &SpamOptions{RspamdURL: srv.URL + "/"}})
	f.d.spam.rspamd.timeout = 300 * time.Millisecond

	mb, body := deliverTo(t, f, "me@example.net", hamMsg(1))
	if mb != "Junk" || !bytes.Contains(body, []byte("rspamd=+8.00 (16.00, reject)")) {
		t.Fatalf("rspamd's reject did not send the message to Junk: %s\n%s", mb, body)
	}
	fake.mu.Lock()
	h := fake.checked[0]
	fake.mu.Unlock()
	if h.Get("From") != "x@sender.test" || h.Get("Pass") != "all" {
		t.Errorf("/checkv2 headers: %v", h)
	}

	fake.mu.Lock()
	fake.score = -3
	fake.mu.Unlock()
	if mb, body := deliverTo(t, f, "me@example.net", hamMsg(2)); mb != "INBOX" || !bytes.Contains(body, []byte("rspamd=-1.50")) {
		t.Fatalf("rspamd's ham verdict: %s\n%s", mb, body)
	}

	// Slow, then an answer over the cap: our verdict alone, in time.
	for _, c := range []struct {
		name  string
		delay time.Duration
		huge  bool
	}{{"slow", 2 * time.Second, false}, {"huge", 0, true}} {
		fake.mu.Lock()
		fake.score, fake.delay, fake.huge = 16, c.delay, c.huge
		fake.mu.Unlock()
		start := time.Now()
		mb, body := deliverTo(t, f, "me@example.net", hamMsg(3))
		if took := time.Since(start); took > 1500*time.Millisecond {
			t.Errorf("%s rspamd held the delivery %v", c.name, took)
		}
		if mb != "INBOX" || bytes.Contains(body, []byte("rspamd=")) {
			t.Errorf("%s rspamd: %s\n%s", c.name, mb, body)
		}
	}

	// Training is forwarded by the trainer.
	f.d.spam.startTrainer()
	defer f.d.spam.stopTrainer()
	ctx := context.Background()
	if err := f.d.TrainSpam(ctx, []TrainInput{{AccountID: f.me, Data: spamMsg(7), Class: store.SpamClassSpam}, {AccountID: f.me, Data: hamMsg(7), Class: store.SpamClassHam}}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "training forwarded", 5*time.Second, func() bool {
		fake.mu.Lock()
		defer fake.mu.Unlock()
		return len(fake.learned) == 2 && fake.learned[0] == "spam:From: promo7@deals.test" && fake.learned[1] == "ham:From: aunt7@family.test"
	})

	// rspamd gone: our verdict alone.
	srv.Close()
	if mb, _ := deliverTo(t, f, "me@example.net", hamMsg(4)); mb != "INBOX" {
		t.Fatalf("with rspamd gone, ham went to %s", mb)
	}
}
