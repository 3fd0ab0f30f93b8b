package test

// The secrets every node of a box must share (issue 23): the SRS key and
// the backup settings live in the store, so a node started on a fresh
// data dir takes the box's; the TOTP sealing key stays a file of each
// node by design (a copy of the database alone opens no second factor),
// and a node without it refuses to start instead of making its own.

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"boxmail/internal/backup"
	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

// A Sieve redirect on node 1 signs the copy's return path with the SRS
// key; the old provider's bounce to that address arrives at node 2,
// which accepts it and sends it back to the original sender, and still
// refuses a forged one.
func TestClusterABounceToNode1sSRSAddressIsAcceptedByNode2(t *testing.T) {
	p := startPostfix(t, "me")
	settings := map[string]string{"transports": "friends.example=" + p.Addr, "retry_schedule": "1s"}
	n1 := startPGCluster(t, 1, settings)[0]
	if _, err := os.Stat(filepath.Join(n1.Dir, "srs.key")); err == nil {
		t.Error("node 1 wrote an srs.key file: the key is in the store")
	}
	// Node 2 is given what docs/postgresql.md says to copy: no srs.key
	// (an earlier version's node 1 would have written one).
	n2 := addPGNodeWith(t, n1, settings, func(dir string) { os.Remove(filepath.Join(dir, "srs.key")) })
	if out, _, code := n1.Cmd("", "forward", "add", n1.Admin, "--to", "me@friends.example", "--keep"); code != 0 {
		t.Fatalf("forward add: %d %s", code, out)
	}
	if out, code := n1.Swaks("--server", n1.HostPort(n1.SMTP), "--from", "grandma@elsewhere.example", "--to", n1.Admin, "--h-Subject", "Birthday", "--body", "Happy birthday!"); code != 0 {
		t.Fatalf("swaks to node 1: %s", out)
	}
	_, srs := forwardedCopy(t, p, 30*time.Second) // sieve_test.go
	out, code := n2.Swaks("--server", n2.HostPort(n2.SMTP), "--from", "<>", "--to", srs, "--h-Subject", "Undelivered Mail Returned to Sender", "--body", "mailbox full")
	if code != 0 {
		t.Fatalf("node 2 refused the bounce to node 1's SRS address: %s", out)
	}
	waitBounceQueued(t, n2, "grandma@elsewhere.example", 15*time.Second) // sieve_test.go
	forged := strings.Replace(srs, "grandma", "mallory", 1)
	if out, code := n2.Swaks("--server", n2.HostPort(n2.SMTP), "--from", "<>", "--to", forged, "--quit-after", "RCPT"); code == 0 || !strings.Contains(out, "550") {
		t.Errorf("node 2 accepted a forged SRS address: %s", out)
	}
}

// Two-step login set up through node 1 works at node 2, which was given
// the key file like every node (its data dir is a copy of node 1's); a
// third node started on a data dir without keys/totp.key refuses to
// start and says what to copy, instead of sealing with a key of its own.
func TestClusterTOTPSetUpOnNode1LogsInOnNode2AndANodeWithoutTheKeyRefuses(t *testing.T) {
	n1 := startPGCluster(t, 1, nil)[0]
	out, _, code := n1.Cmd("", "user", "totp", n1.Admin, "enable")
	m := regexp.MustCompile(`type the key ([A-Z2-7]+)\)`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("user totp enable on node 1: %d\n%s", code, out)
	}
	secret := m[1]
	n2 := addPGNode(t, n1, nil) // a copy of node 1's data dir: keys/ included

	c := newWebClient(t, n2, "127.0.0.1")
	c.base = "https://" + n2.HostPort(n2.HTTPS)
	res, page := c.login(n2.Admin, n2.Password, "")
	tm := formTokenRe.FindStringSubmatch(page)
	if res.StatusCode != http.StatusOK || tm == nil {
		t.Fatalf("login at node 2 did not ask for the code: %s\n%s", res.Status, page)
	}
	code6, _ := store.TOTPCode(secret, time.Now().Add(30*time.Second))
	if res, page := c.post("/login/code", url.Values{"token": {tm[1]}, "code": {code6}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("node 2 refused the code of a secret node 1 sealed: %s\n%s", res.Status, page)
	}

	// A third node whose data dir lacks the key.
	dir := filepath.Join(t.TempDir(), "data")
	copyNodeDir(t, n1.Dir, dir)
	if err := os.RemoveAll(filepath.Join(dir, "keys")); err != nil {
		t.Fatal(err)
	}
	n3 := &Box{t: t, Dir: dir, Domain: n1.Domain, Admin: n1.Admin, Password: n1.Password, StoreURL: n1.StoreURL, Addr: nodeAddr(3)}
	p := testutil.FreePorts(t, 10)
	n3.SMTP, n3.Submission, n3.Submissions, n3.IMAP, n3.IMAPS, n3.DNS, n3.HTTP, n3.HTTPS, n3.POP3, n3.POP3S = p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9]
	n3.configure(nil)
	err := n3.start()
	if err == nil {
		n3.Stop()
		t.Fatal("a node without keys/totp.key started")
	}
	if !strings.Contains(err.Error(), "boxmail exited") || !strings.Contains(err.Error(), "copy keys/totp.key from a node of this box") {
		t.Errorf("the refusal does not say what to do: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "keys", "totp.key")); err == nil {
		t.Error("the refused node made a key of its own")
	}
	// So does the command line that seals a secret.
	if out, errs, code := n3.Cmd("", "user", "totp", n1.Admin, "disable"); code != 0 {
		t.Fatalf("disable: %s%s", out, errs)
	}
	if _, errs, code := n3.Cmd("", "user", "totp", n1.Admin, "enable"); code == 0 || !strings.Contains(errs, "copy keys/totp.key from a node of this box") {
		t.Errorf("user totp enable on a node without the key: exit %d: %s", code, errs)
	}
}

// 'backup init' on node 1 sets the box up: node 2, started before,
// backs up to the same target, and node 1 lists that snapshot and knows
// of the run.
func TestClusterBackupInitOnNode1IsUsedByNode2(t *testing.T) {
	nodes := startPGCluster(t, 2, nil)
	n1, n2 := nodes[0], nodes[1]
	target := filepath.Join(t.TempDir(), "target")
	if out, errs, code := n1.Cmd("", "backup", "init", "--to", target); code != 0 {
		t.Fatalf("backup init on node 1: %s%s", out, errs)
	}
	out, errs, code := n2.Cmd("", "backup", "run")
	if code != 0 {
		t.Fatalf("backup run on node 2: %s%s", out, errs)
	}
	snap := regexp.MustCompile(`^snapshot (\S+):`).FindStringSubmatch(out)
	if snap == nil {
		t.Fatalf("backup run on node 2 said %q", out)
	}
	if n := countFiles(t, filepath.Join(target, "snapshots")); n == 0 {
		t.Fatalf("nothing in node 1's target after node 2's run")
	}
	if out, errs, code := n1.Cmd("", "backup", "list"); code != 0 || !strings.Contains(out, snap[1]) {
		t.Errorf("node 1 does not list node 2's snapshot %s: %s%s", snap[1], out, errs)
	}
	// What 'boxmail status' and the admin panel show on node 1: node 2's run.
	st := n1.OpenStore()
	defer st.Close()
	if s, err := backup.ReadStatus(context.Background(), st, n1.Dir); err != nil || s.LastSnapshot != snap[1] || s.LastRunError != "" {
		t.Errorf("node 1's record of the last backup: %+v, %v; want node 2's snapshot %s", s, err, snap[1])
	}
	if _, errs, code := n2.Cmd("", "backup", "init", "--to", t.TempDir()); code == 0 || !strings.Contains(errs, "already set up") {
		t.Errorf("a second init on node 2: exit %d: %s", code, errs)
	}
	for _, n := range nodes {
		if _, err := os.Stat(filepath.Join(n.Dir, "backup", "settings.json")); err == nil {
			t.Errorf("%s has a backup/settings.json: the settings are in the store", n.Dir)
		}
	}
}

// A box whose keys/totp.key is lost (one node, or every node of a
// cluster) does not quietly make a new key that opens nothing: serve
// refuses to start until the admin either copies the key back or gives
// up the sealed secrets with 'user totp forget-key', after which the
// users log in with their password and set two-step login up again.
func TestABoxThatLostItsTOTPKeyStartsAgainAfterForgetKey(t *testing.T) {
	b := newBox(t)
	if out, errs, code := b.Cmd("", "user", "totp", b.Admin, "enable"); code != 0 {
		t.Fatalf("user totp enable: %s%s", out, errs)
	}
	b.Stop()
	key := filepath.Join(b.Dir, "keys", "totp.key")
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	if err := b.start(); err == nil || !strings.Contains(err.Error(), "copy keys/totp.key from a node of this box") {
		t.Fatalf("serve without the box's TOTP key: %v", err)
	}
	out, errs, code := b.Cmd("", "user", "totp", "forget-key")
	if code != 0 || !strings.Contains(out, "two-step login is off for 1 accounts") {
		t.Fatalf("user totp forget-key: exit %d: %s%s", code, out, errs)
	}
	b.Start()
	newWebClient(t, b, "127.0.0.1").mustLogin(b.Admin, b.Password) // the password alone again
	if out, errs, code := b.Cmd("", "user", "totp", b.Admin, "enable"); code != 0 {
		t.Fatalf("setting two-step login up again: %s%s", out, errs)
	}
	if _, err := os.Stat(key); err != nil {
		t.Errorf("no new key after the new setup: %v", err)
	}
}
