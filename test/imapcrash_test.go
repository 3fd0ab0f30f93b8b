package test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func imapLogin(t *testing.T, b *Box) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialTLS(fmt.Sprintf("127.0.0.1:%d", b.IMAPS), &imapclient.Options{TLSConfig: insecureTLS()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(b.Admin, b.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

// IMAP writes under kill -9: messages shuttled between INBOX and Archive
// with MOVE, flagged with STORE, copied and expunged, while the server is
// killed. Afterwards no message is lost or duplicated by MOVE and no UID
// is ever handed out twice.
func TestIMAPWritesSurviveKill9(t *testing.T) {
	b := newBox(t)
	const n = 30
	for i := range n {
		if out, code := b.Swaks("--server", fmt.Sprintf("127.0.0.1:%d", b.SMTP), "--to", "me@example.test", "--h-Subject", fmt.Sprintf("msg-%02d", i)); code != 0 {
			t.Fatalf("delivery: %s", out)
		}
	}
	maxUID := map[string]imap.UID{}
	for round := range 3 {
		c := imapLogin(t, b)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; i < 10000; i++ {
				from, to := "INBOX", "Archive"
				if i%2 == 1 {
					from, to = to, from
				}
				if _, err := c.Select(from, nil).Wait(); err != nil {
					return
				}
				if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
					return
				}
				if _, err := c.Move(imap.SeqSetNum(1, 2, 3), to).Wait(); err != nil {
					return
				}
				// A copy into Trash, then expunged there.
				if _, err := c.Copy(imap.SeqSetNum(1), "Trash").Wait(); err != nil {
					return
				}
			}
		}()
		time.Sleep(time.Duration(300+100*round) * time.Millisecond)
		b.cmd.Process.Kill()
		<-b.exited
		b.cmd = nil
		<-done
		c.Close()
		b.Start()

		c = imapLogin(t, b)
		seen := map[string]int{}
		for _, mb := range []string{"INBOX", "Archive"} {
			sel, err := c.Select(mb, nil).Wait()
			if err != nil {
				t.Fatal(err)
			}
			if sel.NumMessages == 0 {
				continue
			}
			msgs, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: sel.NumMessages}}, &imap.FetchOptions{UID: true, Envelope: true}).Collect()
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				seen[m.Envelope.Subject]++
			}
			// A new APPEND must get a UID above every UID ever seen.
			probe := []byte("Subject: probe\r\n\r\nprobe!\r\n")
			ac := c.Append(mb, int64(len(probe)), nil)
			ac.Write(probe)
			ac.Close()
			data, err := ac.Wait()
			if err != nil {
				t.Fatal(err)
			}
			if data.UID <= maxUID[mb] {
				t.Errorf("round %d: %s handed out UID %d again (max before %d)", round, mb, data.UID, maxUID[mb])
			}
			maxUID[mb] = max(maxUID[mb], data.UID, imap.UID(sel.UIDNext))
			// Remove the probe again.
			if err := c.Store(imap.UIDSetNum(data.UID), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
				t.Fatal(err)
			}
			if err := c.UIDExpunge(imap.UIDSetNum(data.UID)).Close(); err != nil {
				t.Fatal(err)
			}
		}
		c.Close()
		if len(seen) != n {
			t.Fatalf("round %d: %d distinct messages in INBOX+Archive, want %d", round, len(seen), n)
		}
		for s, k := range seen {
			if k != 1 || !strings.HasPrefix(s, "msg-") {
				t.Errorf("round %d: %q is there %d times", round, s, k)
			}
		}
	}
	b.Stop()
	integrityOK(t, b.Dir)
}
