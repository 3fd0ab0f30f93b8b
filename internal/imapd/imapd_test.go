package imapd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"boxmail/internal/imapd/wire"
	"boxmail/internal/mailmsg"
	"boxmail/internal/store"
)

func TestAUserLogsInWithTheFullAddressAndSeesSpecialUseMailboxes(t *testing.T) {
	ts := startInsecure(t)
	alice := ts.account(t, "alice@example.test")

	c, err := imapclient.DialInsecure(ts.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var imapErr *imap.Error
	if err := c.Login("alice@example.test", "wrong").Wait(); !errors.As(err, &imapErr) || imapErr.Code != imap.ResponseCodeAuthenticationFailed {
		t.Fatalf("login with a wrong password: %v", err)
	}
	if err := c.Login("alice", password).Wait(); err == nil {
		t.Fatal("login with a bare local part succeeded")
	}
	if err := c.Login("Alice@Example.TEST", password).Wait(); err != nil {
		t.Fatalf("login: %v", err)
	}
	caps := c.Caps()
	for _, want := range []imap.Cap{imap.CapIMAP4rev2, imap.CapIdle, imap.CapMove, imap.CapUIDPlus, imap.CapSpecialUse, imap.CapNamespace, imap.CapListStatus} {
		if !caps.Has(want) {
			t.Errorf("capability %s missing", want)
		}
	}

	list, err := c.List("", "*", &imap.ListOptions{ReturnStatus: &imap.StatusOptions{NumMessages: true}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]imap.MailboxAttr{}
	for _, l := range list {
		got[l.Mailbox] = l.Attrs
		if l.Status == nil || l.Status.NumMessages == nil {
			t.Errorf("LIST-STATUS missing for %s", l.Mailbox)
		}
	}
	for name, use := range map[string]imap.MailboxAttr{"Sent": imap.MailboxAttrSent, "Trash": imap.MailboxAttrTrash, "Drafts": imap.MailboxAttrDrafts, "Junk": imap.MailboxAttrJunk, "Archive": imap.MailboxAttrArchive} {
		if !slices.Contains(got[name], use) {
			t.Errorf("%s attrs = %v, want %s", name, got[name], use)
		}
	}
	if _, ok := got["INBOX"]; !ok {
		t.Errorf("no INBOX in %v", got)
	}
	special, err := c.List("", "*", &imap.ListOptions{SelectSpecialUse: true}).Collect()
	if err != nil || len(special) != 5 {
		t.Errorf("LIST (SPECIAL-USE) = %d mailboxes, %v", len(special), err)
	}
	ns, err := c.Namespace().Wait()
	if err != nil || len(ns.Personal) != 1 || ns.Personal[0].Delim != '/' {
		t.Errorf("namespace = %+v, %v", ns, err)
	}
	_ = alice
}

func TestLoginIsRefusedWithoutTLSUnlessInsecureAuthIsSet(t *testing.T) {
	ts := startServer(t, Options{})
	ts.account(t, "alice@example.test")
	c, err := imapclient.DialInsecure(ts.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.Caps().Has(imap.CapLoginDisabled) {
		t.Errorf("caps %v lack LOGINDISABLED", c.Caps())
	}
	var imapErr *imap.Error
	if err := c.Login("alice@example.test", password).Wait(); !errors.As(err, &imapErr) || imapErr.Code != imap.ResponseCodePrivacyRequired {
		t.Errorf("login over plain TCP: %v", err)
	}
}

func TestADeliveredMessageIsFetchedByteForByte(t *testing.T) {
	ts := startInsecure(t)
	bob := ts.account(t, "bob@example.test")
	msg := testMessage("hello", "Hi Bob,\r\nsee you.")
	ts.deliver(t, bob, msg)

	c := ts.login(t, bob, nil)
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages != 1 || sel.UIDNext != 2 || sel.UIDValidity == 0 {
		t.Errorf("select = %+v", sel)
	}
	mb, _ := ts.store.MailboxByName(context.Background(), bob.ID, "INBOX")
	if sel.UIDValidity != mb.UIDValidity {
		t.Errorf("UIDVALIDITY %d, store has %d", sel.UIDValidity, mb.UIDValidity)
	}

	whole := &imap.FetchItemBodySection{}
	partial := &imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Offset: 6, Size: 5}}
	subject := &imap.FetchItemBodySection{Peek: true, Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject"}}
	text := &imap.FetchItemBodySection{Peek: true, Specifier: imap.PartSpecifierText}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{
		UID: true, Flags: true, InternalDate: true, RFC822Size: true, Envelope: true,
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		BodySection:   []*imap.FetchItemBodySection{whole, partial, subject, text},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("got %d messages", len(msgs))
	}
	m := msgs[0]
	if got := string(m.FindBodySection(whole)); got != msg {
		t.Errorf("BODY[] = %q, want %q", got, msg)
	}
	if got := string(m.FindBodySection(partial)); got != msg[6:11] {
		t.Errorf("BODY[]<6.5> = %q", got)
	}
	if got := string(m.FindBodySection(subject)); got != "Subject: hello\r\n\r\n" {
		t.Errorf("BODY[HEADER.FIELDS (Subject)] = %q", got)
	}
	if got := string(m.FindBodySection(text)); got != "Hi Bob,\r\nsee you.\r\n" {
		t.Errorf("BODY[TEXT] = %q", got)
	}
	if m.UID != 1 || m.RFC822Size != int64(len(msg)) || m.InternalDate.IsZero() {
		t.Errorf("uid %d size %d date %v", m.UID, m.RFC822Size, m.InternalDate)
	}
	if m.Envelope == nil || m.Envelope.Subject != "hello" || len(m.Envelope.From) != 1 || m.Envelope.From[0].Addr() != "alice@example.test" || m.Envelope.MessageID != "hello@example.test" {
		t.Errorf("envelope = %+v", m.Envelope)
	}
	if bs, ok := m.BodyStructure.(*imap.BodyStructureSinglePart); !ok || bs.Type != "text" {
		t.Errorf("bodystructure = %#v", m.BodyStructure)
	}
	// The first SELECT takes \Recent; the non-PEEK BODY[] set \Seen.
	if !slices.Contains(m.Flags, imap.Flag(`\Recent`)) || !slices.Contains(m.Flags, imap.FlagSeen) {
		t.Errorf("flags = %v, want \\Recent and \\Seen", m.Flags)
	}
	again, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true}).Collect()
	if err != nil || !slices.Contains(again[0].Flags, imap.FlagSeen) {
		t.Errorf("\\Seen not kept: %v %v", again, err)
	}
}

func TestSearchFindsMessagesByHeaderBodyFlagsDatesSizeAndUID(t *testing.T) {
	ts := startInsecure(t)
	bob := ts.account(t, "bob@example.test")
	ts.deliver(t, bob, testMessage("lunch", "Pizza at noon?"))
	ts.deliver(t, bob, testMessage("report", "Quarterly numbers attached."))
	ts.deliver(t, bob, testMessage("lunch again", strings.Repeat("long ", 200)))
	c := ts.login(t, bob, nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged, "$Work"}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	yesterday := time.Now().Add(-24 * time.Hour)
	cases := []struct {
		name string
		c    imap.SearchCriteria
		want []uint32
	}{
		{"subject", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "LUNCH"}}}, []uint32{1, 3}},
		{"from", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "alice@"}}}, []uint32{1, 2, 3}},
		{"body", imap.SearchCriteria{Body: []string{"pizza"}}, []uint32{1}},
		{"text", imap.SearchCriteria{Text: []string{"quarterly"}}, []uint32{2}},
		{"flagged", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagFlagged}}, []uint32{2}},
		{"keyword", imap.SearchCriteria{Flag: []imap.Flag{"$work"}}, []uint32{2}},
		{"unflagged", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagFlagged}}, []uint32{1, 3}},
		{"recent", imap.SearchCriteria{Flag: []imap.Flag{`\Recent`}}, []uint32{1, 2, 3}},
		{"larger", imap.SearchCriteria{Larger: 500}, []uint32{3}},
		{"smaller", imap.SearchCriteria{Smaller: 500}, []uint32{1, 2}},
		{"since", imap.SearchCriteria{Since: yesterday}, []uint32{1, 2, 3}},
		{"before", imap.SearchCriteria{Before: yesterday}, nil},
		{"sent before", imap.SearchCriteria{SentBefore: time.Date(2007, 1, 1, 0, 0, 0, 0, time.UTC)}, []uint32{1, 2, 3}},
		{"uid", imap.SearchCriteria{UID: []imap.UIDSet{imap.UIDSetNum(2, 3)}}, []uint32{2, 3}},
		{"or", imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Body: []string{"pizza"}}, {Flag: []imap.Flag{imap.FlagFlagged}}}}}, []uint32{1, 2}},
		{"not", imap.SearchCriteria{Not: []imap.SearchCriteria{{Body: []string{"pizza"}}}}, []uint32{2, 3}},
	}
	for _, tc := range cases {
		data, err := c.Search(&tc.c, nil).Wait()
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := data.AllSeqNums(); !slices.Equal(got, tc.want) {
			t.Errorf("SEARCH %s = %v, want %v", tc.name, got, tc.want)
		}
	}
	data, err := c.UIDSearch(&imap.SearchCriteria{Body: []string{"numbers"}}, nil).Wait()
	if err != nil || !slices.Equal(data.AllUIDs(), []imap.UID{2}) {
		t.Errorf("UID SEARCH = %v, %v", data, err)
	}
}

func TestStoreCopyMoveAndExpungeKeepUIDsStraight(t *testing.T) {
	ts := startInsecure(t)
	bob := ts.account(t, "bob@example.test")
	for i := range 4 {
		ts.deliver(t, bob, testMessage(fmt.Sprint("m", i), "x"))
	}
	c := ts.login(t, bob, nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	res, err := c.Store(imap.UIDSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagAnswered}}, nil).Collect()
	if err != nil || len(res) != 1 || !slices.Contains(res[0].Flags, imap.FlagAnswered) || res[0].UID != 1 {
		t.Fatalf("UID STORE = %+v, %v", res, err)
	}

	cp, err := c.Copy(imap.SeqSetNum(1, 2), "Archive").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if src, _ := cp.SourceUIDs.Nums(); !slices.Equal(src, []imap.UID{1, 2}) {
		t.Errorf("COPYUID source = %v", cp.SourceUIDs)
	}
	if dst, _ := cp.DestUIDs.Nums(); !slices.Equal(dst, []imap.UID{1, 2}) {
		t.Errorf("COPYUID dest = %v", cp.DestUIDs)
	}
	var tryCreate *imap.Error
	if _, err := c.Copy(imap.SeqSetNum(1), "Nowhere").Wait(); !errors.As(err, &tryCreate) || tryCreate.Code != imap.ResponseCodeTryCreate {
		t.Errorf("COPY to a missing mailbox: %v", err)
	}

	mv, err := c.Move(imap.SeqSetNum(3), "Trash").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if src, _ := mv.SourceUIDs.(imap.UIDSet).Nums(); !slices.Equal(src, []imap.UID{3}) {
		t.Errorf("MOVE source = %v", mv.SourceUIDs)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if n := c.Mailbox().NumMessages; n != 3 {
		t.Errorf("after MOVE the client counts %d messages, want 3", n)
	}

	if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	expunged, err := c.Expunge().Collect()
	if err != nil || !slices.Equal(expunged, []uint32{1}) {
		t.Errorf("EXPUNGE = %v, %v", expunged, err)
	}
	left, err := c.Fetch(imap.SeqSetNum(1, 2), &imap.FetchOptions{UID: true}).Collect()
	if err != nil || len(left) != 2 || left[0].UID != 2 || left[1].UID != 4 {
		t.Errorf("left = %+v, %v", left, err)
	}
	st, err := c.Status("Archive", &imap.StatusOptions{NumMessages: true, UIDNext: true}).Wait()
	if err != nil || *st.NumMessages != 2 || st.UIDNext != 3 {
		t.Errorf("Archive status = %+v, %v", st, err)
	}
}

func TestMoveWithinTheSameMailboxRenumbersTheMessage(t *testing.T) {
	ts := startInsecure(t)
	bob := ts.account(t, "bob@example.test")
	ts.deliver(t, bob, testMessage("a", "x"))
	ts.deliver(t, bob, testMessage("b", "x"))
	c := ts.login(t, bob, nil)
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	mv, err := c.Move(imap.SeqSetNum(1), "INBOX").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if dst, _ := mv.DestUIDs.(imap.UIDSet).Nums(); !slices.Equal(dst, []imap.UID{3}) {
		t.Errorf("dest UIDs = %v", mv.DestUIDs)
	}
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Envelope: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, fmt.Sprint(m.SeqNum, ":", m.UID, ":", m.Envelope.Subject))
	}
	if want := []string{"1:2:b", "2:3:a"}; !slices.Equal(got, want) {
		t.Errorf("after moving 1 onto itself: %v, want %v", got, want)
	}
}

func TestAppendAnswersAPPENDUIDAndMailboxesCanBeCreatedRenamedDeleted(t *testing.T) {
	ts := startInsecure(t)
	bob := ts.account(t, "bob@example.test")
	c := ts.login(t, bob, nil)

	if err := c.Create("Projects/2026", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	var exists *imap.Error
	if err := c.Create("Projects/2026", nil).Wait(); !errors.As(err, &exists) || exists.Code != imap.ResponseCodeAlreadyExists {
		t.Errorf("second CREATE: %v", err)
	}
	msg := testMessage("draft", "not yet")
	cmd := c.Append("Projects/2026", int64(len(msg)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagDraft}})
	cmd.Write([]byte(msg))
	cmd.Close()
	app, err := cmd.Wait()
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := ts.store.MailboxByName(context.Background(), bob.ID, "Projects/2026")
	if app.UID != 1 || app.UIDValidity != mb.UIDValidity {
		t.Errorf("APPENDUID %d %d, want 1 %d", app.UIDValidity, app.UID, mb.UIDValidity)
	}
	var tryCreate *imap.Error
	cmd = c.Append("Nowhere", int64(len(msg)), nil)
	cmd.Write([]byte(msg))
	cmd.Close()
	if _, err := cmd.Wait(); !errors.As(err, &tryCreate) || tryCreate.Code != imap.ResponseCodeTryCreate {
		t.Errorf("APPEND to a missing mailbox: %v", err)
	}

	if err := c.Rename("Projects", "Work", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status("Work/2026", &imap.StatusOptions{NumMessages: true, UIDValidity: true}).Wait()
	if err != nil || *st.NumMessages != 1 || st.UIDValidity != mb.UIDValidity {
		t.Errorf("renamed child status = %+v, %v", st, err)
	}
	if err := c.Delete("Work/2026").Wait(); err != nil {
		t.Fatal(err)
	}
	var gone *imap.Error
	if _, err := c.Select("Work/2026", nil).Wait(); !errors.As(err, &gone) || gone.Code != imap.ResponseCodeNonExistent {
		t.Errorf("SELECT of a deleted mailbox: %v", err)
	}
	if err := c.Delete("INBOX").Wait(); err == nil {
		t.Error("INBOX was deleted")
	}
	if err := c.Unsubscribe("Work").Wait(); err != nil {
		t.Fatal(err)
	}
	subs, err := c.List("", "*", &imap.ListOptions{SelectSubscribed: true}).Collect()
	if err != nil || slices.ContainsFunc(subs, func(l *imap.ListData) bool { return l.Mailbox == "Work" }) {
		t.Errorf("LIST (SUBSCRIBED) after UNSUBSCRIBE Work: %v, %v", subs, err)
	}
}

func TestAnotherAccountsMailboxesAreInvisible(t *testing.T) {
	ts := startInsecure(t)
	alice := ts.account(t, "alice@example.test")
	bob := ts.account(t, "bob@example.test")
	ctx := context.Background()
	if err := ts.store.CreateMailbox(ctx, alice.ID, "Secret", ""); err != nil {
		t.Fatal(err)
	}
	ts.deliver(t, alice, testMessage("private", "for alice only"))
	c := ts.login(t, bob, nil)

	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range list {
		if l.Mailbox == "Secret" {
			t.Error("bob lists alice's Secret")
		}
	}
	for _, name := range []string{"Secret", "../alice@example.test/Secret"} {
		if _, err := c.Select(name, nil).Wait(); err == nil {
			t.Errorf("bob selected %q", name)
		}
		if _, err := c.Status(name, &imap.StatusOptions{NumMessages: true}).Wait(); err == nil {
			t.Errorf("bob got STATUS of %q", name)
		}
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil || sel.NumMessages != 0 {
		t.Errorf("bob's INBOX: %+v, %v", sel, err)
	}
	if _, err := c.Copy(imap.SeqSetNum(1), "Secret").Wait(); err == nil {
		t.Error("bob copied into alice's Secret")
	}
	if err := c.Delete("Secret").Wait(); err == nil {
		t.Error("bob deleted alice's Secret")
	}
	if _, err := ts.store.MailboxByName(ctx, alice.ID, "Secret"); err != nil {
		t.Errorf("alice's Secret: %v", err)
	}
}

// idleClient logs in with handlers that report unsolicited EXISTS and
// FETCH FLAGS, selects INBOX and starts IDLE.
func idleClient(t *testing.T, ts *testServer, a store.Account, exists chan<- uint32, flags chan<- []imap.Flag) (*imapclient.Client, *imapclient.IdleCommand) {
	t.Helper()
	c := ts.login(t, a, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil && exists != nil {
				exists <- *d.NumMessages
			}
		},
		Fetch: func(m *imapclient.FetchMessageData) {
			buf, err := m.Collect()
			if err == nil && flags != nil {
				flags <- buf.Flags
			}
		},
	}})
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	return c, idle
}

func TestIdleSeesADeliveryWithinASecond(t *testing.T) {
	ts := startInsecure(t)
	bob := ts.account(t, "bob@example.test")
	ts.deliver(t, bob, testMessage("old", "x"))
	exists := make(chan uint32, 10)
	_, idle := idleClient(t, ts, bob, exists, nil)
	time.Sleep(50 * time.Millisecond) // let IDLE reach the server

	start := time.Now()
	delivered := make(chan error, 1)
	go func() { // as SMTP would, from another goroutine
		delivered <- ts.store.Deliver(context.Background(), store.Delivery{Data: []byte(testMessage("new", "y")), Local: []store.LocalTarget{{AccountID: bob.ID}}})
	}()
	select {
	case n := <-exists:
		if n != 2 {
			t.Errorf("EXISTS %d, want 2", n)
		}
		t.Logf("delivery seen after %v", time.Since(start))
	case <-time.After(time.Second):
		t.Fatal("no EXISTS within a second of the delivery")
	}
	if err := <-delivered; err != nil {
		t.Fatal(err)
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestIdleSeesAnotherSessionsFlagChange(t *testing.T) {
	ts := startInsecure(t)
	bob := ts.account(t, "bob@example.test")
	ts.deliver(t, bob, testMessage("shared", "x"))
	flags := make(chan []imap.Flag, 10)
	_, idle := idleClient(t, ts, bob, nil, flags)
	defer idle.Close()

	other := ts.login(t, bob, nil)
	if _, err := other.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := other.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-flags:
		if !slices.Contains(f, imap.FlagFlagged) {
			t.Errorf("FETCH FLAGS %v lacks \\Flagged", f)
		}
	case <-time.After(time.Second):
		t.Fatal("the idling session did not see the flag change")
	}
}

func TestMalformedCommandsGetBADAndTheSessionGoesOn(t *testing.T) {
	ts := startInsecure(t)
	ts.account(t, "bob@example.test")
	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	expect := func(prefix string) string {
		t.Helper()
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("waiting for %q: %v", prefix, err)
			}
			if strings.HasPrefix(line, prefix) {
				return line
			}
		}
	}
	send := func(s string) { fmt.Fprintf(conn, "%s\r\n", s) }
	expect("* OK")
	send(`a1 LOGIN "bob@example.test" "` + password + `"`)
	expect("a1 OK")
	for i, bad := range []string{
		"b1 SELECT",                 // missing argument
		"b2 FETCH 1 (FLAGS",         // unterminated list
		"b3 STORE 1 +FLAGS (\\Seen", // unterminated list
		"b4 FETCH 1 FLAGS",          // no mailbox selected
		"b5 LIST \"\" \"*\" RETURN (BOGUS)",
		"b6 STATUS INBOX (DELETED-STORAGE)",
		"b7 FROBNICATE",
	} {
		send(bad)
		line := expect(fmt.Sprintf("b%d ", i+1))
		if !strings.HasPrefix(line, fmt.Sprintf("b%d BAD", i+1)) && !strings.HasPrefix(line, fmt.Sprintf("b%d NO", i+1)) {
			t.Errorf("%q answered %q", bad, line)
		}
		if strings.Contains(line, "SERVERBUG") {
			t.Errorf("%q answered as an internal error: %q", bad, line)
		}
	}
	send("c1 SELECT INBOX")
	expect("c1 OK")
	send("c2 NOOP")
	expect("c2 OK")
}

// FETCH 1:* (FLAGS) on a mailbox big enough for the store's in-memory
// flags: a change made by another session is in the next answer, with
// \Recent still this session's own.
func TestFetchFlagsOfABigMailboxSeesAnotherSessionsChanges(t *testing.T) {
	ts := startInsecure(t)
	bob := ts.account(t, "bob@example.test")
	const n = 1200
	for i := range n {
		ts.deliver(t, bob, testMessage(fmt.Sprint("m", i), "x"))
	}
	c := ts.login(t, bob, nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	other := ts.login(t, bob, nil)
	if _, err := other.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	fetch := func(c *imapclient.Client) map[imap.UID][]imap.Flag {
		t.Helper()
		msgs, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		out := map[imap.UID][]imap.Flag{}
		for _, m := range msgs {
			out[m.UID] = m.Flags
		}
		return out
	}
	if f := fetch(c); len(f) != n || !slices.Equal(f[1], []imap.Flag{`\Recent`}) {
		t.Fatalf("first FETCH: %d messages, UID 1 has %v", len(f), f[1])
	}
	if f := fetch(other); !slices.Equal(f[1], []imap.Flag{}) && f[1] != nil {
		t.Fatalf("the EXAMINE session sees %v on UID 1", f[1])
	}
	if err := c.Store(imap.UIDSetNum(5, 6), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen, "$Label1"}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.UIDSetNum(7), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	ts.deliver(t, bob, testMessage("late", "x"))
	if err := other.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	f := fetch(other)
	_, has7 := f[7]
	_, hasNew := f[n+1]
	if len(f) != n || !slices.Equal(f[5], []imap.Flag{imap.FlagSeen, "$Label1"}) || has7 || !hasNew {
		t.Errorf("after STORE, EXPUNGE and a delivery: %d messages, UID 5 %v, UID 7 %v, UID %d %v", len(f), f[5], f[7], n+1, f[n+1])
	}
}

// The admin disables a family member's account while her phone is
// connected: the idling session and a busy one both get BYE within the
// check interval, and she cannot log in again.
func TestADisabledAccountsOpenSessionsAreClosed(t *testing.T) {
	ts := startServer(t, Options{InsecureAuth: true, OpenCheckEvery: 50 * time.Millisecond})
	a := ts.account(t, "gran@example.test")
	idler, busy := dialRaw(t, ts.addr), dialRaw(t, ts.addr)
	for _, c := range []*rawConn{idler, busy} {
		c.send("a1 LOGIN gran@example.test \"" + password + "\"\r\na2 SELECT INBOX\r\n")
		c.until("a2 OK")
	}
	idler.send("a3 IDLE\r\n")
	idler.until("+ ")
	if err := ts.store.SetAccountDisabled(context.Background(), a.Email, true); err != nil {
		t.Fatal(err)
	}
	if l := idler.until("* BYE"); !strings.Contains(l[len(l)-1], "disabled") {
		t.Errorf("idling session: %q", l)
	}
	time.Sleep(60 * time.Millisecond)
	busy.send("b1 NOOP\r\n")
	if l := busy.until("* BYE"); !strings.Contains(l[len(l)-1], "disabled") {
		t.Errorf("busy session: %q", l)
	}
	c := dialRaw(t, ts.addr)
	c.send("c1 LOGIN gran@example.test \"" + password + "\"\r\n")
	if l := c.until("c1 "); !strings.HasPrefix(l[len(l)-1], "c1 NO") {
		t.Errorf("login of a disabled account: %q", l)
	}
}

// APPEND takes no more than max_message_size (APPENDLIMIT, refused with
// TOOBIG before the continuation), a large message goes through a body
// file byte for byte, one cut short is never stored, and one over quota
// is refused (here, on the STARTTLS port's path, after go-imap asked for
// the bytes: they are read past, not kept).
func TestAppendIsLimitedStreamedAndQuotaChecked(t *testing.T) {
	ts := startServer(t, Options{InsecureAuth: true, MaxMessageBytes: 1 << 20})
	bob := ts.account(t, "bob@example.test")
	ctx := context.Background()
	c := dialRaw(t, ts.addr)
	c.send("l LOGIN bob@example.test \"" + password + "\"\r\nk CAPABILITY\r\n")
	if caps := strings.Join(c.until("k "), "\n"); !strings.Contains(caps, "APPENDLIMIT=1048576") {
		t.Errorf("no APPENDLIMIT=1048576 in\n%s", caps)
	}
	c.send("a APPEND INBOX {1048577}\r\n")
	if l := c.until("a "); !strings.HasPrefix(l[len(l)-1], "a NO [TOOBIG]") || strings.HasPrefix(l[0], "+") {
		t.Errorf("APPEND over the limit: %q", l)
	}

	big := testMessage("big", strings.Repeat("0123456789abcdef", 600<<10/16))
	c.send(fmt.Sprintf("b APPEND INBOX {%d}\r\n", len(big)))
	c.until("+")
	c.send(big + "\r\n")
	if l := c.until("b "); !strings.HasPrefix(l[len(l)-1], "b OK [APPENDUID") {
		t.Fatalf("large APPEND: %q", l)
	}
	inbox, _ := ts.store.MailboxByName(ctx, bob.ID, "INBOX")
	msgs, err := ts.store.LoadMessages(ctx, inbox.ID, []uint32{1}, store.BodyFull)
	if err != nil || len(msgs) != 1 || string(msgs[0].Data) != big {
		t.Fatalf("stored large APPEND differs (%v)", err)
	}

	if err := ts.store.SetQuota(ctx, bob.Email, int64(len(big))+100<<10); err != nil {
		t.Fatal(err)
	}
	over := testMessage("over", strings.Repeat("y", 200<<10))
	c.send(fmt.Sprintf("d APPEND INBOX {%d+}\r\n%s\r\n", len(over), over))
	if l := c.until("d "); !strings.HasPrefix(l[len(l)-1], "d NO [OVERQUOTA]") {
		t.Errorf("APPEND over quota: %q", l)
	}
	// Cut short: the client announces 1000 bytes, sends 10 and leaves.
	c.send("e APPEND INBOX {1000+}\r\n0123456789")
	c.conn.(*net.TCPConn).CloseWrite()
	time.Sleep(100 * time.Millisecond)
	if n, _ := ts.store.Counts(ctx, inbox.ID); n.Messages != 1 {
		t.Errorf("%d messages after the refused and broken APPENDs, want 1", n.Messages)
	}
}

// The bytes of a message that is all header are parsed only up to
// maxParsedHeader: ENVELOPE, BODYSTRUCTURE and HEADER.FIELDS still answer
// from the fields before the cut, and the cut falls at a line end.
func TestAHugeHeaderIsParsedOnlyUpToTheCap(t *testing.T) {
	var h strings.Builder
	h.WriteString("From: Big <big@example.test>\r\nSubject: huge\r\n")
	for i := 0; h.Len() < 4*maxParsedHeader; i++ {
		fmt.Fprintf(&h, "X-Filler: %050d\r\n", i)
	}
	h.WriteString("Subject: after the cut\r\n")
	for _, data := range []string{h.String(), h.String() + "\r\nbody\r\n"} {
		capped := cappedHeader([]byte(data))
		if len(capped) > maxParsedHeader || !strings.HasSuffix(string(capped), "\r\n") {
			t.Fatalf("capped header of %d bytes, ends %q", len(capped), capped[len(capped)-5:])
		}
		env := wire.ExtractEnvelope([]byte(data))
		if env.Subject != "huge" || len(env.From) != 1 || env.From[0].Mailbox != "big" {
			t.Errorf("envelope: %+v", env)
		}
		b, _ := io.ReadAll(messageReader([]byte(data)))
		want := string(capped)
		if end := mailmsg.HeaderEnd([]byte(data)); end < len(data) {
			want += data[end-2:] // the blank line and the body
		}
		if string(b) != want {
			t.Errorf("messageReader: %d bytes, want %d", len(b), len(want))
		}
		sec, _ := wire.ExtractSection([]byte(data), &wire.Section{Specifier: "HEADER.FIELDS", Fields: []string{"Subject"}})
		if string(sec) != "Subject: huge\r\n\r\n" {
			t.Errorf("HEADER.FIELDS (SUBJECT): %q", sec)
		}
	}
	// A MIME part's header is cut the same way.
	var m strings.Builder
	m.WriteString("Subject: nested\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\npreamble\r\n--XX\r\nContent-Type: text/plain\r\n")
	for i := 0; m.Len() < 4*maxParsedHeader; i++ {
		fmt.Fprintf(&m, "X-Filler: %050d\r\n", i)
	}
	m.WriteString("\r\nhello from inside\r\n--XX\r\nContent-Type: text/html\r\n\r\n<p>two</p>\r\n--XX--\r\n")
	b, _ := io.ReadAll(messageReader([]byte(m.String())))
	if len(b) > maxParsedHeader+200 || !strings.Contains(string(b), "hello from inside") || !strings.HasSuffix(string(b), "--XX--\r\n") {
		t.Errorf("nested part: %d bytes out of %d", len(b), m.Len())
	}
	bs := wire.ExtractBodyStructure([]byte(m.String()))
	if !bs.Multipart() || len(bs.Parts) != 2 {
		t.Errorf("BODYSTRUCTURE of the nested message: %#v", bs)
	}
	if txt := decodedText([]byte(m.String())); !strings.Contains(txt, "hello from inside") {
		t.Errorf("SEARCH text: %.100q", txt)
	}
	small := []byte(testMessage("small", "body"))
	if r, ok := messageReader(small).(*bytes.Reader); !ok || r.Len() != len(small) {
		t.Errorf("a normal message is not read as it is")
	}
}

// A message of two million empty parts: BODYSTRUCTURE lists the first
// maxMIMEParts, the rest is the last part's body, and the walk costs a
// copy of the message rather than hundreds of MiB.
func TestAMessageOfMillionsOfPartsIsWalkedUpToTheLimit(t *testing.T) {
	var m bytes.Buffer
	m.WriteString("From: a@b.example\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n")
	for m.Len() < 20<<20 {
		m.WriteString("--x\r\n\r\nhi\r\n")
	}
	m.WriteString("--x--\r\n")
	data := m.Bytes()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	bs := wire.ExtractBodyStructure(data)
	runtime.ReadMemStats(&after)
	if !bs.Multipart() || len(bs.Parts) != maxMIMEParts {
		t.Fatalf("BODYSTRUCTURE: %s with %d parts, want %d", bs.Type, len(bs.Parts), maxMIMEParts)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 128<<20 {
		t.Errorf("BODYSTRUCTURE of 20 MiB allocated %d MiB (2.5 GB before the limit)", alloc>>20)
	}
	all, _ := io.ReadAll(messageReader(data))
	if len(all) != len(data) || bytes.Count(all, []byte("\n")) != bytes.Count(data, []byte("\n")) || bytes.Count(all, []byte("\n--")) != maxMIMEParts {
		t.Error("the limited message changed size or lines, or kept boundaries past the limit")
	}
	// However the reads fall, a boundary past the limit is defused whole.
	for _, step := range []int{1, 2, 3, 7} {
		d := &defused{b: []byte("--x\r\n-- y\r\na--b\r\n--")}
		var got []byte
		buf := make([]byte, step)
		for {
			n, err := d.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
		}
		if string(got) != "  x\r\n   y\r\na--b\r\n  " {
			t.Errorf("reads of %d: %q", step, got)
		}
	}
}

func FuzzCappedHeader(f *testing.F) {
	f.Add([]byte(testMessage("s", "b")), 10)
	f.Add([]byte("Subject: x\r\n folded\r\nTo: a@b\r\n\r\nbody"), 3)
	f.Add([]byte("no header end at all"), 1)
	f.Fuzz(func(t *testing.T, data []byte, repeat int) {
		repeat = max(1, min(repeat, 4*maxParsedHeader/max(1, len(data))+2))
		data = bytes.Repeat(data, repeat)
		h := cappedHeader(data)
		if len(h) > maxParsedHeader || !bytes.HasPrefix(data, h) {
			t.Fatalf("capped header of %d bytes", len(h))
		}
		if len(h) < mailmsg.HeaderEnd(data) && len(h) > 0 && h[len(h)-1] != '\n' {
			t.Fatalf("cut not at a line end")
		}
		wire.ExtractEnvelope(data)
		if n, _ := io.Copy(io.Discard, messageReader(data)); n > int64(len(data)) {
			t.Fatalf("messageReader gave %d bytes of %d", n, len(data))
		}
	})
}

// FETCH and SEARCH of whole messages load them a bounded number of bytes
// at a time, and still answer for every message.
func TestFetchAndSearchOfLargeMessagesGoAFewAtATime(t *testing.T) {
	defer func(old int64) { maxChunkBytes = old }(maxChunkBytes)
	maxChunkBytes = 700 << 10
	ts := startInsecure(t)
	bob := ts.account(t, "bob@example.test")
	for i := range 7 {
		ts.deliver(t, bob, testMessage(fmt.Sprint("big", i), fmt.Sprintf("needle%d ", i)+strings.Repeat("z", 300<<10)))
	}
	c := ts.login(t, bob, nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	// Expunge one in the middle: the chunks step over the gap.
	if err := c.Store(imap.SeqSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil || len(msgs) != 6 {
		t.Fatalf("FETCH BODY[] of 6 messages: %d, %v", len(msgs), err)
	}
	for i, m := range msgs {
		for _, b := range m.BodySection {
			if len(b.Bytes) < 300<<10 || !strings.Contains(string(b.Bytes), "needle") {
				t.Errorf("message %d (UID %d): %d bytes", i+1, m.UID, len(b.Bytes))
			}
		}
	}
	data, err := c.UIDSearch(&imap.SearchCriteria{Body: []string{"needle"}}, nil).Wait()
	if err != nil || fmt.Sprint(data.AllUIDs()) != "[1 2 4 5 6 7]" {
		t.Errorf("SEARCH BODY: %v, %v", data.AllUIDs(), err)
	}
}
