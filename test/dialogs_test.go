package test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"boxmail/internal/store"
	"boxmail/internal/testutil"
)

// TestDialogs runs every dialogs/*.dialog script against a fresh box:
// the lines of a dialog run in order, then its checks (=, ~, verify)
// look at the mail the box stored. Every error names file:line.
//
// Script lines:
//
//	# comment                   (and empty lines) ignored
//	skip REASON                 skip the whole dialog (with a "# BUG:" comment above it)
//	run ARGS                    run `boxmail ARGS --dir DATA` (words split on blanks,
//	                            the test password on stdin); it must exit 0
//	port NAME                   connect to NAME: smtp, submission, pop3, imap or
//	                            managesieve (then enabled on a free port); a later
//	                            port line closes the connection before
//	tls                         start TLS on the connection (after STARTTLS/STLS)
//	> TEXT                      send TEXT + CRLF ("\r", "\n", "\t" escapes allowed)
//	>                           send an empty line
//	>raw TEXT                   send TEXT with no CRLF added (use \r\n escapes)
//	< REGEXP                    read one reply, which must match: on smtp and
//	                            submission the last line of a multi-line reply,
//	                            elsewhere one line
//	<* REGEXP                   read lines until one matches (at most 1000)
//	= EMAIL MAILBOX N           after the dialog, the mailbox holds N messages
//	~ EMAIL MAILBOX N TEXT      after the dialog, message N (1-based) contains TEXT
//	verify EMAIL MAILBOX N FILE after the dialog, message N is dialogs/FILE, a golden
//	                            file named NAME.verify or NAME.WHO.verify for
//	                            NAME.dialog (see maskMail for its few placeholders)
//
// go test ./test/ -run Dialogs -update-dialogs rewrites the golden files
// from the mail the box stores; read the diff before committing it.
func TestDialogs(t *testing.T) {
	files, err := filepath.Glob("dialogs/*.dialog")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dialogs: %v", err)
	}
	goldens := map[string]bool{}
	parsed := true
	for _, f := range files {
		lines, err := parseDialog(f)
		if err != nil {
			t.Error(err)
			parsed = false
			continue
		}
		for _, l := range lines {
			if l.verb == "verify" {
				goldens[filepath.Join("dialogs", strings.Fields(l.arg)[3])] = true
			}
		}
		t.Run(strings.TrimSuffix(filepath.Base(f), ".dialog"), func(t *testing.T) {
			runDialog(t, f, lines)
		})
	}
	all, err := filepath.Glob("dialogs/*.verify")
	if err != nil || !parsed {
		return // a dialog that does not parse would make its goldens look unused
	}
	for _, g := range all {
		if !goldens[g] {
			t.Errorf("%s: no dialog verifies this golden file", g)
		}
	}
}

var updateDialogs = flag.Bool("update-dialogs", false, "rewrite the dialogs' .verify golden files from the mail the box stores")

// dialogLine is one directive of a script.
type dialogLine struct {
	where string // file:line
	verb  string // skip, run, port, tls, >, >raw, <, <*, =, ~, verify
	arg   string
}

// dialogPorts names the ports a dialog may connect to; the value tells
// whether the port speaks SMTP (replies of several lines).
var dialogPorts = map[string]bool{"smtp": true, "submission": true, "pop3": false, "imap": false, "managesieve": false}

// parseDialog reads a script and checks every line's syntax.
func parseDialog(path string) ([]dialogLine, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []dialogLine
	connected := false
	name := strings.TrimSuffix(filepath.Base(path), ".dialog")
	for i, text := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		l := dialogLine{where: fmt.Sprintf("%s:%d", path, i+1)}
		l.verb, l.arg = splitDirective(text)
		if err := checkDirective(l, connected); err != nil {
			return nil, fmt.Errorf("%s: %w", l.where, err)
		}
		if l.verb == "verify" && !strings.HasPrefix(strings.Fields(l.arg)[3], name+".") {
			return nil, fmt.Errorf("%s: a golden file of %s.dialog is named %s.verify or %s.WHO.verify", l.where, name, name, name)
		}
		connected = connected || l.verb == "port"
		out = append(out, l)
	}
	return out, nil
}

// splitDirective cuts a script line into its directive and argument.
func splitDirective(text string) (verb, arg string) {
	for _, p := range []string{">raw ", "<* ", "> ", "< ", "= ", "~ "} {
		if strings.HasPrefix(text, p) {
			return strings.TrimSpace(p), text[len(p):]
		}
	}
	verb, arg, _ = strings.Cut(text, " ")
	return verb, arg
}

// checkDirective checks one line's argument; connected says whether a
// port line came before it.
func checkDirective(l dialogLine, connected bool) error {
	switch l.verb {
	case "skip", "run":
		if l.arg == "" {
			return fmt.Errorf("%s needs an argument", l.verb)
		}
	case "port":
		if _, ok := dialogPorts[l.arg]; !ok {
			return fmt.Errorf("unknown port %q", l.arg)
		}
	case "tls", ">", ">raw", "<", "<*":
		if !connected {
			return fmt.Errorf("%s before any port line", l.verb)
		}
		if l.verb == "tls" && l.arg != "" {
			return errors.New("tls takes no argument")
		}
		if l.verb == "<" || l.verb == "<*" {
			_, err := regexp.Compile(l.arg)
			return err
		}
	case "=", "~", "verify":
		want := map[string]int{"=": 3, "~": 4, "verify": 4}[l.verb]
		f := strings.SplitN(l.arg, " ", want)
		if len(f) != want {
			return fmt.Errorf("%s wants %d arguments", l.verb, want)
		}
		if n, err := strconv.Atoi(f[2]); err != nil || n < 0 || n == 0 && l.verb != "=" {
			return fmt.Errorf("bad message count or number %q", f[2])
		}
		if l.verb == "verify" && (filepath.Base(f[3]) != f[3] || !strings.HasSuffix(f[3], ".verify")) {
			return fmt.Errorf("golden file %q must be a NAME.verify in dialogs/", f[3])
		}
	default:
		return fmt.Errorf("bad script line %q", l.verb+" "+l.arg)
	}
	return nil
}

// dialog is a running script: the box and the open connection.
type dialog struct {
	t    *testing.T
	b    *Box
	c    *Conn
	smtp bool // the connection speaks SMTP
	port map[string]int
}

func runDialog(t *testing.T, path string, lines []dialogLine) {
	settings := map[string]string{}
	sievePort := 0
	for _, l := range lines {
		if l.verb == "skip" {
			t.Skipf("%s: %s", l.where, l.arg)
		}
		if l.verb == "port" && l.arg == "managesieve" && sievePort == 0 {
			sievePort = testutil.FreePort(t)
			settings["managesieve_port"] = strconv.Itoa(sievePort)
		}
	}
	b := newBoxWith(t, settings)
	if sievePort != 0 {
		b.waitPort(sievePort)
	}
	d := &dialog{t: t, b: b, port: map[string]int{"smtp": b.SMTP, "submission": b.Submission, "pop3": b.POP3, "imap": b.IMAP, "managesieve": sievePort}}
	var checks []dialogLine
	for _, l := range lines {
		if l.verb == "=" || l.verb == "~" || l.verb == "verify" {
			checks = append(checks, l)
			continue
		}
		if err := d.do(l); err != nil {
			t.Fatalf("%s: %v", l.where, err)
		}
	}
	if d.c != nil {
		d.c.c.Close() // a TLS conn closes the one under it
	}
	if len(checks) == 0 {
		return
	}
	st := b.OpenStore()
	for _, l := range checks {
		if err := checkMail(st, l); err != nil {
			t.Errorf("%s: %v", l.where, err)
		}
	}
}

// do runs one line of the dialog proper.
func (d *dialog) do(l dialogLine) error {
	switch l.verb {
	case "run":
		return d.run(strings.Fields(l.arg))
	case "port":
		return d.dial(l.arg)
	case "tls":
		return d.startTLS()
	case ">":
		return d.write(unescape(l.arg) + "\r\n")
	case ">raw":
		return d.write(unescape(l.arg))
	case "<":
		got, err := d.reply()
		if err != nil {
			return fmt.Errorf("waiting for /%s/: %w", l.arg, err)
		}
		d.t.Logf("%s: got %q", l.where, got)
		if !regexp.MustCompile(l.arg).MatchString(got) {
			return fmt.Errorf("got %q, want /%s/", got, l.arg)
		}
	case "<*":
		return d.skipTo(l.where, regexp.MustCompile(l.arg))
	}
	return nil
}

// dial closes the connection open before, if any, and connects to the
// named port.
func (d *dialog) dial(name string) error {
	if d.c != nil {
		d.c.c.Close()
	}
	nc, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", d.port[name]), 5*time.Second)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", name, err)
	}
	d.c, d.smtp = &Conn{t: d.t, c: nc, r: bufio.NewReader(nc)}, dialogPorts[name]
	return nil
}

func unescape(s string) string {
	return strings.NewReplacer(`\r`, "\r", `\n`, "\n", `\t`, "\t").Replace(s)
}

// run runs an admin command on the box's data dir.
func (d *dialog) run(args []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append(args, "--dir", d.b.Dir)...)
	cmd.Stdin = strings.NewReader(testPassword + "\n")
	cmd.Env = append(os.Environ(), "BOXMAIL_DIR=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("boxmail %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

func (d *dialog) write(s string) error {
	if err := d.c.c.SetWriteDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	if _, err := d.c.c.Write([]byte(s)); err != nil {
		return fmt.Errorf("sending %q: %w", s, err)
	}
	return nil
}

// reply reads one reply: on SMTP up to the last line of a multi-line
// reply, which it returns; elsewhere one line.
func (d *dialog) reply() (string, error) {
	for {
		l, err := d.c.Line()
		if err != nil {
			return "", err
		}
		if !d.smtp || len(l) < 4 || l[3] != '-' {
			return l, nil
		}
	}
}

// skipTo reads lines until one matches re.
func (d *dialog) skipTo(where string, re *regexp.Regexp) error {
	var seen []string
	for range 1000 {
		l, err := d.c.Line()
		if err != nil {
			return fmt.Errorf("waiting for /%s/ after %q: %w", re, seen, err)
		}
		if re.MatchString(l) {
			d.t.Logf("%s: got %q after %q", where, l, seen)
			return nil
		}
		seen = append(seen, l)
	}
	return fmt.Errorf("no line matches /%s/ in 1000", re)
}

// startTLS starts TLS as a client once the server has said go ahead.
func (d *dialog) startTLS() error {
	if n := d.c.r.Buffered(); n > 0 {
		return fmt.Errorf("%d bytes after the server's go-ahead for TLS", n)
	}
	tc := tls.Client(d.c.c, &tls.Config{ServerName: "mail.example.test", InsecureSkipVerify: true}) // the box's self-signed certificate
	if err := tc.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	if err := tc.SetDeadline(time.Time{}); err != nil {
		return err
	}
	d.c.c, d.c.r = tc, bufio.NewReader(tc)
	return nil
}

// checkMail runs one check (=, ~ or verify) against the store.
func checkMail(st *store.Store, l dialogLine) error {
	f := strings.SplitN(l.arg, " ", 4)
	email, mailbox := f[0], f[1]
	k, _ := strconv.Atoi(f[2]) // checked by parseDialog
	msgs, err := storedMail(st, email, mailbox)
	if err != nil {
		return err
	}
	if l.verb == "=" {
		if len(msgs) != k {
			return fmt.Errorf("%s %s holds %d messages, want %d", email, mailbox, len(msgs), k)
		}
		return nil
	}
	if k > len(msgs) {
		return fmt.Errorf("%s %s holds %d messages, no message %d", email, mailbox, len(msgs), k)
	}
	msg := msgs[k-1]
	if l.verb == "~" {
		if !bytes.Contains(msg, []byte(unescape(f[3]))) {
			return fmt.Errorf("message %d of %s %s lacks %q:\n%s", k, email, mailbox, f[3], msg)
		}
		return nil
	}
	return verifyGolden(filepath.Join("dialogs", f[3]), msg)
}

// storedMail returns the raw messages of an account's mailbox.
func storedMail(st *store.Store, email, mailbox string) ([][]byte, error) {
	ctx := context.Background()
	acc, err := st.AccountByEmail(ctx, email)
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", email, err)
	}
	mb, err := st.MailboxByName(ctx, acc.ID, mailbox)
	if err != nil {
		return nil, fmt.Errorf("mailbox %s of %s: %w", mailbox, email, err)
	}
	msgs, err := st.Messages(ctx, mb.ID, 1, 0)
	if err != nil {
		return nil, fmt.Errorf("messages of %s %s: %w", email, mailbox, err)
	}
	var out [][]byte
	for _, m := range msgs {
		body, err := st.Body(ctx, m.BodyID)
		if err != nil {
			return nil, fmt.Errorf("a message body of %s %s: %w", email, mailbox, err)
		}
		out = append(out, body)
	}
	return out, nil
}

// verifyGolden compares a stored message, masked, with a golden file
// (or, with -update-dialogs, writes the golden file).
func verifyGolden(path string, msg []byte) error {
	got := maskMail(msg)
	if *updateDialogs {
		return os.WriteFile(path, got, 0o644)
	}
	want, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s does not exist: run go test ./test/ -run Dialogs -update-dialogs", path)
	}
	if err != nil {
		return err
	}
	if bytes.Equal(got, want) {
		return nil
	}
	return fmt.Errorf("the stored message differs from %s (-update-dialogs rewrites it):\n%s", path, firstDifference(want, got))
}

// firstDifference names the first line where two golden texts differ.
func firstDifference(want, got []byte) string {
	w, g := strings.SplitAfter(string(want), "\n"), strings.SplitAfter(string(got), "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n  want %q\n  got  %q\n\ngot in full:\n%s", i+1, wl, gl, got)
		}
	}
	return "(no line differs)"
}

// maskMail turns a stored message into golden-file text. The header
// fields the box writes anew on every delivery keep their shape, but a
// placeholder stands for the value that changes:
//
//	{{id}}         the session id in the box's Received field
//	{{date}}       the date that ends the box's Received field
//	{{dkim t}}     the signing time (t=) of a DKIM-Signature
//	{{dkim b}}     the signature (b=) of a DKIM-Signature, folds included
//
// Nothing else varies: the tests' box is always mail.example.test and its
// clients 127.0.0.1, and the box adds no Message-ID or Date to the mail
// these dialogs send. Line ends: CRLF is written as a plain newline, a
// bare LF as "{{LF}}" and a newline, a bare CR as "{{CR}}", and a message
// that does not end in CRLF gets "{{no final CRLF}}" and a newline; so
// the golden file is exact yet reads as text.
func maskMail(msg []byte) []byte {
	s := maskHeader(string(msg))
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n':
			b.WriteByte('\n')
			i++
		case s[i] == '\n':
			b.WriteString("{{LF}}\n")
		case s[i] == '\r':
			b.WriteString("{{CR}}")
		default:
			b.WriteByte(s[i])
		}
	}
	if !strings.HasSuffix(s, "\r\n") {
		b.WriteString("{{no final CRLF}}\n")
	}
	return []byte(b.String())
}

// The masks of maskMail, each applied to one header field.
var (
	receivedID   = regexp.MustCompile(`^(Received: [^;]*\(boxmail\) with [A-Z]+ id )[0-9a-f]+`)
	receivedDate = regexp.MustCompile(`^(Received: [^;]*\(boxmail\) [^;]*;\s+)[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}`)
	dkimTime     = regexp.MustCompile(`(?s)^(DKIM-Signature:.*?[;\s]t=)\d+`)
	dkimSig      = regexp.MustCompile(`(?s)^(DKIM-Signature:.*?[;\s]b=)[A-Za-z0-9+/=]+(\r\n[ \t]+[A-Za-z0-9+/=]+)*`)
)

// maskHeader applies the masks of maskMail to the header fields of msg
// (split here, CRLF only, not by the code under test).
func maskHeader(msg string) string {
	var out strings.Builder
	rest := msg
	for rest != "" && !strings.HasPrefix(rest, "\r\n") {
		n := 0
		for {
			i := strings.Index(rest[n:], "\r\n")
			if i < 0 {
				n = len(rest)
				break
			}
			n += i + 2
			if n == len(rest) || rest[n] != ' ' && rest[n] != '\t' {
				break
			}
		}
		f := rest[:n]
		f = receivedID.ReplaceAllString(f, "${1}{{id}}")
		f = receivedDate.ReplaceAllString(f, "${1}{{date}}")
		f = dkimTime.ReplaceAllString(f, "${1}{{dkim t}}")
		f = dkimSig.ReplaceAllString(f, "${1}{{dkim b}}")
		out.WriteString(f)
		rest = rest[n:]
	}
	out.WriteString(rest)
	return out.String()
}
