package test

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"boxmail/internal/testutil"
)

// OldProvider is a private Dovecot on loopback playing the old mail
// provider of a migration: IMAP and POP3 on free ports, users
// userN@old.test with password OldPassword, Maildir++ under Dir.
type OldProvider struct {
	t          testing.TB
	Dir        string
	IMAP, POP3 int
	pid        int
}

// OldPassword is every old-provider user's password.
const OldPassword = "old-provider-pass"

// newOldProvider starts Dovecot with users user1..userN@old.test.
func newOldProvider(t testing.TB, nusers int) *OldProvider {
	t.Helper()
	bin := needTool(t, "dovecot")
	for _, m := range []string{"imap", "pop3"} {
		if _, err := os.Stat("/usr/lib/dovecot/" + m); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("dovecot-%sd is required in CI", m)
			}
			t.Skipf("dovecot-%sd not installed", m)
		}
	}
	dir, err := os.MkdirTemp("", "oldprov")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	ports := testutil.FreePorts(t, 2)
	p := &OldProvider{t: t, Dir: dir, IMAP: ports[0], POP3: ports[1]}
	var users strings.Builder
	for i := 1; i <= nusers; i++ {
		fmt.Fprintf(&users, "user%d@old.test:{PLAIN}%s:8:8::%s::\n", i, OldPassword, p.home(fmt.Sprintf("user%d", i)))
	}
	must(t, os.WriteFile(filepath.Join(dir, "users"), []byte(users.String()), 0o644))
	for _, d := range []string{"run", "state", "mail"} {
		must(t, os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	conf := fmt.Sprintf(`instance_name = boxmail-test-old-%d
base_dir = %[2]s/run
state_dir = %[2]s/state
log_path = %[2]s/dovecot.log
listen = 127.0.0.1
protocols = imap pop3
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 8
mail_location = maildir:~/Maildir
passdb {
  driver = passwd-file
  args = %[2]s/users
}
userdb {
  driver = passwd-file
  args = %[2]s/users
}
namespace inbox {
  inbox = yes
  mailbox Sent {
    special_use = \Sent
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[3]d
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = %[4]d
  }
  inet_listener pop3s {
    port = 0
  }
}
service anvil {
  chroot =
}
`, ports[0], dir, p.IMAP, p.POP3)
	confFile := filepath.Join(dir, "dovecot.conf")
	must(t, os.WriteFile(confFile, []byte(conf), 0o644))
	// dovecot daemonises and its children keep stdout open: no pipes, or
	// Wait would wait for them.
	if err := exec.Command(bin, "-c", confFile).Run(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
		t.Fatalf("starting dovecot: %v\n%s", err, log)
	}
	// dovecot daemonises; its master writes its PID.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(filepath.Join(dir, "run", "master.pid")); err == nil {
			p.pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			if p.pid > 0 {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(p.Stop)
	if p.pid == 0 {
		t.Fatal("dovecot wrote no master.pid")
	}
	for _, port := range []int{p.IMAP, p.POP3} {
		for {
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
				t.Fatalf("dovecot port %d did not open\n%s", port, log)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return p
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (p *OldProvider) home(user string) string { return filepath.Join(p.Dir, "mail", user) }

// URL is the old provider's IMAP URL.
func (p *OldProvider) URL() string { return fmt.Sprintf("imap://127.0.0.1:%d", p.IMAP) }

// InboxCounts counts, through Dovecot's IMAP, the messages in user's
// INBOX whose Subject contains each of words.
func (p *OldProvider) InboxCounts(user string, words ...string) (map[string]int, error) {
	c, err := imapclient.DialInsecure(fmt.Sprintf("127.0.0.1:%d", p.IMAP), nil)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Login(user+"@old.test", OldPassword).Wait(); err != nil {
		return nil, err
	}
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, w := range words {
		d, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: w}}}, nil).Wait()
		if err != nil {
			return nil, err
		}
		out[w] = len(d.AllUIDs())
	}
	c.Logout().Wait()
	return out, nil
}

// Stop stops our Dovecot by its PID (checking it is still ours).
func (p *OldProvider) Stop() {
	if p.pid == 0 {
		return
	}
	cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.pid))
	if strings.Contains(string(cmd), p.Dir) {
		syscall.Kill(p.pid, syscall.SIGTERM)
		for range 100 {
			if syscall.Kill(p.pid, 0) != nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	p.pid = 0
}

// OldMessage is a message written into an old mailbox.
type OldMessage struct {
	Folder string // "INBOX", "Sent", "Work/2024" ("/" separated)
	Data   []byte
	Flags  string // Maildir info letters, sorted: "FRS"
	Date   time.Time
}

// Put writes messages into user's Maildir++ (as Dovecot keeps it; file
// mtime is the internal date), owned by the mail user.
func (p *OldProvider) Put(user string, msgs []OldMessage) {
	p.t.Helper()
	md := filepath.Join(p.home(user), "Maildir")
	for i, m := range msgs {
		dir := md
		if m.Folder != "INBOX" {
			dir = filepath.Join(md, "."+strings.ReplaceAll(encodeUTF7(m.Folder), "/", "."))
		}
		for _, s := range []string{"cur", "new", "tmp"} {
			must(p.t, os.MkdirAll(filepath.Join(dir, s), 0o700))
		}
		name := fmt.Sprintf("%d.M%dP%d.old.test:2,%s", m.Date.Unix(), i, rand.IntN(1e9), m.Flags)
		f := filepath.Join(dir, "cur", name)
		must(p.t, os.WriteFile(f, m.Data, 0o600))
		must(p.t, os.Chtimes(f, m.Date, m.Date))
	}
	filepath.Walk(p.home(user), func(path string, _ os.FileInfo, _ error) error {
		os.Chown(path, 8, 8)
		return nil
	})
	os.Chown(filepath.Join(p.Dir, "mail"), 8, 8)
}

// encodeUTF7 encodes a folder name in modified UTF-7 (RFC 3501 5.1.3),
// as Dovecot names Maildir++ folders on disk.
func encodeUTF7(s string) string {
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,"
	var out strings.Builder
	var units []uint16
	flush := func() {
		if len(units) == 0 {
			return
		}
		out.WriteByte('&')
		var bits, n uint32
		for _, u := range units {
			bits = bits<<16 | uint32(u)
			n += 16
			for n >= 6 {
				n -= 6
				out.WriteByte(b64[bits>>n&63])
			}
		}
		if n > 0 {
			out.WriteByte(b64[bits<<(6-n)&63])
		}
		out.WriteByte('-')
		units = nil
	}
	for _, r := range s {
		switch {
		case r == '&':
			flush()
			out.WriteString("&-")
		case r >= 0x20 && r < 0x7f:
			flush()
			out.WriteRune(r)
		case r >= 0x10000:
			r -= 0x10000
			units = append(units, uint16(0xd800+(r>>10)), uint16(0xdc00+(r&0x3ff)))
		default:
			units = append(units, uint16(r))
		}
	}
	flush()
	return out.String()
}
