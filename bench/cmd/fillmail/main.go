// Command fillmail fills a mailbox with N generated messages for the IMAP
// benchmark, the same messages in either of two places:
//
//	fillmail -store DATADIR -account user1@bench.test [-n 100000]
//	fillmail -maildir .../userN/Maildir [-n 100000]
//
// -store delivers straight into a stopped boxmail's database with
// store.Deliver from many goroutines, so group commit shares the fsyncs;
// -maildir writes one file per message into Maildir/new (LF line endings,
// as Dovecot's LMTP stores them). Message i (1-based) has the subject
// "bench message i topic-NNNN" with NNNN = i mod 1000, and the body word
// "zebraneedle" when i is a multiple of 500 (imapbench searches for both).
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"boxmail/internal/store"
)

var words = []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
	"india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo",
	"sierra", "tango", "uniform", "victor", "whiskey", "xray", "yankee", "mail", "server",
	"benchmark", "message", "inbox", "folder", "report", "meeting", "tomorrow", "invoice"}

// message returns message i with the given line ending.
func message(i int, nl string) []byte {
	r := rand.New(rand.NewPCG(uint64(i), 4711))
	var b bytes.Buffer
	date := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
	fmt.Fprintf(&b, "From: Sender %d <sender%d@example.org>%s", i%97, i%97, nl)
	fmt.Fprintf(&b, "To: user1@bench.test%s", nl)
	fmt.Fprintf(&b, "Subject: bench message %d topic-%04d%s", i, i%1000, nl)
	fmt.Fprintf(&b, "Date: %s%s", date.Format(time.RFC1123Z), nl)
	fmt.Fprintf(&b, "Message-ID: <%d.fill@bench.test>%s", i, nl)
	fmt.Fprintf(&b, "MIME-Version: 1.0%sContent-Type: text/plain; charset=us-ascii%s%s", nl, nl, nl)
	lines := 20 + r.IntN(30) // 1.3-3.3 KiB
	for l := range lines {
		for w := range 10 {
			if w > 0 {
				b.WriteByte(' ')
			}
			if i%500 == 0 && l == lines/2 && w == 5 {
				b.WriteString("zebraneedle")
				continue
			}
			b.WriteString(words[r.IntN(len(words))])
		}
		b.WriteString(nl)
	}
	return b.Bytes()
}

func main() {
	dir := flag.String("store", "", "boxmail data dir (the server must be stopped)")
	account := flag.String("account", "user1@bench.test", "account to fill (with -store)")
	maildir := flag.String("maildir", "", "Maildir to fill (files in new/)")
	n := flag.Int("n", 100000, "messages")
	flag.Parse()
	start := time.Now()
	var err error
	switch {
	case *dir != "":
		err = fillStore(*dir, *account, *n)
	case *maildir != "":
		err = fillMaildir(*maildir, *n)
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fillmail:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "fillmail: %d messages in %.1fs\n", *n, time.Since(start).Seconds())
}

func fillStore(dir, account string, n int) (err error) {
	ctx := context.Background()
	st, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, st.Close()) }()
	a, err := st.AccountByEmail(ctx, account)
	if err != nil {
		return fmt.Errorf("%s: %w", account, err)
	}
	const workers = 512 // enough to fill the writer's batches of 256
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	received := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if i > n {
					return
				}
				d := store.Delivery{Data: message(i, "\r\n"), Received: received.Add(time.Duration(i) * time.Minute),
					Local: []store.LocalTarget{{AccountID: a.ID}}}
				if err := st.Deliver(ctx, d); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					next.Store(int64(n)) // stop the others
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

func fillMaildir(md string, n int) error {
	for _, sub := range []string{"new", "cur", "tmp"} {
		if err := os.MkdirAll(filepath.Join(md, sub), 0o700); err != nil {
			return err
		}
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for i := 1; i <= n; i++ {
		data := message(i, "\n")
		// Maildir name: time.M<unique>P<pid>.host,S=<size>; the time orders
		// the files as they were "delivered", so UIDs follow i.
		name := fmt.Sprintf("%d.M%dP1.bench,S=%d", base+int64(i)*60, i, len(data))
		if err := os.WriteFile(filepath.Join(md, "new", name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}
