package test

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// peakRSS returns the server's peak resident memory in MiB.
func (b *Box) peakRSS() float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", b.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			kb, _ := strconv.Atoi(strings.Fields(l)[1])
			return float64(kb) / 1024
		}
	}
	return 0
}

func TestHostileInputIsRefusedOrCutAndMemoryStaysBounded(t *testing.T) {
	b := newBox(t)
	mx := fmt.Sprintf("127.0.0.1:%d", b.SMTP)

	// Slow clients trickle one byte at a time on 100 connections while
	// everything below happens: the others are served meanwhile.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 100 {
		c, err := net.Dial("tcp", mx)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			for _, ch := range []byte("EHLO slow.example\r\nMAIL FROM:<slow@slow.example>\r\n") {
				select {
				case <-stop:
					return
				case <-time.After(200 * time.Millisecond):
				}
				c.Write([]byte{ch})
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()

	// A MIME tree nested 3000 deep, and a header block of 2 MB.
	var nested strings.Builder
	nested.WriteString("From: a@elsewhere.example\r\nSubject: nested\r\nMIME-Version: 1.0\r\n")
	for i := range 3000 {
		fmt.Fprintf(&nested, "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n", i, i)
	}
	nested.WriteString("Content-Type: text/plain\r\n\r\ndeep inside\r\n")
	var bigHeader strings.Builder
	bigHeader.WriteString("From: a@elsewhere.example\r\nSubject: big header\r\n")
	for i := range 20000 {
		fmt.Fprintf(&bigHeader, "X-Filler-%d: %s\r\n", i, strings.Repeat("x", 90))
	}
	bigHeader.WriteString("\r\nsmall body\r\n")
	for _, msg := range []string{nested.String(), bigHeader.String()} {
		if err := sendPlain(mx, "a@elsewhere.example", "me@example.test", msg); err != nil {
			t.Fatalf("sending a hostile but legal message: %v", err)
		}
	}
	// A line of megabytes is cut.
	c := b.Dial(b.SMTP)
	c.Expect("^220 ")
	c.Send("EHLO x.example")
	c.Expect("^250 ")
	c.c.Write([]byte("MAIL FROM:<" + strings.Repeat("a", 3<<20) + "@x.example>\r\n"))
	c.Expect("^500 5.4.0 ")

	// IMAP: the messages above are served; a literal of gigabytes is refused.
	ic := imapLogin(t, b)
	defer ic.Close()
	if _, err := ic.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := ic.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 2}}, &imap.FetchOptions{Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true}}).Collect()
	if err != nil || len(msgs) != 2 || msgs[0].Envelope.Subject != "nested" || msgs[1].Envelope.Subject != "big header" {
		t.Fatalf("fetch of hostile messages: %v, %d", err, len(msgs))
	}
	ac := ic.Append("INBOX", 9999999999, nil)
	_, err = ac.Wait()
	if err == nil || !strings.Contains(err.Error(), "TOOBIG") && !strings.Contains(err.Error(), "limit") {
		t.Errorf("a 9999999999-byte literal: %v", err)
	}

	// Meanwhile a normal client is served at once.
	start := time.Now()
	if out, code := b.Swaks("--server", mx, "--to", "me@example.test", "--h-Subject", "normal"); code != 0 {
		t.Fatalf("a normal client was not served: %s", out)
	}
	t.Logf("normal delivery beside 100 slow clients took %v", time.Since(start))
	if rss := b.peakRSS(); rss > 150 && os.Getenv("BOXMAIL_E2E_RACE") == "" { // the race detector costs memory
		t.Errorf("peak RSS %.0f MiB", rss)
	} else {
		t.Logf("peak RSS %.1f MiB", rss)
	}
}
