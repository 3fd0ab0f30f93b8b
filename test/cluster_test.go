package test

// Several boxmail nodes on one PostgreSQL database (issue 23, phase 2c):
// a change committed on one node reaches IMAP IDLE on another through
// LISTEN/NOTIFY, and a node killed in the middle of a stream loses no
// acknowledged message and leaves the mailbox's UIDs and MODSEQs sound.
//
// As in the setup, node 1 listens on 127.0.0.2, node 2 on
// 127.0.0.3 (and so on), each on free ports of its own, and the clients
// dial each node at its address (Box.Addr). The IDLE and kill -9 tests
// keep the large bodies (from 256 KiB) in a real S3 server (versitygw)
// on loopback, the one S3 server; the others in the database.

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"boxmail/internal/testutil"
)

// startPGCluster starts n nodes of one box on one fresh PostgreSQL
// database, node i (from 1) on 127.0.0.(i+1): the first is newPGBox's
// box on 127.0.0.2; each other one gets a copy of the first one's data
// dir (its boxmail.conf, so the same store_url and settings, and its TLS
// files; the DKIM keys are in the database) without the local body
// files, and free ports of its own.
func startPGCluster(t *testing.T, n int, settings map[string]string) []*Box {
	t.Helper()
	nodes := []*Box{newBoxAt(t, "example.test", pgDatabase(t), nodeAddr(1), settings)}
	for range n - 1 {
		nodes = append(nodes, addPGNode(t, nodes[0], settings))
	}
	return nodes
}

// nodeAddr is the loopback address of node i (from 1): 127.0.0.(i+1).
func nodeAddr(i int) string { return fmt.Sprintf("127.0.0.%d", i+1) }

// addedNodes counts the nodes added to each first node, for their
// addresses.
var (
	addedMu    sync.Mutex
	addedNodes = map[*Box]int{}
)

// addPGNode starts another node of first's box, on the next address.
func addPGNode(t *testing.T, first *Box, settings map[string]string) *Box {
	t.Helper()
	return addPGNodeWith(t, first, settings, nil)
}

// addPGNodeWith is addPGNode with prepare run on the new node's data dir
// (the copy of first's) before it starts; nil for none.
func addPGNodeWith(t *testing.T, first *Box, settings map[string]string, prepare func(dir string)) *Box {
	t.Helper()
	addedMu.Lock()
	addedNodes[first]++
	i := addedNodes[first] + 1
	addedMu.Unlock()
	dir := filepath.Join(t.TempDir(), "data")
	copyNodeDir(t, first.Dir, dir)
	if prepare != nil {
		prepare(dir)
	}
	b := &Box{t: t, Dir: dir, Domain: first.Domain, Admin: first.Admin, Password: first.Password, StoreURL: first.StoreURL, Addr: nodeAddr(i)}
	b.startOnFreePorts(settings)
	return b
}

// s3BodyStore starts a real S3 server (versitygw) on loopback for the
// test and returns a body_store URL of a bucket on it and the directory
// the bodies' objects land in.
func s3BodyStore(t *testing.T) (url, objects string) {
	t.Helper()
	s3 := startS3(t, "bodies", "nodeskey", "nodessecret12345")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("versitygw log:\n%s", s3.Log.String())
		}
	})
	testutil.WaitFor(t, "versitygw to listen", 20*time.Second, func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s3.Port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return fmt.Sprintf("s3://nodeskey:nodessecret12345@127.0.0.1:%d/bodies/box?tls=false", s3.Port), filepath.Join(s3.Root, "bodies", "box", "bodies")
}

// countFiles counts the files under dir (none when it does not exist).
func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return filepath.SkipDir
			}
			return err
		}
		if !d.IsDir() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// copyNodeDir copies a node's data dir, leaving out what is local to a
// node: the SQLite files (unused with a store_url) and the body files.
func copyNodeDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(to, rel)
		switch {
		case d.IsDir():
			if err := os.MkdirAll(dst, 0o700); err != nil {
				return err
			}
			if rel == "bodies" {
				return filepath.SkipDir
			}
			return nil
		case strings.HasPrefix(d.Name(), "boxmail.db"):
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// clusterIMAP is the imaplib side of the cluster tests. "idle": log in,
// select INBOX, IDLE, print IDLING, then print EXISTS n for the first
// EXISTS. "list": print "MSG uid modseq message-id" for each message of
// INBOX in sequence order, then "STATUS uidnext highestmodseq exists".
const clusterIMAP = `
import imaplib, re, sys
host, port, user, pw, mode = sys.argv[1:6]
M = imaplib.IMAP4(host, int(port))
M.login(user, pw)
if mode != "idle":
    M.enable("CONDSTORE")
typ, data = M.select("INBOX")
exists = int(data[0])
if mode == "idle":
    tag = M._new_tag()
    M.send(tag + b" IDLE\r\n")
    line = M.readline()
    if not line.startswith(b"+"):
        sys.exit("IDLE refused: %r" % line)
    print("IDLING", flush=True)
    while True:
        line = M.readline()
        if not line:
            sys.exit("connection closed during IDLE")
        m = re.match(rb"\* (\d+) EXISTS", line)
        if m and int(m.group(1)) > exists:
            print("EXISTS", int(m.group(1)), flush=True)
            break
    M.send(b"DONE\r\n")
    sys.exit(0)
st = {k: M.untagged_responses.get(k, [b"0"])[-1] for k in ("UIDNEXT", "HIGHESTMODSEQ")}
exists = int(data[0])
if exists:
    typ, data = M.fetch("1:*", "(UID MODSEQ BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    for item in data:
        if not isinstance(item, tuple):
            continue
        uid = int(re.search(rb"UID (\d+)", item[0]).group(1))
        modseq = int(re.search(rb"MODSEQ \((\d+)\)", item[0]).group(1))
        mid = re.search(rb"<([^>]*)>", item[1])
        print("MSG", uid, modseq, mid.group(1).decode() if mid else "-")
print("STATUS", int(st["UIDNEXT"].split()[0]), int(re.sub(rb"\D", b"", st["HIGHESTMODSEQ"].split()[0])), exists)
M.logout()
`

// clusterPython runs clusterIMAP against node b.
func clusterPython(t *testing.T, ctx context.Context, b *Box, mode string) *exec.Cmd {
	t.Helper()
	py := needTool(t, "python3")
	script := filepath.Join(t.TempDir(), "cluster_imap.py")
	if err := os.WriteFile(script, []byte(clusterIMAP), 0o600); err != nil {
		t.Fatal(err)
	}
	return exec.CommandContext(ctx, py, script, b.Host(), strconv.Itoa(b.IMAP), b.Admin, b.Password, mode)
}

// TestClusterIDLEOnOneNodeSeesSMTPOnTheOtherWithinASecond: mail accepted
// over SMTP by node 1 (127.0.0.2) wakes imaplib's IDLE on node 2
// (127.0.0.3) in under a second after node 1's 250 (five rounds; the
// slowest counts). Each message carries a 300 KiB attachment, so its body
// goes to the S3 server before the 250.
func TestClusterIDLEOnOneNodeSeesSMTPOnTheOtherWithinASecond(t *testing.T) {
	s3, objects := s3BodyStore(t)
	nodes := startPGCluster(t, 2, map[string]string{"insecure_auth": "true", "body_store": s3})
	for i, n := range nodes {
		// Each node has bound its own address, and only it.
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", n.IMAP)); err == nil {
			c.Close()
			t.Errorf("node %d (%s) answers on 127.0.0.1 too", i+1, n.Host())
		}
	}
	if nodes[0].Host() != "127.0.0.2" || nodes[1].Host() != "127.0.0.3" {
		t.Errorf("nodes on %s and %s, want 127.0.0.2 and 127.0.0.3", nodes[0].Host(), nodes[1].Host())
	}
	var worst time.Duration
	for round := range 5 {
		d := idleRound(t, nodes[0], nodes[1], round)
		t.Logf("round %d: 250 on node 1 to EXISTS on node 2: %v", round, d)
		worst = max(worst, d)
	}
	if worst >= time.Second {
		t.Errorf("node 2's IDLE saw node 1's delivery after %v, want < 1 s", worst)
	}
	if n := countFiles(t, objects); n != 5 {
		t.Errorf("%d bodies in S3 after 5 large deliveries, want 5", n)
	}
}

// withAttachment makes msg (a header and a body) a message of at least
// size bytes: its body, then a base64 attachment of lines that say id.
func withAttachment(msg, id string, size int) string {
	var b strings.Builder
	b.WriteString(msg)
	line := base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("%-54.54s", "attachment of "+id)))
	for b.Len() < size {
		b.WriteString(line + "\r\n")
	}
	return b.String()
}

// idleRound delivers one message to `to` while imaplib IDLEs on `watch`,
// and returns the time from the 250 to the EXISTS.
func idleRound(t *testing.T, to, watch *Box, round int) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := clusterPython(t, ctx, watch, "idle")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var acked time.Time
	var took time.Duration
	for sc.Scan() {
		switch line := sc.Text(); {
		case line == "IDLING":
			id := fmt.Sprintf("idle-%d@cluster.test", round)
			msg := withAttachment(fmt.Sprintf("Message-ID: <%s>\r\nSubject: idle round %d\r\n\r\nhello\r\n", id, round), id, 300<<10)
			if err := sendPlain(to.HostPort(to.SMTP), "friend@elsewhere.example", to.Admin, msg); err != nil {
				t.Fatalf("SMTP to node 1: %v", err)
			}
			acked = time.Now()
		case strings.HasPrefix(line, "EXISTS "):
			took = time.Since(acked)
		}
	}
	if err := cmd.Wait(); err != nil || acked.IsZero() || took == 0 {
		t.Fatalf("imaplib IDLE on node 2: %v\n%s", err, stderr.String())
	}
	return took
}

// TestClusterKill9OfOneNodeMidStreamLosesNoAcknowledgedMessage: eight
// senders stream 2,000 messages into both nodes (one in 25 with a 300 KiB
// attachment, whose body goes to the S3 server); node 1 is killed with
// SIGKILL part-way. Senders that lose node 1 go on with node 2 (the
// other MX), with new messages. Then, over IMAP on node 2: every message
// that got a 250 is there exactly once, none is there twice, the UIDs
// grow strictly in sequence order and the MODSEQs with them (each
// delivery takes the mailbox's next UID and MODSEQ together), all under
// UIDNEXT and HIGHESTMODSEQ.
func TestClusterKill9OfOneNodeMidStreamLosesNoAcknowledgedMessage(t *testing.T) {
	s3, objects := s3BodyStore(t)
	nodes := startPGCluster(t, 2, map[string]string{"insecure_auth": "true", "body_store": s3})
	const total, senders, largeEvery = 2000, 8, 25
	var largeAcked atomic.Int64
	killAt := int64(400 + rand.IntN(600)) // acknowledged messages before the kill
	var next, nacked atomic.Int64
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	var killOnce sync.Once
	killed := make(chan struct{})
	kill := func() {
		killOnce.Do(func() {
			nodes[0].cmd.Process.Kill()
			<-nodes[0].exited
			nodes[0].cmd = nil
			close(killed)
		})
	}
	start := time.Now()
	for w := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := nodes[w%2]
			for {
				i := next.Add(1)
				if i > total {
					return
				}
				id := fmt.Sprintf("m%d-w%d@cluster.test", i, w)
				msg := fmt.Sprintf("Message-ID: <%s>\r\nSubject: stream %d\r\n\r\n%s", id, i, strings.Repeat("line of "+id+"\r\n", 20))
				large := i%largeEvery == 0
				if large {
					msg = withAttachment(msg, id, 300<<10)
				}
				if err := sendPlain(node.HostPort(node.SMTP), "friend@elsewhere.example", node.Admin, msg); err != nil {
					node = nodes[1] // node 1 is gone: the other MX
					continue
				}
				if large {
					largeAcked.Add(1)
				}
				mu.Lock()
				acked[id] = true
				mu.Unlock()
				if nacked.Add(1) == killAt {
					go kill()
				}
			}
		}()
	}
	wg.Wait()
	kill()
	t.Logf("%d messages offered, %d acknowledged in %v; node 1 killed after %d", total, len(acked), time.Since(start), killAt)
	checkClusterMailbox(t, nodes[1], acked)
	// Each large message is its own object (content-addressed); one
	// uploaded by node 1 before its kill may be there without its row.
	if n := countFiles(t, objects); int64(n) < largeAcked.Load() {
		t.Errorf("%d bodies in S3 for %d acknowledged large messages", n, largeAcked.Load())
	}
}

// checkClusterMailbox lists INBOX over IMAP on node b and checks it
// against the acknowledged Message-IDs.
func checkClusterMailbox(t *testing.T, b *Box, acked map[string]bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := clusterPython(t, ctx, b, "list")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("imaplib listing on node 2: %v\n%s", err, stderr.String())
	}
	seen := map[string]int{}
	var lastUID, lastModSeq, uidnext, highest, exists, n int64
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 4 && f[0] == "MSG":
			uid, _ := strconv.ParseInt(f[1], 10, 64)
			modseq, _ := strconv.ParseInt(f[2], 10, 64)
			if uid <= lastUID || modseq <= lastModSeq {
				t.Errorf("message %d: UID %d MODSEQ %d after UID %d MODSEQ %d", n+1, uid, modseq, lastUID, lastModSeq)
			}
			lastUID, lastModSeq = uid, modseq
			seen[f[3]]++
			n++
		case len(f) == 4 && f[0] == "STATUS":
			uidnext, _ = strconv.ParseInt(f[1], 10, 64)
			highest, _ = strconv.ParseInt(f[2], 10, 64)
			exists, _ = strconv.ParseInt(f[3], 10, 64)
		default:
			t.Fatalf("unexpected line from imaplib: %q", line)
		}
	}
	if exists != n || uidnext <= lastUID || highest < lastModSeq {
		t.Errorf("EXISTS %d for %d listed, UIDNEXT %d after UID %d, HIGHESTMODSEQ %d under MODSEQ %d", exists, n, uidnext, lastUID, highest, lastModSeq)
	}
	lost := 0
	for id := range acked {
		if seen[id] != 1 {
			if lost++; lost <= 10 {
				t.Errorf("message %s got 250 but is there %d times", id, seen[id])
			}
		}
	}
	for id, c := range seen {
		if c > 1 {
			t.Errorf("message %s is there %d times", id, c)
		}
	}
	if lost > 0 || len(acked) == 0 {
		t.Errorf("%d of %d acknowledged messages missing or doubled", lost, len(acked))
	}
	t.Logf("node 2 lists %d messages (%d acknowledged; the rest were committed on node 1 but their 250 was lost), UIDs 1..%d, HIGHESTMODSEQ %d",
		n, len(acked), lastUID, highest)
}
