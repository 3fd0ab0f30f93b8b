package test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"boxmail/internal/testutil"
)

// netNS is a network namespace of the test's own (ip netns), with only
// its loopback interface up, so that programs that resolve through libc
// (Postfix: /etc/resolv.conf, port 53) can be given a resolver of the
// test: ip netns exec mounts /etc/netns/NAME/resolv.conf over
// /etc/resolv.conf for what it runs. The namespace and its /etc/netns
// directory are deleted when the test ends.
type netNS struct {
	t    *testing.T
	Name string

	mu    sync.Mutex
	conns []io.Closer // the forwarders' listeners and connections
}

var netNSCount struct {
	sync.Mutex
	n int
}

// newNetNS creates a namespace whose resolver is 127.0.0.1:53 inside it,
// its AD bit trusted (glibc's trust-ad).
func newNetNS(t *testing.T) *netNS {
	t.Helper()
	needTool(t, "ip")
	netNSCount.Lock()
	netNSCount.n++
	name := fmt.Sprintf("boxmail-%d-%d", os.Getpid(), netNSCount.n)
	netNSCount.Unlock()
	etc := filepath.Join("/etc/netns", name)
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(etc); err != nil {
			t.Error(err)
		}
		os.Remove("/etc/netns") // only when no other namespace has files there
	})
	if err := os.WriteFile(filepath.Join(etc, "resolv.conf"), []byte("nameserver 127.0.0.1\noptions trust-ad\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v\n%s", name, err, out)
	}
	n := &netNS{t: t, Name: name}
	t.Cleanup(func() {
		n.mu.Lock()
		for _, c := range n.conns {
			c.Close()
		}
		n.mu.Unlock()
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", name, err, out)
		}
	})
	if out, err := n.command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("loopback up in %s: %v\n%s", name, err, out)
	}
	// Datagram sockets here queue 512 messages, not the default 10:
	// Postfix's processes log through one (postlog), and its master,
	// which starts the socket's reader, blocks once it is full.
	if out, err := n.command("sh", "-c", "echo 512 > /proc/sys/net/unix/max_dgram_qlen").CombinedOutput(); err != nil {
		t.Fatalf("max_dgram_qlen in %s: %v\n%s", name, err, out)
	}
	return n
}

// command runs a program inside the namespace.
func (n *netNS) command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// do runs f on an OS thread that has entered the namespace: sockets f
// makes belong to it, and any goroutine may use them afterwards. The
// thread is never unlocked, so it ends with f's goroutine and nothing
// else runs in the namespace.
func (n *netNS) do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open(filepath.Join("/run/netns", n.Name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			errc <- fmt.Errorf("entering the network namespace %s: %w", n.Name, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// dial connects to a TCP address inside the namespace.
func (n *netNS) dial(addr string) (net.Conn, error) {
	var c net.Conn
	err := n.do(func() (err error) {
		c, err = net.DialTimeout("tcp", addr, time.Second)
		return err
	})
	return c, err
}

// forward listens on the TCP address listen inside the namespace and
// relays each connection to target outside it (on the test's
// loopback), until the test ends.
func (n *netNS) forward(listen, target string) {
	n.t.Helper()
	var ln net.Listener
	if err := n.do(func() (err error) {
		ln, err = net.Listen("tcp", listen)
		return err
	}); err != nil {
		n.t.Fatal(err)
	}
	n.track(ln)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.track(c)
			go func() {
				defer c.Close()
				up, err := net.DialTimeout("tcp", target, 5*time.Second)
				if err != nil {
					return
				}
				n.track(up)
				defer up.Close()
				done := make(chan struct{})
				go func() {
					io.Copy(up, c)
					up.(*net.TCPConn).CloseWrite()
					close(done)
				}()
				io.Copy(c, up)
				c.(*net.TCPConn).CloseWrite()
				<-done
			}()
		}
	}()
}

func (n *netNS) track(c io.Closer) {
	n.mu.Lock()
	n.conns = append(n.conns, c)
	n.mu.Unlock()
}

// daneSenderCF makes a private Postfix a sender that requires DANE
// (RFC 7672) for every destination, resolving through libc with DNSSEC,
// retrying deferred mail within seconds.
const daneSenderCF = `
default_transport = smtp
relay_transport = smtp
smtp_dns_support_level = dnssec
dnssec_probe = mx:example.test
smtp_tls_security_level = dane
smtp_tls_loglevel = 1
smtp_connection_cache_on_demand = no
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
`

// sendmail hands a message to the Postfix instance as its sendmail
// command does.
func (p *Postfix) sendmail(from, to, subject string) {
	p.t.Helper()
	cmd := exec.Command("sendmail", "-C", filepath.Join(p.Dir, "conf"), "-f", from, to)
	cmd.Stdin = strings.NewReader(fmt.Sprintf("From: %s\nTo: %s\nSubject: %s\n\nSee you on Sunday.\n", from, to, subject))
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("sendmail: %v\n%s", err, out)
	}
}

// log is the instance's log.
func (p *Postfix) log() string {
	b, _ := os.ReadFile(filepath.Join(p.Dir, "postfix.log"))
	return string(b)
}

// resolvedTLSA is the 3 1 1 data of the box's TLSA records for port 25
// as the namespace's resolver gives them, validated (else nil), sorted.
func (n *netNS) resolvedTLSA(t *testing.T) []string {
	t.Helper()
	out, err := n.command("dig", "@127.0.0.1", "+dnssec", "+timeout=5", "+retry=1", "TLSA", "_25._tcp.mail.example.test").CombinedOutput()
	if err != nil {
		t.Fatalf("dig in %s: %v\n%s", n.Name, err, out)
	}
	if !strings.Contains(digFlags(t, string(out)), " ad ") {
		return nil
	}
	return tlsa311(string(out))
}

var verifiedToBox = regexp.MustCompile(`Verified TLS connection established to mail\.example\.test\[127\.0\.0\.3\]:25`)

// TestAPostfixDANESenderVerifiesTheBoxsTLSA: a real Postfix requiring
// DANE delivers to the box only after checking the box's certificate
// against the TLSA record the box publishes in its DNSSEC-signed zone,
// as a validating resolver (unbound, anchored at the box's DS) finds
// it. Postfix, unbound and the box's port 25 are in a network namespace
// of the test, where libc's resolver is unbound; the box's SMTP and DNS
// ports are relayed into it. When the TLSA record names another key,
// Postfix defers the message ("Server certificate not verified") and
// the box receives nothing, until the record is right again.
func TestAPostfixDANESenderVerifiesTheBoxsTLSA(t *testing.T) {
	for _, tool := range []string{"ip", "unbound", "postfix", "sendmail", "postqueue", "dig"} {
		needTool(t, tool)
	}
	// The box's address in its DNS is 127.0.0.3: not one of Postfix's
	// (127.0.0.1), which Postfix would take for a loop.
	b := newBoxWith(t, map[string]string{"public_ipv4": "127.0.0.3"})
	anchor, _, _ := registrarDS(t, b)
	key := spkiOn25(t, b)
	if got := publishedTLSA(t, b); !slices.Equal(got, []string{key}) {
		t.Fatalf("the box publishes TLSA %v, want its key %s", got, key)
	}

	ns := newNetNS(t)
	ns.forward("127.0.0.3:25", fmt.Sprintf("127.0.0.1:%d", b.SMTP))
	const dnsRelay = 5300
	ns.forward(fmt.Sprintf("127.0.0.1:%d", dnsRelay), fmt.Sprintf("127.0.0.1:%d", b.DNS))
	startUnboundWith(t, unboundOptions{NS: ns, Port: 53, TCPUpstream: true, MaxTTL: 1,
		Stubs: []stubZone{{Name: "example.test", Anchor: anchor, Port: dnsRelay}}})
	pf := startPostfixWith(t, postfixOptions{Domain: "friends.example", NS: ns, MainCF: daneSenderCF,
		// max_use=1: a new smtp process for each delivery, as each keeps
		// the TLSA records it looked up for their TTL.
		MasterCF: "smtp      unix  - - n - - smtp -o max_use=1\ntlsmgr    unix  - - n 1000? 1 tlsmgr\nshowq     unix  n - n - - showq\n"})

	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Postfix's log:\n%s", pf.log())
		}
	})

	pf.sendmail("anna@friends.example", b.Admin, "verified")
	testutil.WaitFor(t, "the box to receive the message", 60*time.Second, func() bool { return len(b.Mailbox(b.Admin, "INBOX")) == 1 })
	if log := pf.log(); len(verifiedToBox.FindAllString(log, -1)) != 1 || !strings.Contains(log, "status=sent") {
		t.Fatal("Postfix did not deliver over a DANE-verified connection")
	}

	// The box's TLSA record replaced by one for another key.
	other, _ := testutil.CertPEM(t, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), "mail.example.test")
	wrong := pemSPKI(t, other)
	mustRun(t, "", "dns", "set", "_25._tcp.mail.example.test", "TLSA", "3 1 1 "+wrong, "--dir", b.Dir)
	testutil.WaitFor(t, "Postfix's resolver to find the wrong TLSA", 20*time.Second, func() bool { return slices.Equal(ns.resolvedTLSA(t), []string{wrong}) })
	pf.sendmail("anna@friends.example", b.Admin, "not verified")
	testutil.WaitFor(t, "Postfix to defer the message", 60*time.Second, func() bool { return strings.Contains(pf.log(), "Server certificate not verified") })
	if n := len(b.Mailbox(b.Admin, "INBOX")); n != 1 {
		t.Fatalf("the box has %d messages, want only the first", n)
	}
	if log := pf.log(); !strings.Contains(log, "server certificate verification failed for mail.example.test[127.0.0.3]:25: num=65:no matching DANE TLSA records") {
		t.Error("Postfix's log does not say the TLSA records did not match")
	}
	if out, _ := pf.command(context.Background(), "postqueue", "-c", filepath.Join(pf.Dir, "conf"), "-p").CombinedOutput(); !strings.Contains(string(out), b.Admin) {
		t.Errorf("the message is not in Postfix's queue:\n%s", out)
	}

	// The right record again: the retry delivers, verified.
	mustRun(t, "", "dns", "unset", "_25._tcp.mail.example.test", "TLSA", "--dir", b.Dir)
	testutil.WaitFor(t, "Postfix's resolver to find the box's own TLSA again", 20*time.Second, func() bool { return slices.Equal(ns.resolvedTLSA(t), []string{key}) })
	if out, err := pf.command(context.Background(), "postqueue", "-c", filepath.Join(pf.Dir, "conf"), "-f").CombinedOutput(); err != nil {
		t.Fatalf("postqueue -f: %v\n%s", err, out)
	}
	testutil.WaitFor(t, "the deferred message", 60*time.Second, func() bool { return len(b.Mailbox(b.Admin, "INBOX")) == 2 })
	if log := pf.log(); len(verifiedToBox.FindAllString(log, -1)) != 2 {
		t.Error("the second delivery was not DANE-verified")
	}
	for _, m := range b.Mailbox(b.Admin, "INBOX") {
		if !strings.Contains(string(m), "Subject: verified") && !strings.Contains(string(m), "Subject: not verified") {
			t.Errorf("unexpected message:\n%s", m)
		}
	}
}
