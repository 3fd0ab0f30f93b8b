package test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"boxmail/internal/testutil"
)

// Postfix is a private Postfix instance playing a family's friend's mail
// provider: it accepts mail for friends.example on 127.0.0.2:PORT and
// stores it in Maildirs with its virtual delivery agent. Unknown users are
// refused at RCPT, as a real provider does.
type Postfix struct {
	t    *testing.T
	Dir  string
	Addr string
	ns   *netNS // the network namespace it runs in; nil: the test's
}

func startPostfix(t *testing.T, users ...string) *Postfix {
	t.Helper()
	mailboxes := map[string]string{}
	for _, u := range users {
		mailboxes[u] = "friends.example/" + u + "/"
	}
	return startPostfixWith(t, postfixOptions{Domain: "friends.example", Mailboxes: mailboxes})
}

// postfixOptions say which provider a private Postfix plays.
type postfixOptions struct {
	Domain string // the only domain it accepts mail for
	// Base is virtual_mailbox_base (default DIR/mail); Mailboxes maps a
	// local part of Domain to its Maildir, relative to Base and ending in
	// "/". Postfix writes as uid/gid 8 (mail), as the old provider's
	// Dovecot reads.
	Base      string
	Mailboxes map[string]string
	// MainCF and MasterCF are lines added to main.cf (a later setting
	// overrides an earlier one) and master.cf.
	MainCF, MasterCF string
	// NS is the network namespace it runs in (dane_postfix_test.go);
	// nil: the test's own.
	NS *netNS
}

// startPostfixWith starts a private Postfix that accepts mail for
// o.Domain on 127.0.0.2:PORT and delivers it with its virtual delivery
// agent into the Maildirs of o.Mailboxes. The box connects from
// 127.0.0.1, an address of the instance's inet_interfaces, so Postfix
// treats it as a local client and adds a Message-ID or Date a message
// lacks, as big providers do for any incoming message.
func startPostfixWith(t *testing.T, o postfixOptions) *Postfix {
	t.Helper()
	needTool(t, "postfix")
	dir, err := os.MkdirTemp("", "boxmail-postfix")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() {
		if os.Getenv("KEEP_POSTFIX") == "" {
			os.RemoveAll(dir)
		}
	})
	p := &Postfix{t: t, Dir: dir, ns: o.NS}
	for _, d := range []string{"conf", "queue", "data", "mail"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	exec.Command("chown", "postfix", filepath.Join(dir, "data")).Run()
	exec.Command("chown", "mail:mail", filepath.Join(dir, "mail")).Run()
	if o.Base == "" {
		o.Base = filepath.Join(dir, "mail")
	}
	var vmap strings.Builder
	for u, md := range o.Mailboxes {
		fmt.Fprintf(&vmap, "%s@%s %s\n", u, o.Domain, md)
	}
	os.WriteFile(filepath.Join(dir, "conf", "vmailbox"), []byte(vmap.String()), 0o644)
	mainCF := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/queue
data_directory = %[1]s/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = %[1]s/postfix.log
maillog_file_prefixes = %[1]s
myhostname = mx.%[2]s
mydomain = %[2]s
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains =
default_transport = error:outbound delivery disabled (test)
relay_transport = error:outbound delivery disabled (test)
local_transport = error:local delivery disabled (test)
alias_maps =
alias_database =
local_recipient_maps =
virtual_mailbox_domains = %[2]s
virtual_mailbox_maps = texthash:%[1]s/conf/vmailbox
virtual_mailbox_base = %[3]s
virtual_uid_maps = static:8
virtual_gid_maps = static:8
virtual_minimum_uid = 8
virtual_transport = virtual
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions = reject_unauth_destination
smtpd_banner = $myhostname ESMTP %[4]s-provider
biff = no
`, dir, o.Domain, o.Base, strings.Split(o.Domain, ".")[0])
	mainCF = withSettings(mainCF, o.MainCF)
	os.WriteFile(filepath.Join(dir, "conf", "main.cf"), []byte(mainCF), 0o644)
	// A port free now may be taken before Postfix binds it (another
	// test's client dialling from 127.0.0.2 gets an ephemeral port there),
	// so a bind clash picks another port.
	for attempt := 1; ; attempt++ {
		port := testutil.FreePortOn(t, "127.0.0.2")
		p.Addr = fmt.Sprintf("127.0.0.2:%d", port)
		os.WriteFile(filepath.Join(dir, "conf", "master.cf"), []byte(postfixMasterCF(port)+o.MasterCF), 0o644)
		err := p.start()
		if err == nil {
			break
		}
		if attempt == 5 || !strings.Contains(err.Error(), "Address already in use") {
			t.Fatal(err)
		}
	}
	t.Cleanup(p.Stop)
	return p
}

// withSettings sets each "name = value" line of extra in the main.cf
// text cf: in place of the line that sets name, else at the end. A
// setting given twice makes every Postfix process warn at start, and
// the burst of log lines can fill the postlog socket before postlogd
// reads it.
func withSettings(cf, extra string) string {
	for _, l := range strings.Split(strings.TrimSpace(extra), "\n") {
		name, _, ok := strings.Cut(l, "=")
		if !ok {
			continue
		}
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(strings.TrimSpace(name)) + ` = .*$`)
		if re.MatchString(cf) {
			cf = re.ReplaceAllLiteralString(cf, l)
		} else {
			cf += l + "\n"
		}
	}
	return cf
}

func postfixMasterCF(port int) string {
	return fmt.Sprintf(`127.0.0.2:%d inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
virtual   unix  - n n - - virtual
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
`, port)
}

// startOldMX starts a Postfix as the old provider's MX: mail for
// userN@old.test goes into the Maildir that old's Dovecot serves as
// userN's INBOX (mail_location maildir:~/Maildir), written by uid 8 as
// Dovecot reads it.
func startOldMX(t *testing.T, old *OldProvider, users ...string) *Postfix {
	t.Helper()
	mailboxes := map[string]string{}
	for _, u := range users {
		mailboxes[u] = u + "/Maildir/"
	}
	return startPostfixWith(t, postfixOptions{Domain: "old.test", Base: filepath.Join(old.Dir, "mail"), Mailboxes: mailboxes})
}

// Start starts (or restarts) the instance and waits for its port.
func (p *Postfix) Start() {
	p.t.Helper()
	if err := p.start(); err != nil {
		p.t.Fatal(err)
	}
}

func (p *Postfix) start() error {
	if out, err := p.command(context.Background(), "postfix", "-c", filepath.Join(p.Dir, "conf"), "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(p.Dir, "postfix.log"))
		return fmt.Errorf("postfix start: %v\n%s\n%s", err, out, log)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := p.dial(p.Addr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("postfix did not open %s", p.Addr)
}

// Stop stops the instance (only ours: by its config directory).
func (p *Postfix) Stop() {
	// Bounded: a stop that hangs (its master gone, postfix-script's
	// 'master -t' waiting on a dead postlog socket) must not hang the test.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stop := p.command(ctx, "postfix", "-c", filepath.Join(p.Dir, "conf"), "stop")
	stop.WaitDelay = time.Second
	if err := stop.Run(); ctx.Err() != nil {
		p.t.Errorf("postfix stop did not finish within 30s: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := p.dial(p.Addr)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(50 * time.Millisecond)
	}
}

// command runs a command where the instance runs (its namespace),
// killed when ctx ends.
func (p *Postfix) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	if p.ns != nil {
		args = append([]string{"netns", "exec", p.ns.Name, name}, args...)
		name = "ip"
	}
	return exec.CommandContext(ctx, name, args...)
}

// dial connects to addr from where the instance runs.
func (p *Postfix) dial(addr string) (net.Conn, error) {
	if p.ns != nil {
		return p.ns.dial(addr)
	}
	return dialTCP(addr)
}

// Mail returns the messages delivered to user's Maildir.
func (p *Postfix) Mail(user string) []string {
	var out []string
	for _, sub := range []string{"new", "cur"} {
		files, _ := filepath.Glob(filepath.Join(p.Dir, "mail", "friends.example", user, sub, "*"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err == nil {
				out = append(out, string(b))
			}
		}
	}
	return out
}

func TestAMessageToAFriendReachesARealPostfixSignedAndBouncesComeBack(t *testing.T) {
	p := startPostfix(t, "anna")
	b := newBoxWith(t, map[string]string{"transports": "friends.example=" + p.Addr, "retry_schedule": "1s"})
	sub := fmt.Sprintf("127.0.0.1:%d", b.Submission)
	out, code := b.Swaks("--server", sub, "-tls", "--auth-user", b.Admin, "--auth-password", b.Password,
		"--from", b.Admin, "--to", "anna@friends.example", "--h-Subject", "Sunday lunch", "--body", "Come at noon.")
	if code != 0 {
		t.Fatalf("submission: %s", out)
	}
	testutil.WaitFor(t, "Postfix to store the message", 20*time.Second, func() bool { return len(p.Mail("anna")) == 1 })
	got := p.Mail("anna")[0]
	for _, want := range []string{"Subject: Sunday lunch", "Come at noon.", "DKIM-Signature: ", "d=example.test", "s=mail", "by mail.example.test (boxmail)"} {
		if !strings.Contains(got, want) {
			t.Errorf("message at the friend's provider lacks %q:\n%s", want, got)
		}
	}
	testutil.WaitFor(t, "the queue to drain", 10*time.Second, func() bool { return len(b.Queue()) == 0 })

	// A typo in the address: the provider refuses it, the sender gets a
	// bounce in her INBOX that says why.
	out, code = b.Swaks("--server", sub, "-tls", "--auth-user", b.Admin, "--auth-password", b.Password,
		"--from", b.Admin, "--to", "anan@friends.example", "--h-Subject", "typo")
	if code != 0 {
		t.Fatalf("submission: %s", out)
	}
	testutil.WaitFor(t, "the bounce", 20*time.Second, func() bool { return len(b.Mailbox(b.Admin, "INBOX")) == 1 })
	dsn := string(b.Mailbox(b.Admin, "INBOX")[0])
	for _, want := range []string{"Undelivered Mail Returned to Sender", "Final-Recipient: rfc822; anan@friends.example", "Action: failed", "Status: 5.1.1", "Subject: typo", "User unknown in virtual mailbox table"} {
		if !strings.Contains(dsn, want) {
			t.Errorf("bounce lacks %q:\n%s", want, dsn)
		}
	}
	if len(b.Queue()) != 0 {
		t.Errorf("queue not empty after the bounce: %+v", b.Queue())
	}
}

func TestWhileTheFriendsProviderIsDownTheMessageWaitsAndArrivesAfterwards(t *testing.T) {
	p := startPostfix(t, "anna")
	p.Stop()
	b := newBoxWith(t, map[string]string{"transports": "friends.example=" + p.Addr, "retry_schedule": "1s"})
	out, code := b.Swaks("--server", fmt.Sprintf("127.0.0.1:%d", b.Submission), "-tls", "--auth-user", b.Admin, "--auth-password", b.Password,
		"--from", b.Admin, "--to", "anna@friends.example", "--h-Subject", "patience")
	if code != 0 {
		t.Fatalf("submission: %s", out)
	}
	testutil.WaitFor(t, "a failed attempt", 10*time.Second, func() bool { q := b.Queue(); return len(q) == 1 && q[0].Attempts >= 1 })
	if q := b.Queue(); !strings.Contains(q[0].LastError, "connection refused") {
		t.Errorf("last error = %q", q[0].LastError)
	}
	listed, _, _ := b.Cmd("", "queue", "list")
	if !strings.Contains(listed, "anna@friends.example") || !strings.Contains(listed, "connection refused") {
		t.Errorf("queue list:\n%s", listed)
	}
	// Restarting boxmail while the message waits loses nothing.
	b.Stop()
	b.Start()
	p.Start()
	testutil.WaitFor(t, "the retry to deliver", 20*time.Second, func() bool { return len(p.Mail("anna")) == 1 })
	testutil.WaitFor(t, "the queue to drain", 10*time.Second, func() bool { return len(b.Queue()) == 0 })
	if n := len(b.Mailbox(b.Admin, "INBOX")); n != 0 {
		t.Errorf("the sender got %d bounces for a delivered message", n)
	}
}

func TestTheAdminRetriesOrRemovesWhatWaitsInTheQueue(t *testing.T) {
	b := newBoxWith(t, map[string]string{"transports": "friends.example=127.0.0.2:1", "retry_schedule": "1h"})
	for _, subj := range []string{"first", "second"} {
		out, code := b.Swaks("--server", fmt.Sprintf("127.0.0.1:%d", b.Submission), "-tls", "--auth-user", b.Admin, "--auth-password", b.Password,
			"--from", b.Admin, "--to", "anna@friends.example", "--h-Subject", subj)
		if code != 0 {
			t.Fatalf("submission: %s", out)
		}
	}
	testutil.WaitFor(t, "two failed attempts", 10*time.Second, func() bool {
		q := b.Queue()
		return len(q) == 2 && q[0].Attempts == 1 && q[1].Attempts == 1
	})
	q := b.Queue()
	if q[0].NextAttempt.Before(time.Now().Add(50 * time.Minute)) {
		t.Fatalf("next attempt %v, want in about an hour", q[0].NextAttempt)
	}
	mustRun(t, "", "queue", "retry", fmt.Sprint(q[0].ID), "--dir", b.Dir)
	testutil.WaitFor(t, "the retried attempt", 10*time.Second, func() bool { it := b.Queue()[0]; return it.Attempts == 2 })
	mustRun(t, "", "queue", "retry", "--all", "--dir", b.Dir)
	testutil.WaitFor(t, "both retried", 10*time.Second, func() bool { it := b.Queue(); return it[0].Attempts == 3 && it[1].Attempts == 2 })

	mustRun(t, "", "queue", "remove", fmt.Sprint(q[0].ID), "--dir", b.Dir)
	testutil.WaitFor(t, "the bounce of the removed message", 10*time.Second, func() bool { return len(b.Mailbox(b.Admin, "INBOX")) == 1 })
	if dsn := string(b.Mailbox(b.Admin, "INBOX")[0]); !strings.Contains(dsn, "removed from the queue by the administrator") || !strings.Contains(dsn, "Subject: first") {
		t.Errorf("bounce:\n%s", dsn)
	}
	mustRun(t, "", "queue", "remove", "--silent", fmt.Sprint(q[1].ID), "--dir", b.Dir)
	if len(b.Queue()) != 0 || len(b.Mailbox(b.Admin, "INBOX")) != 1 {
		t.Errorf("silent remove: queue %d, inbox %d", len(b.Queue()), len(b.Mailbox(b.Admin, "INBOX")))
	}
	oneLineError(t, "not found", "", "queue", "remove", "999", "--dir", b.Dir)
	oneLineError(t, "not a positive number", "", "queue", "retry", "x", "--dir", b.Dir)
	oneLineError(t, "an ID or --all, not both", "", "queue", "retry", "--all", "3", "--dir", b.Dir)
}

func dialTCP(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, time.Second) }
