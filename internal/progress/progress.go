// Package progress draws the one-line progress bar of the CLI's long
// jobs (backup run, restore): how far, how fast, and how long is left.
//
// It draws only on a terminal: written to a file or a pipe (cron, CI, a
// test) a Bar prints nothing, and the job's own summary says what was
// done. It is not a logger and keeps no history. A nil *Bar ignores every
// call, so a job may take one optionally.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// Bar is one job's progress line. Its methods are safe for concurrent
// use (a job's workers may all report).
type Bar struct {
	w     io.Writer
	label string
	unit  string
	now   func() time.Time

	mu          sync.Mutex
	done, total int64
	start, last time.Time
	drawn       bool
}

// minInterval bounds how often the line is redrawn.
const minInterval = 100 * time.Millisecond

// New returns a bar that draws on w when w is a terminal, else nil (which
// draws nothing). label names the job, unit what is counted ("files").
func New(w io.Writer, label, unit string) *Bar {
	f, ok := w.(*os.File)
	return NewOn(w, ok && term.IsTerminal(int(f.Fd())), label, unit)
}

// NewOn is New with the terminal test decided by the caller (tests pass
// true to see what a terminal would).
func NewOn(w io.Writer, terminal bool, label, unit string) *Bar {
	if !terminal {
		return nil
	}
	return &Bar{w: w, label: label, unit: unit, now: time.Now, start: time.Now()}
}

// Set reports done of total units (total 0: not known yet).
func (b *Bar) Set(done, total int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done, b.total = done, total
	b.draw(done >= total && total > 0)
}

// Add reports n more units done.
func (b *Bar) Add(n int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done += n
	b.draw(false)
}

// Finish clears the line, so the job's summary starts on a clean one.
func (b *Bar) Finish() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		_, _ = fmt.Fprint(b.w, "\r\x1b[K") // a terminal's line: nothing to recover
	}
}

// draw writes the line unless it was drawn less than minInterval ago
// (force: the last step). Called with mu held.
func (b *Bar) draw(force bool) {
	now := b.now()
	if !force && b.drawn && now.Sub(b.last) < minInterval {
		return
	}
	b.last, b.drawn = now, true
	_, _ = fmt.Fprint(b.w, "\r"+b.line(now)+"\x1b[K") // a terminal's line: nothing to recover
}

// line is the bar's text at now, e.g.
// "backup [########............] 40% 400/1000 files 80.0 files/s ETA 8s".
func (b *Bar) line(now time.Time) string {
	const width = 20
	elapsed := now.Sub(b.start).Seconds()
	rate := float64(b.done) / max(elapsed, 0.001)
	var s strings.Builder
	s.WriteString(b.label + " ")
	if b.total > 0 {
		n := int(min(b.done, b.total) * width / b.total)
		fmt.Fprintf(&s, "[%s%s] %3d%% %d/%d %s", strings.Repeat("#", n), strings.Repeat(".", width-n), min(b.done, b.total)*100/b.total, b.done, b.total, b.unit)
	} else {
		fmt.Fprintf(&s, "%d %s", b.done, b.unit)
	}
	fmt.Fprintf(&s, " %.1f %s/s", rate, b.unit)
	switch {
	case b.total > 0 && b.done >= b.total:
		fmt.Fprintf(&s, " in %s", time.Duration(elapsed*float64(time.Second)).Round(time.Second/10))
	case b.total > 0 && b.done > 0:
		left := time.Duration(float64(b.total-b.done) / rate * float64(time.Second))
		fmt.Fprintf(&s, " ETA %s", left.Round(time.Second))
	default:
		s.WriteString(" ETA ?")
	}
	return s.String()
}
