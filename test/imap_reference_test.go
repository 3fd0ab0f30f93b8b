package test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"boxmail/internal/testutil"
)

// RefDovecot is the reference IMAP server the IMAP dialogs
// (imap_dialogs_test.go) also run against: Dovecot with the plugins a
// family mail server's IMAP needs (quota, COMPRESS), TLS on the plain
// port (STARTTLS, plaintext LOGIN refused before it) and on IMAPS, the
// same special-use mailboxes a new boxmail account gets, "/" as the
// hierarchy separator, and any user of example.test logging in with
// testPassword. Unlike OldProvider (the old provider of a migration) it
// is shaped to look like a box from an IMAP client's seat.
type RefDovecot struct {
	t           testing.TB
	Dir         string
	IMAP, IMAPS int
	conf        string
	pid         int
}

// refDovecotQuota is every reference user's storage quota: the dialogs
// give boxmail users the same with `boxmail user quota EMAIL 2M`.
const refDovecotQuota = "2M"

// newRefDovecot starts the reference Dovecot; it fails (in CI) or skips
// the test when Dovecot is not installed.
func newRefDovecot(t testing.TB) *RefDovecot {
	t.Helper()
	bin := needTool(t, "dovecot")
	for _, f := range []string{"imap", "dovecot-lda", "modules/lib10_quota_plugin.so", "modules/lib30_imap_zlib_plugin.so"} {
		if _, err := os.Stat("/usr/lib/dovecot/" + f); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("dovecot's %s is required in CI", f)
			}
			t.Skipf("dovecot's %s is not installed", f)
		}
	}
	// A short directory: Dovecot's unix sockets live under it.
	dir, err := os.MkdirTemp("", "refdc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	must(t, os.Chmod(dir, 0o755))
	ports := testutil.FreePorts(t, 2)
	d := &RefDovecot{t: t, Dir: dir, IMAP: ports[0], IMAPS: ports[1], conf: filepath.Join(dir, "dovecot.conf")}
	for _, sub := range []string{"run", "state", "mail"} {
		must(t, os.MkdirAll(filepath.Join(dir, sub), 0o755))
	}
	must(t, os.Chown(filepath.Join(dir, "mail"), 8, 8))
	certPEM, keyPEM := testutil.CertPEM(t, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), "mail.example.test")
	must(t, os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600))
	must(t, os.WriteFile(d.conf, []byte(refDovecotConf(dir, d.IMAP, d.IMAPS)), 0o644))
	// dovecot daemonises and its children keep stdout open: no pipes.
	if err := exec.Command(bin, "-c", d.conf).Run(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
		t.Fatalf("starting the reference dovecot: %v\n%s", err, log)
	}
	t.Cleanup(d.Stop)
	deadline := time.Now().Add(10 * time.Second)
	for d.pid == 0 && time.Now().Before(deadline) {
		if b, err := os.ReadFile(filepath.Join(dir, "run", "master.pid")); err == nil {
			d.pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d.pid == 0 {
		t.Fatal("the reference dovecot wrote no master.pid")
	}
	for _, port := range ports {
		for {
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the reference dovecot's port %d did not open\n%s", port, d.Log())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return d
}

// refDovecotConf is the reference Dovecot's configuration.
func refDovecotConf(dir string, imapPort, imapsPort int) string {
	return fmt.Sprintf(`instance_name = boxmail-test-ref-%[2]d
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = yes
ssl_cert = <%[1]s/cert.pem
ssl_key = <%[1]s/key.pem
disable_plaintext_auth = yes
auth_mechanisms = plain login
first_valid_uid = 8
mail_location = maildir:~/Maildir
postmaster_address = postmaster@example.test
# IDLE pushes within a second (the dialogs read with a 10 s limit).
mailbox_idle_check_interval = 1 secs
mail_plugins = $mail_plugins quota
passdb {
  driver = static
  args = password=%[4]s
}
userdb {
  driver = static
  args = uid=8 gid=8 home=%[1]s/mail/%%u
}
namespace inbox {
  inbox = yes
  separator = /
  mailbox INBOX {
    auto = subscribe
  }
  mailbox Sent {
    auto = subscribe
    special_use = \Sent
  }
  mailbox Drafts {
    auto = subscribe
    special_use = \Drafts
  }
  mailbox Trash {
    auto = subscribe
    special_use = \Trash
  }
  mailbox Junk {
    auto = subscribe
    special_use = \Junk
  }
  mailbox Archive {
    auto = subscribe
    special_use = \Archive
  }
}
protocol imap {
  mail_plugins = $mail_plugins imap_quota imap_zlib
}
plugin {
  quota = maildir:User quota
  quota_rule = *:storage=%[5]s
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[2]d
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = %[3]d
    ssl = yes
  }
}
service anvil {
  chroot =
}
`, dir, imapPort, imapsPort, testPassword, refDovecotQuota)
}

// Log is the reference Dovecot's log so far.
func (d *RefDovecot) Log() string {
	b, _ := os.ReadFile(filepath.Join(d.Dir, "dovecot.log"))
	return string(b)
}

// Deliver delivers msg to user's INBOX with dovecot-lda, Dovecot's own
// local delivery (what its LMTP would do after a box's SMTP).
func (d *RefDovecot) Deliver(user string, msg []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/lib/dovecot/dovecot-lda", "-c", d.conf, "-d", user, "-f", "sender@elsewhere.example")
	cmd.Stdin = bytes.NewReader(msg)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("dovecot-lda: %w\n%s", err, out)
	}
	return nil
}

// Stop stops the reference Dovecot by its PID (checking it is ours).
func (d *RefDovecot) Stop() {
	if d.pid == 0 {
		return
	}
	cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", d.pid))
	if strings.Contains(string(cmd), d.Dir) {
		if err := syscall.Kill(d.pid, syscall.SIGTERM); err == nil {
			for range 100 {
				if syscall.Kill(d.pid, 0) != nil {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	d.pid = 0
}
