package imapd

import (
	"bufio"
	"compress/flate"
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"boxmail/internal/imapd/wire"
	"boxmail/internal/store"
)

// Dialog tests of the behaviours of issue 18, written as the client sees
// them: each sends commands and checks the lines that come back.

// loginRaw connects and logs in as bob, selecting INBOX when sel is set.
func loginRaw(t *testing.T, ts *testServer, sel bool) *rawConn {
	t.Helper()
	c := dialRaw(t, ts.addr)
	c.send("l LOGIN bob@example.test \"" + password + "\"\r\n")
	c.until("l OK")
	if sel {
		c.send("s SELECT INBOX\r\n")
		c.until("s OK")
	}
	return c
}

// cmd sends one tagged command and returns its answer lines, the tagged
// one last.
func (c *rawConn) cmd(tag, line string) []string {
	c.t.Helper()
	c.send(tag + " " + line + "\r\n")
	return c.until(tag + " ")
}

func has(lines []string, want string) bool { return slices.Contains(lines, want) }

func index(lines []string, prefix string) int {
	return slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, prefix) })
}

// A new message is \Recent in exactly one session (RFC 3501 2.3.2), shown
// with "* n RECENT" after EXISTS; an IMAP4rev2 client sees none of it.
func TestRecentIsInExactlyOneSessionAndRev2SeesNone(t *testing.T) {
	ts := startInsecure(t)
	bob := ts.account(t, "bob@example.test")
	ts.deliver(t, bob, testMessage("one", "1"))
	first := loginRaw(t, ts, false)
	if l := first.cmd("a", "SELECT INBOX"); !has(l, "* 1 EXISTS") || !has(l, "* 1 RECENT") {
		t.Errorf("first SELECT: %q", l)
	}
	second := loginRaw(t, ts, false)
	if l := second.cmd("a", "SELECT INBOX"); !has(l, "* 0 RECENT") {
		t.Errorf("second SELECT: %q", l)
	}
	rev2 := loginRaw(t, ts, false)
	rev2.cmd("e", "ENABLE IMAP4rev2")
	if l := rev2.cmd("a", "SELECT INBOX"); index(l, "* 0 RECENT") >= 0 || index(l, "* OK [UNSEEN") >= 0 {
		t.Errorf("rev2 SELECT: %q", l)
	}
	ts.deliver(t, bob, testMessage("two", "2"))
	time.Sleep(50 * time.Millisecond)
	l1, l2, l3 := first.cmd("n", "NOOP"), second.cmd("n", "NOOP"), rev2.cmd("n", "NOOP")
	if i := index(l1, "* 2 EXISTS"); i < 0 || l1[i+1] != "* 2 RECENT" {
		t.Errorf("first NOOP: %q", l1)
	}
	if i := index(l2, "* 2 EXISTS"); i < 0 || l2[i+1] != "* 0 RECENT" {
		t.Errorf("second NOOP: %q", l2)
	}
	if index(l3, "* 2 EXISTS") < 0 || index(l3, "* 0 RECENT") >= 0 || index(l3, "RECENT") >= 0 {
		t.Errorf("rev2 NOOP: %q", l3)
	}
	if l := first.cmd("f", "FETCH 2 (FLAGS)"); !has(l, `* 2 FETCH (FLAGS (\Recent))`) {
		t.Errorf("first FETCH: %q", l)
	}
	if l := second.cmd("f", "FETCH 2 (FLAGS)"); !has(l, `* 2 FETCH (FLAGS ())`) {
		t.Errorf("second FETCH: %q", l)
	}
	// APPEND into the selected mailbox: the appender's.
	msg := "Subject: three\r\n\r\n3\r\n"
	l := second.cmd("p", fmt.Sprintf("APPEND INBOX {%d+}\r\n%s", len(msg), msg))
	if i := index(l, "* 3 EXISTS"); i < 0 || l[i+1] != "* 1 RECENT" {
		t.Errorf("APPEND into the selected mailbox: %q", l)
	}
	if l := second.cmd("st", "STATUS INBOX (RECENT)"); !has(l, `* STATUS INBOX (RECENT 0)`) && !has(l, `* STATUS INBOX (RECENT 1)`) {
		t.Errorf("STATUS RECENT: %q", l)
	}
}

// A keyword first used by STORE or APPEND is announced with FLAGS (and
// PERMANENTFLAGS keeps \*) before any FETCH shows it; NIL is no flag.
func TestANewKeywordIsAnnouncedWithFLAGSFirst(t *testing.T) {
	ts := startInsecure(t)
	bob := ts.account(t, "bob@example.test")
	ts.deliver(t, bob, testMessage("one", "1"))
	c, other := loginRaw(t, ts, true), loginRaw(t, ts, true)
	l := c.cmd("a", "STORE 1 +FLAGS ($Work)")
	flags, perm, fetch := index(l, "* FLAGS ("), index(l, "* OK [PERMANENTFLAGS ("), index(l, "* 1 FETCH")
	if flags < 0 || perm < 0 || fetch < 0 || flags > fetch || perm > fetch ||
		!strings.Contains(l[flags], "$Work") || !strings.Contains(l[perm], `$Work \*)]`) {
		t.Errorf("STORE of a new keyword: %q", l)
	}
	l = other.cmd("n", "NOOP")
	if flags, fetch := index(l, "* FLAGS ("), index(l, "* 1 FETCH"); flags < 0 || fetch < flags || !strings.Contains(l[fetch], "$Work") {
		t.Errorf("the other session: %q", l)
	}
	if l := c.cmd("b", "STORE 1 +FLAGS (NIL)"); !strings.HasPrefix(l[len(l)-1], "b BAD") {
		t.Errorf("STORE NIL: %q", l)
	}
	msg := "Subject: k\r\n\r\nk\r\n"
	l = c.cmd("p", fmt.Sprintf("APPEND INBOX ($Family) {%d+}\r\n%s", len(msg), msg))
	if flags, exists := index(l, "* FLAGS ("), index(l, "* 2 EXISTS"); flags < 0 || !strings.Contains(l[flags], "$Family") || exists < 0 {
		t.Errorf("APPEND with a new keyword: %q", l)
	}
}

// LIST takes every legal atom character in its pattern; LSUB shows a
// subscribed child's unsubscribed parent as \Noselect under "%".
func TestListPatternsAndLsubParents(t *testing.T) {
	ts := startInsecure(t)
	ts.account(t, "bob@example.test")
	c := loginRaw(t, ts, false)
	if l := c.cmd("a", "LIST \"\" !#$&'+,-.0123456789:;<=>?@^_`|[}%*"); !strings.HasPrefix(l[len(l)-1], "a OK") {
		t.Errorf("LIST with every atom character: %q", l)
	}
	c.cmd("b", "CREATE Family/Photos")
	c.cmd("c", "SUBSCRIBE Family/Photos")
	c.cmd("d", "UNSUBSCRIBE Family")
	if l := c.cmd("e", `LSUB "" "%"`); !has(l, `* LSUB (\Noselect) "/" Family`) {
		t.Errorf("LSUB %%: %q", l)
	}
	if l := c.cmd("f", `LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"`); !has(l, `* LIST () "/" Family ("CHILDINFO" ("SUBSCRIBED"))`) {
		t.Errorf("LIST (SUBSCRIBED RECURSIVEMATCH): %q", l)
	}
	if l := c.cmd("g", `LIST "" "Family/*" RETURN (SUBSCRIBED STATUS (MESSAGES))`); !has(l, `* LIST (\HasNoChildren \Subscribed) "/" Family/Photos`) ||
		!has(l, `* STATUS Family/Photos (MESSAGES 0)`) {
		t.Errorf("LIST RETURN (SUBSCRIBED STATUS): %q", l)
	}
}

// A subscription outlives its mailbox and its parents (Dovecot refuses
// SUBSCRIBE to a name that is no mailbox, so no .imap dialog reaches
// this): LSUB "%" stops at the missing parent as \Noselect, LIST
// (SUBSCRIBED RECURSIVEMATCH) shows it \NonExistent with CHILDINFO, and
// LIST-STATUS gives no STATUS for a name with no mailbox.
func TestSubscriptionsOutliveTheirParents(t *testing.T) {
	ts := startInsecure(t)
	ts.account(t, "bob@example.test")
	c := loginRaw(t, ts, false)
	for _, cmd := range []string{"CREATE Old/Kid", "SUBSCRIBE Old/Kid", "DELETE Old/Kid", "DELETE Old", "UNSUBSCRIBE Old"} {
		if l := c.cmd("s", cmd); !strings.HasPrefix(l[len(l)-1], "s OK") {
			t.Fatalf("%s: %q", cmd, l)
		}
	}
	if l := c.cmd("a", `LSUB "" "%"`); !has(l, `* LSUB (\Noselect) "/" Old`) || index(l, `* LSUB () "/" Old/Kid`) >= 0 {
		t.Errorf("LSUB %%: %q", l)
	}
	if l := c.cmd("b", `LSUB "" "Old/*"`); !has(l, `* LSUB () "/" Old/Kid`) {
		t.Errorf("LSUB Old/*: %q", l)
	}
	if l := c.cmd("c", `LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"`); !has(l, `* LIST (\NonExistent) "/" Old ("CHILDINFO" ("SUBSCRIBED"))`) {
		t.Errorf("LIST (SUBSCRIBED RECURSIVEMATCH): %q", l)
	}
	l := c.cmd("d", `LIST (SUBSCRIBED) "" "Old/*" RETURN (STATUS (MESSAGES))`)
	if !has(l, `* LIST (\NonExistent \HasNoChildren \Subscribed) "/" Old/Kid`) || index(l, "* STATUS") >= 0 {
		t.Errorf("LIST (SUBSCRIBED) RETURN (STATUS): %q", l)
	}
	if l := c.cmd("e", `LIST "" "*"`); index(l, `"/" Old`) >= 0 {
		t.Errorf("plain LIST shows a name with no mailbox: %q", l)
	}
	if l := c.cmd("f", "SUBSCRIBE Never"); !strings.HasPrefix(l[len(l)-1], "f NO [NONEXISTENT]") {
		t.Errorf("SUBSCRIBE of no mailbox: %q", l)
	}
	if l := c.cmd("g", "UNSUBSCRIBE Old/Kid"); !strings.HasPrefix(l[len(l)-1], "g OK") {
		t.Errorf("UNSUBSCRIBE of a name with no mailbox: %q", l)
	}
	if l := c.cmd("h", `LSUB "" "*"`); index(l, "Old") >= 0 {
		t.Errorf("LSUB after UNSUBSCRIBE: %q", l)
	}
}

// ID with long field values is answered, never a disconnect.
func TestIDWithLongValuesIsAnswered(t *testing.T) {
	ts := startInsecure(t)
	c := dialRaw(t, ts.addr)
	long := strings.Repeat("v", 2000)
	l := c.cmd("a", fmt.Sprintf(`ID ("name" "%s" "version" {%d+}`+"\r\n%s)", long, len(long), long))
	if !strings.HasPrefix(l[len(l)-1], "a OK") || index(l, "* ID (") < 0 {
		t.Errorf("ID: %q", l)
	}
	if l := c.cmd("b", "ID NIL"); !strings.HasPrefix(l[len(l)-1], "b OK") {
		t.Errorf("ID NIL: %q", l)
	}
}

// MOVE into the selected mailbox gives new UIDs: EXISTS for the copies,
// then EXPUNGE for the originals.
func TestMoveIntoTheSelectedMailbox(t *testing.T) {
	ts := startInsecure(t)
	bob := ts.account(t, "bob@example.test")
	ts.deliver(t, bob, testMessage("one", "1"))
	c := loginRaw(t, ts, true)
	l := c.cmd("m", "UID MOVE 1 INBOX")
	copyuid, exists, expunge := index(l, "* OK [COPYUID"), index(l, "* 2 EXISTS"), index(l, "* 1 EXPUNGE")
	if copyuid < 0 || exists < 0 || expunge < exists || !strings.Contains(l[copyuid], " 1 2]") {
		t.Errorf("MOVE into the selected mailbox: %q", l)
	}
	if l := c.cmd("f", "FETCH 1:* (UID)"); !has(l, "* 1 FETCH (UID 2)") || len(l) != 2 {
		t.Errorf("after MOVE: %q", l)
	}
}

// SEARCH FROM/TO/CC/BCC match a substring of the whole field: display
// name, local part, domain, decoded encoded words.
func TestSearchAddressFieldsMatchSubstringsOfTheWholeField(t *testing.T) {
	ts := startInsecure(t)
	bob := ts.account(t, "bob@example.test")
	ts.deliver(t, bob, "From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <jm@mueller.example>\r\nTo: Bob <bob@example.test>\r\nCc: Team <team@corp.example>\r\nSubject: x\r\n\r\nbody\r\n")
	c := loginRaw(t, ts, true)
	for _, q := range []string{`FROM "jürgen"`, `FROM "müller"`, "FROM mueller.example", "FROM jm@", "TO bob", "CC corp", `CC "Team <"`} {
		if l := c.cmd("s", "SEARCH CHARSET UTF-8 "+q); !has(l, "* SEARCH 1") {
			t.Errorf("SEARCH %s: %q", q, l)
		}
	}
	if l := c.cmd("s", "SEARCH FROM nobody"); !has(l, "* SEARCH") {
		t.Errorf("SEARCH FROM nobody: %q", l)
	}
}

// BINARY (RFC 3516): a partial fetch answers with its origin and the
// exact decoded octets; BINARY.SIZE is the decoded size.
func TestBinaryPartialGivesTheDecodedOctets(t *testing.T) {
	ts := startInsecure(t)
	bob := ts.account(t, "bob@example.test")
	ts.deliver(t, bob, "Subject: b\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9 au lait=\r\n!\r\n--B\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nSGVsbG8sIHdvcmxkIQ==\r\n--B\r\nContent-Type: text/plain\r\n\r\n\r\n--B--\r\n")
	c := loginRaw(t, ts, true)
	l := c.cmd("a", "FETCH 1 (BINARY.PEEK[2]<0.5> BINARY.SIZE[2] BINARY.PEEK[1])")
	got := strings.Join(l, "\n")
	if !strings.Contains(got, "BINARY[2]<0> {5}\nHello") || !strings.Contains(got, "BINARY.SIZE[2] 13") ||
		!strings.Contains(got, "BINARY[1] {14}\ncafé au lait!") {
		t.Errorf("BINARY: %q", l)
	}
	if l := c.cmd("b", "FETCH 1 (BINARY.PEEK[3])"); !strings.HasPrefix(l[len(l)-1], "b OK") {
		t.Errorf("BINARY of an empty part: %q", l)
	}
}

// SEARCHRES: SEARCH RETURN (SAVE) keeps the result for "$".
func TestSearchResultIsSavedForDollar(t *testing.T) {
	ts := startInsecure(t)
	bob := ts.account(t, "bob@example.test")
	for i := range 3 {
		ts.deliver(t, bob, testMessage(fmt.Sprint("m", i), "x"))
	}
	c := loginRaw(t, ts, true)
	c.cmd("a", "STORE 2 +FLAGS.SILENT (\\Flagged)")
	if l := c.cmd("b", "SEARCH RETURN (SAVE) FLAGGED"); len(l) != 1 {
		t.Errorf("SAVE alone answers ESEARCH: %q", l)
	}
	if l := c.cmd("c", "FETCH $ (UID)"); !has(l, "* 2 FETCH (UID 2)") || len(l) != 2 {
		t.Errorf("FETCH $: %q", l)
	}
	if l := c.cmd("d", "UID SEARCH RETURN (COUNT MIN) $"); !has(l, `* ESEARCH (TAG "d") UID MIN 2 COUNT 1`) {
		t.Errorf("SEARCH $: %q", l)
	}
}

// Hostile input gets a clear BAD, NO or BYE with bounded memory, and the
// session goes on where it can.
func TestHostileCommandsAreRefusedWithBoundedMemory(t *testing.T) {
	ts := startInsecure(t)
	bob := ts.account(t, "bob@example.test")
	for i := range 3 {
		ts.deliver(t, bob, testMessage(fmt.Sprint("m", i), "x"))
	}
	c := loginRaw(t, ts, true)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if l := c.cmd("a", "LOGIN {4294967296}"); !strings.HasPrefix(l[len(l)-1], "a BAD") {
		t.Errorf("4 GiB literal: %q", l)
	}
	if l := c.cmd("b", "SEARCH "+strings.Repeat("(", 10000)+"ALL"+strings.Repeat(")", 10000)); !strings.HasPrefix(l[len(l)-1], "b BAD") {
		t.Errorf("10,000 parentheses: %q", l)
	}
	if l := c.cmd("c", "FETCH 1:1000000 (UID)"); len(l) != 1 || !strings.HasPrefix(l[0], "c BAD") {
		t.Errorf("a million message numbers in a 3-message mailbox: %q", l)
	}
	if l := c.cmd("c2", "UID FETCH 1:1000000 (UID)"); len(l) != 4 {
		t.Errorf("a million UIDs: %q", l)
	}
	var set strings.Builder
	for i := 1; set.Len() < 60000; i++ {
		fmt.Fprintf(&set, "%d:*,", i)
	}
	if l := c.cmd("d", "UID FETCH "+strings.TrimSuffix(set.String(), ",")+" (UID)"); len(l) != 4 {
		t.Errorf("thousands of overlapping ranges: %d lines", len(l))
	}
	if l := c.cmd("e", "NOOP "+strings.Repeat("x", 1<<20)); !strings.HasPrefix(l[len(l)-1], "e BAD") && !strings.HasPrefix(l[len(l)-1], "* BYE") {
		t.Errorf("1 MiB line: %.200q", l)
	}
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 32<<20 {
		t.Errorf("the heap grew by %d MiB", grew>>20)
	}
	if l := c.cmd("z", "NOOP"); !strings.HasPrefix(l[len(l)-1], "z OK") {
		t.Errorf("NOOP after: %q", l)
	}
}

// CONDSTORE and QRESYNC (RFC 7162): MODSEQ in answers, CHANGEDSINCE,
// UNCHANGEDSINCE with MODIFIED, VANISHED instead of EXPUNGE, and a
// SELECT (QRESYNC ...) that resyncs in a few lines.
func TestCondstoreAndQresync(t *testing.T) {
	ts := startInsecure(t)
	bob := ts.account(t, "bob@example.test")
	for i := range 40 {
		ts.deliver(t, bob, testMessage(fmt.Sprint("m", i), "x"))
	}
	c, other := loginRaw(t, ts, false), loginRaw(t, ts, true)
	if l := c.cmd("e", "ENABLE QRESYNC"); !has(l, "* ENABLED QRESYNC CONDSTORE") {
		t.Errorf("ENABLE: %q", l)
	}
	l := c.cmd("s", "SELECT INBOX")
	var validity uint32
	var highest uint64
	for _, line := range l {
		fmt.Sscanf(line, "* OK [UIDVALIDITY %d]", &validity)
		fmt.Sscanf(line, "* OK [HIGHESTMODSEQ %d]", &highest)
	}
	if validity == 0 || highest == 0 {
		t.Fatalf("SELECT: %q", l)
	}
	if l := c.cmd("a", `STORE 1 +FLAGS (\Seen)`); index(l, "* 1 FETCH (FLAGS (\\Seen) UID 1 MODSEQ (") < 0 {
		t.Errorf("STORE with CONDSTORE: %q", l)
	}
	if l := c.cmd("b", `UID STORE 1,2 (UNCHANGEDSINCE 1) +FLAGS (\Flagged)`); !strings.HasPrefix(l[len(l)-1], "b OK [MODIFIED 1:2]") {
		t.Errorf("STORE UNCHANGEDSINCE: %q", l)
	}
	if l := c.cmd("z", `UID STORE 4 (UNCHANGEDSINCE 0) +FLAGS (\Answered)`); !strings.HasPrefix(l[len(l)-1], "z OK [MODIFIED 4]") || index(l, "FETCH") >= 0 {
		t.Errorf("STORE UNCHANGEDSINCE 0 must fail for every message (RFC 7162 3.1.3): %q", l)
	}
	other.cmd("d", `STORE 3 +FLAGS.SILENT (\Deleted)`)
	other.cmd("x", "EXPUNGE")
	if l := c.cmd("n", "NOOP"); !has(l, "* VANISHED 3") || index(l, "EXPUNGE") >= 0 {
		t.Errorf("NOOP after an expunge: %q", l)
	}
	if l := c.cmd("f", fmt.Sprintf("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)", highest)); len(l) != 3 ||
		!has(l, "* VANISHED (EARLIER) 3") || index(l, "* 1 FETCH (UID 1 FLAGS (\\Seen) MODSEQ (") < 0 {
		t.Errorf("FETCH CHANGEDSINCE VANISHED: %q", l)
	}
	if l := c.cmd("q", fmt.Sprintf("SEARCH MODSEQ %d", highest+1)); index(l, "* SEARCH 1 (MODSEQ ") < 0 {
		t.Errorf("SEARCH MODSEQ: %q", l)
	}
	for i := 10; i < 20; i++ {
		other.cmd("f", fmt.Sprintf(`STORE %d +FLAGS.SILENT ($Done)`, i))
	}
	fresh := loginRaw(t, ts, false)
	fresh.cmd("e", "ENABLE QRESYNC")
	l = fresh.cmd("s", fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d))", validity, highest))
	if !has(l, "* VANISHED (EARLIER) 3") || index(l, "* 1 FETCH (UID 1 FLAGS (\\Seen) MODSEQ") < 0 || len(l) > 30 {
		t.Errorf("SELECT QRESYNC (%d lines): %q", len(l), l)
	}
	if l := fresh.cmd("t", "STATUS INBOX (HIGHESTMODSEQ)"); index(l, "* STATUS INBOX (HIGHESTMODSEQ ") < 0 {
		t.Errorf("STATUS HIGHESTMODSEQ: %q", l)
	}
}

// COMPRESS=DEFLATE (RFC 4978): after the OK both directions are deflate
// streams, and each answer arrives without waiting for more.
func TestCompressDeflate(t *testing.T) {
	ts := startInsecure(t)
	bob := ts.account(t, "bob@example.test")
	ts.deliver(t, bob, testMessage("zip", "compress me"))
	c := loginRaw(t, ts, true)
	if l := c.cmd("z", "COMPRESS DEFLATE"); !strings.HasPrefix(l[len(l)-1], "z OK") {
		t.Fatalf("COMPRESS: %q", l)
	}
	zw, _ := flate.NewWriter(c.conn, flate.BestSpeed)
	zc := &rawConn{t: t, conn: c.conn, r: bufio.NewReader(flate.NewReader(c.conn))}
	send := func(s string) { zw.Write([]byte(s)); zw.Flush() }
	send("a FETCH 1 (BODY.PEEK[TEXT])\r\n")
	if l := strings.Join(zc.until("a "), "\n"); !strings.Contains(l, "compress me") || !strings.Contains(l, "a OK") {
		t.Errorf("FETCH over DEFLATE: %q", l)
	}
	send("b COMPRESS DEFLATE\r\n")
	if l := zc.until("b "); !strings.HasPrefix(l[0], "b NO [COMPRESSIONACTIVE]") {
		t.Errorf("COMPRESS again: %q", l)
	}
}

// Two APPENDs refused in a row are each answered with their own tag, and
// the bytes of a refused LITERAL+ one are read past, never run.
func TestRefusedAppendsAreAnsweredWithTheirOwnTags(t *testing.T) {
	ts := startInsecure(t)
	bob := ts.account(t, "bob@example.test")
	if err := ts.store.SetQuota(context.Background(), bob.Email, 1<<20); err != nil {
		t.Fatal(err)
	}
	c := loginRaw(t, ts, false)
	if l := c.cmd("Q", "APPEND INBOX {2000000}"); !strings.HasPrefix(l[len(l)-1], "Q NO [OVERQUOTA]") {
		t.Errorf("synchronising: %q", l)
	}
	c.send("R APPEND INBOX {2000000+}\r\n" + strings.Repeat("y", 2000000) + "\r\nN NOOP\r\n")
	if l := c.until("R "); !strings.HasPrefix(l[len(l)-1], "R NO [OVERQUOTA]") {
		t.Errorf("LITERAL+: %q", l)
	}
	if l := c.until("N "); !strings.HasPrefix(l[len(l)-1], "N OK") {
		t.Errorf("NOOP after: %q", l)
	}
}

// Another session's expunge is not told during a FETCH, STORE or SEARCH
// by sequence number (their numbers would shift under the client), only
// after the next command that allows it (RFC 9051 7.5.1).
func TestNoExpungeDuringFetchStoreOrSearchBySequenceNumber(t *testing.T) {
	ts := startInsecure(t)
	bob := ts.account(t, "bob@example.test")
	for i := range 3 {
		ts.deliver(t, bob, testMessage(fmt.Sprint("m", i), "x"))
	}
	c, other := loginRaw(t, ts, true), loginRaw(t, ts, true)
	other.cmd("d", `STORE 1 +FLAGS.SILENT (\Deleted)`)
	other.cmd("x", "EXPUNGE")
	for _, cmd := range []string{"FETCH 1:* (UID)", `STORE 3 +FLAGS.SILENT (\Seen)`, "SEARCH ALL"} {
		if l := c.cmd("a", cmd); index(l, "* 1 EXPUNGE") >= 0 {
			t.Errorf("%s: %q", cmd, l)
		}
	}
	if l := c.cmd("s", "SEARCH ALL"); !has(l, "* SEARCH 2 3") {
		t.Errorf("the client's numbers moved before EXPUNGE: %q", l)
	}
	if l := c.cmd("n", "NOOP"); !has(l, "* 1 EXPUNGE") {
		t.Errorf("NOOP: %q", l)
	}
	if l := c.cmd("f", "FETCH 1:* (UID)"); !has(l, "* 1 FETCH (UID 2)") || !has(l, "* 2 FETCH (UID 3)") {
		t.Errorf("after the EXPUNGE: %q", l)
	}
}

// SEARCH keys that only ask for system flags (UNSEEN, NOT SEEN, FLAGGED
// UNDELETED, within a sequence or UID set) are answered from the store's
// flags without a per-message match: the answers are the same as those
// of the general path (forced here by a key that always holds, LARGER 0).
func TestFlagOnlySearchAgreesWithTheGeneralPath(t *testing.T) {
	ts := startInsecure(t)
	bob := ts.account(t, "bob@example.test")
	for i := range 30 {
		ts.deliver(t, bob, testMessage(fmt.Sprint("m", i), "body"))
	}
	c := loginRaw(t, ts, true)
	c.cmd("f1", `STORE 1:10 +FLAGS (\Seen)`)
	c.cmd("f2", `STORE 5:15 +FLAGS (\Flagged)`)
	c.cmd("f3", `STORE 12,14 +FLAGS (\Deleted)`)
	c.cmd("f4", `STORE 20 +FLAGS (\Answered \Draft)`)
	for _, crit := range []string{
		"UNSEEN", "SEEN", "NOT SEEN", "FLAGGED UNDELETED", "NOT FLAGGED NOT DELETED", "2:8 UNSEEN",
		"UID 3:12 FLAGGED", "ALL DELETED", "SEEN UNSEEN", "ANSWERED DRAFT", "UNANSWERED UNDRAFT SEEN",
		"1:* NOT NOT SEEN", // NOT NOT: not a mask, the general path
	} {
		for _, cmd := range []string{"SEARCH ", "UID SEARCH "} {
			fast := c.cmd("a", cmd+crit)
			slow := c.cmd("b", cmd+crit+" LARGER 0")
			if len(fast) != 2 || len(slow) != 2 || fast[0] != slow[0] || !strings.HasPrefix(fast[1], "a OK") {
				t.Errorf("%s%s: %q, the general path: %q", cmd, crit, fast, slow)
			}
		}
	}
	if l := c.cmd("c", "SEARCH UNSEEN"); l[0] != "* SEARCH 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30" {
		t.Errorf("SEARCH UNSEEN: %q", l)
	}
}

func TestFlagMasks(t *testing.T) {
	for _, tc := range []struct {
		crit       string
		set, unset store.Flags
		ok         bool
	}{
		{"UNSEEN", 0, store.FlagSeen, true},
		{"NOT UNSEEN", store.FlagSeen, 0, true},
		{"1:5 FLAGGED UNDELETED", store.FlagFlagged, store.FlagDeleted, true},
		{"ALL", 0, 0, true},
		{"RECENT", 0, 0, false},
		{"NOT 1:5", 0, 0, false},
		{"OR SEEN FLAGGED", 0, 0, false},
		{"KEYWORD $Junk", 0, 0, false},
		{"UNSEEN SUBJECT x", 0, 0, false},
	} {
		r := wire.NewReader(bufio.NewReader(strings.NewReader("t SEARCH "+tc.crit+"\r\n")), wire.Limits{})
		cmd, err := r.ReadCommand()
		if err != nil {
			t.Fatalf("%s: %v", tc.crit, err)
		}
		key := cmd.Args.(*wire.Search).Key
		set, unset, ok := flagMasks(key)
		if ok != tc.ok || (ok && (set != tc.set || unset != tc.unset)) {
			t.Errorf("%s: set %v unset %v ok %v", tc.crit, set, unset, ok)
		}
	}
}
