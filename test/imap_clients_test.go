package test

// Real IMAP clients nobody here wrote (mbsync, offlineimap, neomutt in
// tmux, fetchmail, Python's imaplib) run one scenario each against
// boxmail and, unchanged, against the reference Dovecot of
// dovecot_test.go; the server state is then checked over IMAP.
//
// TLS: boxmail is reached on IMAPS with its self-signed certificate
// (data dir tls/cert.pem), each client trusting exactly that certificate:
// mbsync through CertificateFile, offlineimap through cert_fingerprint
// (SHA-256 of the certificate), neomutt through certificate_file with
// ssl_verify_host off (the certificate names mail.example.test, the
// clients dial 127.0.0.1), fetchmail through sslfingerprint (MD5, the only
// digest it takes) and imaplib through an SSLContext loading the
// certificate with check_hostname off. The test Dovecot has no TLS
// (ssl = no): the clients reach it in plaintext.
//
// A scenario returns its differences from the expected outcome instead
// of failing: a case listed in pendingOwnIMAPServerClients is known to
// differ on boxmail today (it logs the differences, and fails once it
// passes, to be removed from the list); every other case fails on any
// difference.

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

// pendingOwnIMAPServerClients lists the "scenario/target" cases that
// differ today, with why. Remove a case once it passes.
var pendingOwnIMAPServerClients = map[string]string{}

// imapTarget is one IMAP server a real client runs against.
type imapTarget struct {
	name       string // "boxmail" or "dovecot"
	port       int
	tls        bool // implicit TLS (boxmail's IMAPS); Dovecot's is plaintext
	user, pass string
	certFile   string // the server's self-signed certificate (PEM), "" without TLS
	dir        string // boxmail's data dir, or Dovecot's dir
	// bulk fills a new mailbox fast: APPENDs on boxmail, Maildir files
	// on Dovecot.
	bulk func(t *testing.T, mailbox string, msgs [][]byte)
}

// clientScenario runs a real client against a target and returns the
// differences from the expected outcome (a harness failure still fails
// the test at once).
type clientScenario func(t *testing.T, tg *imapTarget) []string

// runOnBothServers runs a scenario against a fresh boxmail and a fresh
// Dovecot, as subtests named "boxmail" and "dovecot".
func runOnBothServers(t *testing.T, scenario string, run clientScenario) {
	t.Run("boxmail", func(t *testing.T) {
		b := newBox(t)
		tg := &imapTarget{name: "boxmail", port: b.IMAPS, tls: true, user: b.Admin, pass: b.Password,
			certFile: filepath.Join(b.Dir, "tls", "cert.pem"), dir: b.Dir}
		tg.bulk = func(t *testing.T, mailbox string, msgs [][]byte) {
			c := tg.dial(t)
			if err := c.Create(mailbox, nil).Wait(); err != nil {
				t.Fatalf("CREATE %s: %v", mailbox, err)
			}
			must(t, c.Logout().Wait())
			// Straight into the store with the box stopped, sixteen
			// at once (they share commits): APPENDs take ~1 ms each.
			b.Stop()
			storeAppend(t, b.Dir, b.Admin, mailbox, msgs, 16)
			b.Start()
		}
		judge(t, scenario+"/boxmail", run(t, tg))
	})
	t.Run("dovecot", func(t *testing.T) {
		p := newOldProvider(t, 1)
		// Dovecot (as uid 8) writes user1's Maildir, made here.
		must(t, os.MkdirAll(filepath.Join(p.home("user1"), "Maildir"), 0o700))
		p.Put("user1", nil)
		tg := &imapTarget{name: "dovecot", port: p.IMAP, user: "user1@old.test", pass: OldPassword, dir: p.Dir}
		tg.bulk = func(t *testing.T, mailbox string, msgs [][]byte) {
			old := make([]OldMessage, len(msgs))
			date := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
			for i, m := range msgs {
				old[i] = OldMessage{Folder: mailbox, Data: m, Date: date.Add(time.Duration(i) * time.Second)}
			}
			p.Put("user1", old)
		}
		judge(t, scenario+"/dovecot", run(t, tg))
	})
}

// judge fails on differences unless the case is pending, and fails a
// pending case that passes.
func judge(t *testing.T, key string, diffs []string) {
	t.Helper()
	why, pending := pendingOwnIMAPServerClients[key]
	switch {
	case pending && len(diffs) == 0:
		t.Fatalf("%s passes now: remove it from pendingOwnIMAPServerClients", key)
	case pending:
		t.Logf("pending (%s); %d differences:\n%s", why, len(diffs), strings.Join(diffs, "\n"))
	default:
		for _, d := range diffs {
			t.Error(d)
		}
	}
}

// dial logs into the target with go-imap's client (the test's own view
// of the server state).
func (tg *imapTarget) dial(t *testing.T) *imapclient.Client {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", tg.port)
	var c *imapclient.Client
	var err error
	if tg.tls {
		c, err = imapclient.DialTLS(addr, &imapclient.Options{TLSConfig: insecureTLS()})
	} else {
		c, err = imapclient.DialInsecure(addr, nil)
	}
	if err != nil {
		t.Fatalf("%s: dial: %v", tg.name, err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(tg.user, tg.pass).Wait(); err != nil {
		t.Fatalf("%s: login: %v", tg.name, err)
	}
	return c
}

// clientMessage is a small test message with a Message-ID naming it.
func clientMessage(id, subject string) []byte {
	return []byte(fmt.Sprintf("From: Friend <friend@elsewhere.example>\r\nTo: me@example.test\r\nSubject: %s\r\n"+
		"Message-ID: <%s@clients.test>\r\nDate: Mon, 02 Jan 2026 15:04:05 +0000\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n\r\nThis is %s.\r\nA second line.\r\n", subject, id, id))
}

// seed creates mailbox (unless INBOX) and appends msgs, pipelined.
func (tg *imapTarget) seed(t *testing.T, c *imapclient.Client, mailbox string, msgs [][]byte, flags ...imap.Flag) {
	t.Helper()
	if mailbox != "INBOX" {
		if err := c.Create(mailbox, nil).Wait(); err != nil {
			t.Fatalf("%s: CREATE %s: %v", tg.name, mailbox, err)
		}
	}
	var cmds []*imapclient.AppendCommand
	for _, m := range msgs {
		cmd := c.Append(mailbox, int64(len(m)), &imap.AppendOptions{Flags: flags})
		if _, err := cmd.Write(m); err != nil {
			t.Fatalf("%s: APPEND: %v", tg.name, err)
		}
		if err := cmd.Close(); err != nil {
			t.Fatalf("%s: APPEND: %v", tg.name, err)
		}
		cmds = append(cmds, cmd)
		if len(cmds) == 200 {
			waitAppends(t, tg, cmds)
			cmds = cmds[:0]
		}
	}
	waitAppends(t, tg, cmds)
}

// storeAppend appends msgs to an account's mailbox in a stopped box's
// store, from conc goroutines at once.
func storeAppend(t *testing.T, dir, email, mailbox string, msgs [][]byte, conc int) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dir, store.Options{PasswordCost: testutil.PasswordCost})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := st.AccountByEmail(ctx, email)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	errs := make(chan error, conc)
	date := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	for k := range conc {
		go func() {
			for i := k; i < len(msgs); i += conc {
				if _, _, err := st.Append(ctx, acc.ID, mailbox, msgs[i], 0, nil, date); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	var first error
	for range conc {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if err := st.Close(); err != nil && first == nil {
		first = err
	}
	if first != nil {
		t.Fatalf("appending to the store: %v", first)
	}
}

func waitAppends(t *testing.T, tg *imapTarget, cmds []*imapclient.AppendCommand) {
	t.Helper()
	for _, cmd := range cmds {
		if _, err := cmd.Wait(); err != nil {
			t.Fatalf("%s: APPEND: %v", tg.name, err)
		}
	}
}

// serverMessage is one message as the server has it.
type serverMessage struct {
	UID   imap.UID
	Flags string // Maildir letters of its system flags, sorted: "FS"
	Body  []byte
}

// messageID is the Message-ID's local part of a test message ("" if none).
func messageID(body []byte) string {
	i := bytes.Index(body, []byte("Message-ID: <"))
	if i < 0 {
		return ""
	}
	rest := body[i+len("Message-ID: <"):]
	j := bytes.IndexByte(rest, '@')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

// mailboxState reads a mailbox over IMAP, keyed by Message-ID (it
// selects the mailbox read-only).
func (tg *imapTarget) mailboxState(t *testing.T, c *imapclient.Client, mailbox string) map[string]serverMessage {
	t.Helper()
	sel, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("%s: SELECT %s: %v", tg.name, mailbox, err)
	}
	out := map[string]serverMessage{}
	if sel.NumMessages == 0 {
		return out
	}
	var all imap.SeqSet
	all.AddRange(1, 0)
	msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, Flags: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil {
		t.Fatalf("%s: FETCH %s: %v", tg.name, mailbox, err)
	}
	for _, m := range msgs {
		var body []byte
		if len(m.BodySection) > 0 {
			body = m.BodySection[0].Bytes
		}
		out[messageID(body)] = serverMessage{UID: m.UID, Flags: maildirLetters(m.Flags), Body: body}
	}
	return out
}

// maildirLetters maps IMAP system flags to Maildir info letters.
func maildirLetters(flags []imap.Flag) string {
	letters := map[string]string{`\draft`: "D", `\flagged`: "F", `\answered`: "R", `\seen`: "S", `\deleted`: "T"}
	var out []string
	for _, f := range flags {
		if l, ok := letters[strings.ToLower(string(f))]; ok {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "")
}

// certSHA256 is the hex SHA-256 of the first certificate in a PEM file.
func certSHA256(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("no certificate in %s", file)
	}
	return fmt.Sprintf("%x", sha256.Sum256(blk.Bytes))
}

// runClient runs a client with HOME set to home, bounded in time.
func runClient(t *testing.T, limit time.Duration, home string, bin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = home
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"))
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return string(out), fmt.Errorf("%s did not finish within %v", filepath.Base(bin), limit)
	}
	return string(out), err
}

// sortedKeys lists a map's keys in order (for messages).
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// maildirClient is a client that syncs the account with a local Maildir
// (mbsync, offlineimap).
type maildirClient struct {
	bin string
	// config writes the client's configuration under home for the
	// target, with the Maildir at home/mail (one directory per mailbox:
	// mail/INBOX, mail/Projects), and returns the sync command's args.
	config func(t *testing.T, tg *imapTarget, home string) []string
	// added matches the header fields the client adds to a message it
	// uploads (ignored when bodies are compared).
	added *regexp.Regexp
	// transcript, if set, checks the output of all the sync runs.
	transcript func(tg *imapTarget, out string) []string
}

// localMessage is one message in the local Maildir.
type localMessage struct {
	Path  string
	Flags string
	Body  []byte
}

// localState reads a Maildir folder (new/ and cur/), keyed by Message-ID.
func localState(t *testing.T, dir string) map[string]localMessage {
	t.Helper()
	out := map[string]localMessage{}
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if os.IsNotExist(err) {
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			p := filepath.Join(dir, sub, e.Name())
			body, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			flags := ""
			if i := strings.LastIndex(e.Name(), ":2,"); i >= 0 {
				fl := strings.Split(e.Name()[i+3:], "")
				slices.Sort(fl)
				flags = strings.Join(fl, "")
			}
			out[messageID(body)] = localMessage{Path: p, Flags: flags, Body: body}
		}
	}
	return out
}

// setLocalFlags renames a Maildir message to carry flags (moving it to cur/).
func setLocalFlags(t *testing.T, m localMessage, flags string) {
	t.Helper()
	name := filepath.Base(m.Path)
	if i := strings.LastIndex(name, ":2,"); i >= 0 {
		name = name[:i]
	}
	dst := filepath.Join(filepath.Dir(filepath.Dir(m.Path)), "cur", name+":2,"+flags)
	must(t, os.Rename(m.Path, dst))
}

// compareMailbox checks that the server's and the local copy of a mailbox
// both hold exactly want (Message-ID: Maildir flags), with the same bytes.
func compareMailbox(mailbox string, server map[string]serverMessage, local map[string]localMessage, want map[string]string, added *regexp.Regexp) []string {
	var diffs []string
	// Both clients keep LF line ends in the Maildir (and send CRLF).
	strip := func(b []byte) []byte {
		b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
		if added == nil {
			return b
		}
		return added.ReplaceAll(b, nil)
	}
	for _, id := range sortedKeys(want) {
		s, onServer := server[id]
		l, onLocal := local[id]
		switch {
		case !onServer:
			diffs = append(diffs, fmt.Sprintf("%s: %s is missing on the server", mailbox, id))
		case s.Flags != want[id]:
			diffs = append(diffs, fmt.Sprintf("%s: %s has flags %q on the server, want %q", mailbox, id, s.Flags, want[id]))
		}
		switch {
		case !onLocal:
			diffs = append(diffs, fmt.Sprintf("%s: %s is missing in the Maildir", mailbox, id))
		case l.Flags != want[id]:
			diffs = append(diffs, fmt.Sprintf("%s: %s has flags %q in the Maildir, want %q", mailbox, id, l.Flags, want[id]))
		}
		if onServer && onLocal && !bytes.Equal(strip(s.Body), strip(l.Body)) {
			diffs = append(diffs, fmt.Sprintf("%s: %s differs:\nserver %q\nlocal  %q", mailbox, id, s.Body, l.Body))
		}
	}
	for _, id := range sortedKeys(server) {
		if _, ok := want[id]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: %s (flags %q) should not be on the server", mailbox, id, server[id].Flags))
		}
	}
	for _, id := range sortedKeys(local) {
		if _, ok := want[id]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: %s (flags %q) should not be in the Maildir", mailbox, id, local[id].Flags))
		}
	}
	return diffs
}

// maildirSyncScenario: pull INBOX (5 messages) and Projects (2) into an
// empty Maildir; then, locally, read m1, flag m2, delete m3 and add
// local1, while on the server m4 is flagged, m5 expunged, server1
// appended and a1 read; a second sync makes both sides agree.
func maildirSyncScenario(mc maildirClient) clientScenario {
	return func(t *testing.T, tg *imapTarget) []string {
		c := tg.dial(t)
		var inbox [][]byte
		for i := 1; i <= 5; i++ {
			inbox = append(inbox, clientMessage(fmt.Sprintf("m%d", i), fmt.Sprintf("message %d", i)))
		}
		tg.seed(t, c, "INBOX", inbox)
		tg.seed(t, c, "Projects", [][]byte{clientMessage("a1", "archived 1"), clientMessage("a2", "archived 2")})

		home := t.TempDir()
		args := mc.config(t, tg, home)
		mail := filepath.Join(home, "mail")
		var transcripts strings.Builder
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("the client's transcripts:\n%s", transcripts.String())
			}
		})
		sync := func(round string) []string {
			out, err := runClient(t, 20*time.Second, home, mc.bin, args...)
			fmt.Fprintf(&transcripts, "--- %s %s:\n%s", filepath.Base(mc.bin), round, out)
			if err != nil {
				return []string{fmt.Sprintf("%s: %s sync: %v\n%s", round, filepath.Base(mc.bin), err, out)}
			}
			return nil
		}
		if d := sync("pull"); d != nil {
			return d
		}
		want := map[string]map[string]string{
			"INBOX":    {"m1": "", "m2": "", "m3": "", "m4": "", "m5": ""},
			"Projects": {"a1": "", "a2": ""},
		}
		var diffs []string
		for _, mb := range []string{"INBOX", "Projects"} {
			diffs = append(diffs, compareMailbox(mb, tg.mailboxState(t, c, mb), localState(t, filepath.Join(mail, mb)), want[mb], mc.added)...)
		}
		if diffs != nil {
			return append([]string{"after the first sync (pull):"}, diffs...)
		}

		local := localState(t, filepath.Join(mail, "INBOX"))
		setLocalFlags(t, local["m1"], "S")
		setLocalFlags(t, local["m2"], "F")
		must(t, os.Remove(local["m3"].Path))
		must(t, os.WriteFile(filepath.Join(mail, "INBOX", "new", fmt.Sprintf("%d.local1.clients.test", time.Now().Unix())), clientMessage("local1", "written locally"), 0o600))

		serverChanges(t, tg, c)
		if d := sync("both ways"); d != nil {
			return d
		}
		want = map[string]map[string]string{
			"INBOX":    {"m1": "S", "m2": "F", "m4": "F", "local1": "", "server1": ""},
			"Projects": {"a1": "S", "a2": ""},
		}
		for _, mb := range []string{"INBOX", "Projects"} {
			diffs = append(diffs, compareMailbox(mb, tg.mailboxState(t, c, mb), localState(t, filepath.Join(mail, mb)), want[mb], mc.added)...)
		}
		if diffs != nil {
			return append([]string{"after the second sync (both ways):"}, diffs...)
		}
		// A third sync has nothing to do and changes nothing.
		if d := sync("again"); d != nil {
			return d
		}
		for _, mb := range []string{"INBOX", "Projects"} {
			diffs = append(diffs, compareMailbox(mb, tg.mailboxState(t, c, mb), localState(t, filepath.Join(mail, mb)), want[mb], mc.added)...)
		}
		if diffs != nil {
			return append([]string{"after a third sync (nothing to do):"}, diffs...)
		}
		if mc.transcript != nil {
			return mc.transcript(tg, transcripts.String())
		}
		return nil
	}
}

// serverChanges flags m4, expunges m5, appends server1 to INBOX and
// marks a1 read, on the test's own connection.
func serverChanges(t *testing.T, tg *imapTarget, c *imapclient.Client) {
	t.Helper()
	inbox := tg.mailboxState(t, c, "INBOX")
	archive := tg.mailboxState(t, c, "Projects")
	store := func(mailbox string, uid imap.UID, f imap.Flag) {
		if _, err := c.Select(mailbox, nil).Wait(); err != nil {
			t.Fatalf("%s: SELECT %s: %v", tg.name, mailbox, err)
		}
		if err := c.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{f}}, nil).Close(); err != nil {
			t.Fatalf("%s: STORE: %v", tg.name, err)
		}
	}
	store("Projects", archive["a1"].UID, imap.FlagSeen)
	store("INBOX", inbox["m4"].UID, imap.FlagFlagged)
	store("INBOX", inbox["m5"].UID, imap.FlagDeleted)
	if err := c.Expunge().Close(); err != nil {
		t.Fatalf("%s: EXPUNGE: %v", tg.name, err)
	}
	tg.seed(t, c, "INBOX", [][]byte{clientMessage("server1", "arrived on the server")})
}

func TestIMAPClientsMbsyncSyncsAMaildirBothWays(t *testing.T) {
	// mbsync 1.4 (Debian 12) speaks no CONDSTORE: it compares UIDs and
	// flags each run; its Pull/Push/Expunge/Create cover both directions.
	mc := maildirClient{bin: needTool(t, "mbsync"), added: regexp.MustCompile(`(?m)^X-TUID: [^\r\n]*\r?\n`)}
	mc.config = func(t *testing.T, tg *imapTarget, home string) []string {
		tlsConf := "SSLType None"
		if tg.tls {
			tlsConf = "SSLType IMAPS\nCertificateFile " + tg.certFile
		}
		rc := filepath.Join(home, "mbsyncrc")
		must(t, os.WriteFile(rc, []byte(fmt.Sprintf(`IMAPAccount acc
Host 127.0.0.1
Port %d
User %s
Pass %s
%s
AuthMechs LOGIN
Timeout 15

IMAPStore remote
Account acc

MaildirStore local
Path %[5]s/mail/
Inbox %[5]s/mail/INBOX
SubFolders Verbatim

Channel c
Far :remote:
Near :local:
Patterns INBOX Projects
Create Both
Expunge Both
Remove None
Sync All
SyncState *
`, tg.port, tg.user, tg.pass, tlsConf, home)), 0o600))
		must(t, os.MkdirAll(filepath.Join(home, "mail"), 0o700))
		return []string{"-Dn", "-c", rc, "-a"}
	}
	// mbsync turns on COMPRESS=DEFLATE where it is advertised, and ends
	// each batch of commands with a zlib partial flush: each of the three
	// runs against boxmail must have gone compressed (Dovecot's Debian
	// defaults do not offer it).
	compressed := regexp.MustCompile(`(?m)^>>> \d+ COMPRESS DEFLATE\r?\n\d+ OK `)
	mc.transcript = func(tg *imapTarget, out string) []string {
		if n := len(compressed.FindAllString(out, -1)); tg.name == "boxmail" && n != 3 {
			return []string{fmt.Sprintf("%d of the 3 mbsync runs turned on COMPRESS=DEFLATE", n)}
		}
		return nil
	}
	runOnBothServers(t, "mbsync", maildirSyncScenario(mc))
}

func TestIMAPClientsOfflineimapSyncsAMaildirBothWays(t *testing.T) {
	// offlineimap3 0.0~git (Debian 12) has no CONDSTORE or QRESYNC
	// option (its documented configuration and its source name neither):
	// it reads every UID's flags each run.
	mc := maildirClient{bin: needTool(t, "offlineimap"), added: regexp.MustCompile(`(?m)^X-OfflineIMAP: [^\r\n]*\r?\n`)}
	mc.config = func(t *testing.T, tg *imapTarget, home string) []string {
		tlsConf := "ssl = no\nstarttls = no"
		if tg.tls {
			tlsConf = "ssl = yes\nstarttls = no\ncert_fingerprint = " + certSHA256(t, tg.certFile)
		}
		rc := filepath.Join(home, "offlineimaprc")
		must(t, os.WriteFile(rc, []byte(fmt.Sprintf(`[general]
accounts = acc
metadata = %[1]s/meta
ui = basic

[Account acc]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = %[1]s/mail

[Repository remote]
type = IMAP
remotehost = 127.0.0.1
remoteport = %[2]d
remoteuser = %[3]s
remotepass = %[4]s
%[5]s
maxconnections = 1
holdconnectionopen = no
timeout = 15
folderfilter = lambda f: f in ['INBOX', 'Projects']
`, home, tg.port, tg.user, tg.pass, tlsConf)), 0o600))
		must(t, os.MkdirAll(filepath.Join(home, "mail"), 0o700))
		return []string{"-c", rc, "-o"}
	}
	runOnBothServers(t, "offlineimap", maildirSyncScenario(mc))
}

func TestIMAPClientsFetchmailDownloadsOverIMAPAndEmptiesTheInbox(t *testing.T) {
	fetchmail := needTool(t, "fetchmail")
	runOnBothServers(t, "fetchmail", func(t *testing.T, tg *imapTarget) []string {
		c := tg.dial(t)
		var msgs [][]byte
		for i := 1; i <= 3; i++ {
			msgs = append(msgs, clientMessage(fmt.Sprintf("f%d", i), fmt.Sprintf("for fetchmail %d", i)))
		}
		// A 300 KB 8-bit message: a literal read in many pieces.
		big := clientMessage("f4", "Grüße, a long one")
		big = append(big, bytes.Repeat([]byte("Zeile mit Umlauten: äöü ß, and some ASCII to fill the line.\r\n"), 5000)...)
		msgs = append(msgs, big)
		tg.seed(t, c, "INBOX", msgs)
		home := t.TempDir()
		box := filepath.Join(home, "Maildir")
		for _, d := range []string{"new", "cur", "tmp"} {
			must(t, os.MkdirAll(filepath.Join(box, d), 0o700))
		}
		// fetchmail checks a certificate against the CAs and the host
		// name (mail.example.test is not 127.0.0.1): sslcertck is off and
		// sslfingerprint pins the box's certificate instead.
		tlsConf := "sslproto ''"
		if tg.tls {
			tlsConf = fmt.Sprintf("ssl sslproto TLS1.2+ no sslcertck sslfingerprint %q", certMD5(t, tg.certFile))
		}
		rc := filepath.Join(home, "fetchmailrc")
		must(t, os.WriteFile(rc, []byte(fmt.Sprintf(`set no syslog
poll 127.0.0.1 service %d protocol IMAP auth password:
  user "%s" password "%s" is "local" here
  %s
  no keep fetchall no stripcr
  mda "/bin/sh -c 'cat > %s/new/msg.$$'"
`, tg.port, tg.user, tg.pass, tlsConf, box)), 0o600))
		out, err := runClient(t, 30*time.Second, home, fetchmail, "-f", rc, "-v", "--nodetach")
		if err != nil {
			return []string{fmt.Sprintf("fetchmail: %v\n%s", err, out)}
		}
		var diffs []string
		if tg.tls && !strings.Contains(out, "fingerprints match") {
			diffs = append(diffs, "fetchmail did not check the pinned certificate fingerprint")
		}
		got := map[string][]byte{}
		for _, m := range readDir(t, filepath.Join(box, "new")) {
			got[messageID(m)] = fetchmailHeader.ReplaceAll(m, nil)
		}
		for _, m := range msgs {
			switch g, ok := got[messageID(m)]; {
			case !ok:
				diffs = append(diffs, fmt.Sprintf("fetchmail did not hand %s to the MDA", messageID(m)))
			case !bytes.Equal(g, m):
				diffs = append(diffs, fmt.Sprintf("fetchmail handed\n%q\nwant\n%q", g, m))
			}
		}
		if len(got) != len(msgs) {
			diffs = append(diffs, fmt.Sprintf("fetchmail handed %d messages to the MDA, want %d", len(got), len(msgs)))
		}
		if left := tg.mailboxState(t, c, "INBOX"); len(left) != 0 {
			diffs = append(diffs, fmt.Sprintf("%d messages left in the INBOX after fetchmail (no keep): %v", len(left), sortedKeys(left)))
		}
		if diffs != nil {
			diffs = append(diffs, "fetchmail's transcript:\n"+out)
		}
		return diffs
	})
}

// certMD5 is the MD5 fingerprint of a PEM certificate as fetchmail's
// sslfingerprint takes it (upper-case hex pairs joined by colons).
func certMD5(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("no certificate in %s", file)
	}
	sum := md5.Sum(blk.Bytes)
	var parts []string
	for _, x := range sum {
		parts = append(parts, fmt.Sprintf("%02X", x))
	}
	return strings.Join(parts, ":")
}

// qresyncLines bounds the lines of a QRESYNC resync after 10 flag
// changes in a 10,000-message mailbox (issue 18).
const qresyncLines = 50

func TestIMAPClientsImaplibResyncsTenThousandMessagesWithQRESYNC(t *testing.T) {
	py := needTool(t, "python3")
	script, err := filepath.Abs(filepath.Join("clients", "imap_qresync.py"))
	if err != nil {
		t.Fatal(err)
	}
	runOnBothServers(t, "qresync", func(t *testing.T, tg *imapTarget) []string {
		msgs := make([][]byte, 10000)
		for i := range msgs {
			msgs[i] = clientMessage(fmt.Sprintf("big%d", i), fmt.Sprintf("bulk %d", i))
		}
		start := time.Now()
		tg.bulk(t, "Big", msgs)
		t.Logf("%s: 10,000 messages stored in %v", tg.name, time.Since(start).Round(time.Millisecond))
		useTLS := "0"
		if tg.tls {
			useTLS = "1"
		}
		out, err := runClient(t, 60*time.Second, t.TempDir(), py, script, "127.0.0.1", fmt.Sprint(tg.port), useTLS, tg.certFile, tg.user, tg.pass, "Big")
		if err != nil {
			return []string{fmt.Sprintf("imap_qresync.py: %v\n%s", err, out)}
		}
		kv := map[string]string{}
		for _, l := range strings.Split(out, "\n") {
			k, v, _ := strings.Cut(strings.TrimSpace(l), " ")
			kv[k] = v
		}
		var diffs []string
		if kv["MODE"] != "qresync" {
			diffs = append(diffs, fmt.Sprintf("the server advertises no QRESYNC (capabilities: %s): the client resynced with %s", kv["CAPS"], kv["MODE"]))
		}
		if n, err := strconv.Atoi(kv["LINES"]); err != nil || n >= qresyncLines {
			diffs = append(diffs, fmt.Sprintf("the resync took %s response lines, want fewer than %d", kv["LINES"], qresyncLines))
		}
		if kv["SEEN"] != kv["CHANGED"] {
			diffs = append(diffs, fmt.Sprintf("the resync reported UIDs %q flagged, want the changed %q", kv["SEEN"], kv["CHANGED"]))
		}
		t.Logf("%s: mode %s, %s lines", tg.name, kv["MODE"], kv["LINES"])
		return diffs
	})
}

// tmuxSession is a client running in a detached tmux on a socket of
// its own (so only our tmux server is ever addressed or stopped).
type tmuxSession struct {
	t    *testing.T
	tmux string
	sock string
	pid  int
}

// startTmux runs command (argv) in a new detached 160x40 tmux session
// with HOME=home.
func startTmux(t *testing.T, home string, command ...string) *tmuxSession {
	t.Helper()
	sockDir, err := os.MkdirTemp("", "tmux") // short: a socket path is at most 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	s := &tmuxSession{t: t, tmux: needTool(t, "tmux"), sock: filepath.Join(sockDir, "s")}
	args := append([]string{"-f", "/dev/null", "new-session", "-d", "-s", "c", "-x", "160", "-y", "40",
		"-e", "HOME=" + home, "-e", "TERM=screen"}, command...)
	if out, err := s.run(args...); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	out, err := s.run("display-message", "-p", "#{pid}")
	if err != nil {
		t.Fatalf("tmux display-message: %v\n%s", err, out)
	}
	s.pid, _ = strconv.Atoi(strings.TrimSpace(out))
	t.Cleanup(s.stop)
	return s
}

func (s *tmuxSession) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.tmux, append([]string{"-S", s.sock}, args...)...)
	cmd.Env = append(os.Environ(), "TMUX=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// keys sends tmux key names (Enter, C-u) and literal text ("=Saved").
func (s *tmuxSession) keys(literal bool, keys ...string) {
	s.t.Helper()
	args := []string{"send-keys", "-t", "c"}
	if literal {
		args = append(args, "-l")
	}
	if out, err := s.run(append(args, keys...)...); err != nil {
		s.t.Fatalf("tmux send-keys %q: %v\n%s", keys, err, out)
	}
}

func (s *tmuxSession) screen() string {
	out, _ := s.run("capture-pane", "-p", "-t", "c")
	return out
}

// waitFor polls the screen (10 s at most) until ok holds; it returns
// the last screen and whether ok held.
func (s *tmuxSession) waitFor(ok func(screen string) bool) (string, bool) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		sc := s.screen()
		if ok(sc) {
			return sc, true
		}
		if time.Now().After(deadline) {
			return sc, false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ended waits (10 s at most) for the session's program to exit.
func (s *tmuxSession) ended() bool {
	for range 100 {
		if _, err := s.run("has-session", "-t", "c"); err != nil {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// stop stops our tmux server, by its socket and then by its PID.
func (s *tmuxSession) stop() {
	s.run("kill-server")
	if s.pid <= 0 {
		return
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", s.pid))
	if strings.Contains(string(cmdline), s.sock) {
		syscall.Kill(s.pid, syscall.SIGKILL)
	}
}

func TestIMAPClientsNeomuttReadsFlagsMovesAndDeletesInTmux(t *testing.T) {
	neomutt := needTool(t, "neomutt")
	needTool(t, "tmux")
	runOnBothServers(t, "neomutt", func(t *testing.T, tg *imapTarget) []string {
		c := tg.dial(t)
		var msgs [][]byte
		for i, w := range []string{"one", "two", "three", "four"} {
			msgs = append(msgs, clientMessage(fmt.Sprintf("n%d", i+1), "note "+w))
		}
		tg.seed(t, c, "INBOX", msgs)
		tg.seed(t, c, "Saved", nil)
		home := t.TempDir()
		must(t, os.MkdirAll(filepath.Join(home, "tmp"), 0o700))
		rc := filepath.Join(home, "muttrc")
		must(t, os.WriteFile(rc, []byte(neomuttConfig(t, tg, home)), 0o600))

		s := startTmux(t, home, neomutt, "-n", "-F", rc)
		var diffs []string
		step := func(what string, ok func(string) bool) bool {
			if sc, done := s.waitFor(ok); !done {
				diffs = append(diffs, fmt.Sprintf("neomutt: %s did not show; the screen:\n%s", what, sc))
				return false
			}
			return true
		}
		has := func(re string) func(string) bool {
			return regexp.MustCompile(re).MatchString
		}
		// The index: four messages.
		if !step("the INBOX index", has(`(?s)note one.*note two.*note three.*note four`)) {
			return diffs
		}
		// Read message 1 (jump with its number), back to the index.
		s.keys(true, "1")
		s.keys(false, "Enter")
		s.keys(false, "Enter")
		if !step("message 1 in the pager", has(`This is n1\.`)) {
			return diffs
		}
		s.keys(true, "q")
		if !step("the index again", has(`note four`)) {
			return diffs
		}
		// Flag message 2.
		s.keys(true, "2")
		s.keys(false, "Enter")
		s.keys(true, "F")
		if !step("message 2 flagged", has(`(?m)^\s*2 [^\n]*!.*note two`)) {
			return diffs
		}
		// Save (move) message 3 to Saved: the prompt's suggestion is
		// cleared first.
		s.keys(true, "3")
		s.keys(false, "Enter")
		s.keys(true, "s")
		if !step("the save prompt", has(`Save to mailbox`)) {
			return diffs
		}
		s.keys(false, "C-u")
		s.keys(true, "=Saved")
		s.keys(false, "Enter")
		if !step("message 3 saved and marked deleted", has(`(?m)^\s*3 [^\n]*D.*note three`)) {
			return diffs
		}
		// Delete message 4, sync ($), quit.
		s.keys(true, "4")
		s.keys(false, "Enter")
		s.keys(true, "d")
		if !step("message 4 marked deleted", has(`(?m)^\s*4 [^\n]*D.*note four`)) {
			return diffs
		}
		s.keys(true, "$")
		if !step("the synced INBOX", func(sc string) bool { return !strings.Contains(sc, "note four") && !strings.Contains(sc, "note three") }) {
			return diffs
		}
		s.keys(true, "q")
		if !s.ended() {
			return []string{"neomutt did not quit; the screen:\n" + s.screen()}
		}
		return append(diffs, tg.expectMailboxes(t, c, "neomutt", map[string]map[string]string{
			"INBOX": {"n1": "S", "n2": "F"}, "Saved": {"n3": ""}})...)
	})
}

// expectMailboxes compares the server's mailboxes with want (mailbox:
// Message-ID: Maildir flags) after a client ran.
func (tg *imapTarget) expectMailboxes(t *testing.T, c *imapclient.Client, who string, want map[string]map[string]string) []string {
	t.Helper()
	var diffs []string
	for _, mb := range sortedKeys(want) {
		got := tg.mailboxState(t, c, mb)
		for _, id := range sortedKeys(want[mb]) {
			if m, ok := got[id]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s: %s is missing after %s", mb, id, who))
			} else if m.Flags != want[mb][id] {
				diffs = append(diffs, fmt.Sprintf("%s: %s has flags %q after %s, want %q", mb, id, m.Flags, who, want[mb][id]))
			}
		}
		for _, id := range sortedKeys(got) {
			if _, ok := want[mb][id]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s: %s (flags %q) should be gone after %s", mb, id, got[id].Flags, who))
			}
		}
	}
	return diffs
}

// neomuttConfig is a muttrc for the target: no prompts, mailbox order,
// the flags column; a header cache, with CONDSTORE and QRESYNC on (neomutt
// uses them where the server offers them).
func neomuttConfig(t *testing.T, tg *imapTarget, home string) string {
	t.Helper()
	folder := fmt.Sprintf("imap://127.0.0.1:%d/", tg.port)
	tlsConf := "set ssl_starttls = no\nset ssl_force_tls = no\n"
	if tg.tls {
		// Trust exactly the box's certificate (GnuTLS neomutt reads
		// certificate_file); it names mail.example.test, not 127.0.0.1.
		folder = fmt.Sprintf("imaps://127.0.0.1:%d/", tg.port)
		cert, err := os.ReadFile(tg.certFile)
		if err != nil {
			t.Fatal(err)
		}
		must(t, os.WriteFile(filepath.Join(home, "certificates"), cert, 0o600))
		tlsConf = fmt.Sprintf("set certificate_file = %q\nset ssl_verify_host = no\nset ssl_force_tls = yes\n", filepath.Join(home, "certificates"))
	}
	return fmt.Sprintf(`set folder = %q
set spoolfile = "+INBOX"
set imap_user = %q
set imap_pass = %q
%sset tmpdir = %q
set header_cache = %q
set message_cachedir = ""
set imap_condstore = yes
set imap_qresync = yes
set sort = mailbox-order
set index_format = "%%4C %%Z %%s"
set pager_index_lines = 0
set delete = yes
set move = no
set mark_old = no
set confirmappend = no
set confirmcreate = no
set quit = yes
set wait_key = no
set beep = no
set copy = no
set record = ""
set imap_check_subscribed = no
set mail_check_stats = no
set help = no
`, folder, tg.user, tg.pass, tlsConf, filepath.Join(home, "tmp"), filepath.Join(home, "hcache"))
}
