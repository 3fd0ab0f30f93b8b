package progress

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestABarOnATerminalShowsRateAndETA(t *testing.T) {
	var out bytes.Buffer
	b := NewOn(&out, true, "backup", "files")
	clk := &fakeClock{t: time.Unix(1000, 0)}
	b.now, b.start = clk.now, clk.t
	clk.t = clk.t.Add(2 * time.Second)
	b.Set(40, 100)
	got := out.String()
	if !strings.HasPrefix(got, "\r") || !strings.HasSuffix(got, "\x1b[K") {
		t.Errorf("not one redrawn line: %q", got)
	}
	for _, want := range []string{"backup [########............]  40% 40/100 files", "20.0 files/s", "ETA 3s"} {
		if !strings.Contains(got, want) {
			t.Errorf("line %q lacks %q", got, want)
		}
	}
	// Within minInterval nothing is redrawn, except the last step.
	out.Reset()
	clk.t = clk.t.Add(10 * time.Millisecond)
	b.Add(10)
	if out.Len() != 0 {
		t.Errorf("redrawn within %v: %q", minInterval, out.String())
	}
	b.Set(100, 100)
	if got := out.String(); !strings.Contains(got, "100% 100/100 files") || !strings.Contains(got, " in 2s") {
		t.Errorf("final line %q", got)
	}
	out.Reset()
	b.Finish()
	if out.String() != "\r\x1b[K" {
		t.Errorf("Finish wrote %q", out.String())
	}
}

func TestAnUnknownTotalCountsWithoutETA(t *testing.T) {
	var out bytes.Buffer
	b := NewOn(&out, true, "restore", "files")
	b.Add(3)
	if got := out.String(); !strings.Contains(got, "restore 3 files") || !strings.Contains(got, "ETA ?") {
		t.Errorf("line %q", got)
	}
}

func TestOffATerminalNothingIsDrawn(t *testing.T) {
	var out bytes.Buffer
	b := NewOn(&out, false, "backup", "files")
	b.Set(1, 2)
	b.Add(1)
	b.Finish()
	if b != nil || out.Len() != 0 {
		t.Errorf("drew off a terminal: %q", out.String())
	}
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if New(f, "backup", "files") != nil {
		t.Error("a regular file was taken for a terminal")
	}
	if New(&out, "backup", "files") != nil {
		t.Error("a buffer was taken for a terminal")
	}
}

func TestWorkersMayReportAtOnce(t *testing.T) {
	var out syncWriter
	b := NewOn(&out, true, "backup", "files")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				b.Add(1)
			}
		})
	}
	wg.Wait()
	b.Set(b.done, 800)
	if !strings.Contains(out.String(), "800/800") {
		t.Errorf("lost counts: %q", out.String())
	}
}

type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
