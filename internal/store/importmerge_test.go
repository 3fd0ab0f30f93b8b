package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// importFixture is an account with a delivered message in INBOX (as the
// box keeps a forwarded copy during forward-and-keep) and a Family folder.
func importFixture(t *testing.T) (s *Store, acc Account, inbox, family Mailbox, uid uint32) {
	t.Helper()
	ctx := context.Background()
	s = openTemp(t)
	acc = newAccount(t, s, "me@example.test")
	if err := s.CreateMailbox(ctx, acc.ID, "Family", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Deliver(ctx, Delivery{Data: []byte("Subject: kept\r\n\r\nkept copy\r\n"), Local: []LocalTarget{{AccountID: acc.ID, Flags: FlagFlagged, Keywords: []string{"$Work"}}}}); err != nil {
		t.Fatal(err)
	}
	inbox, _ = s.MailboxByName(ctx, acc.ID, "INBOX")
	family, _ = s.MailboxByName(ctx, acc.ID, "Family")
	msgs, err := s.Messages(ctx, inbox.ID, 1, 0)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("INBOX: %v, %v", msgs, err)
	}
	return s, acc, inbox, family, msgs[0].UID
}

func changeLogRows(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.rdb.QueryRow("SELECT count(*) FROM change_log").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A copy that reached the box another way is moved into the folder being
// imported: a new UID there, an expunge in INBOX, both MODSEQs raised,
// the events published and written to the change log, the old side's
// flags merged onto the box's (none removed), the record naming the copy.
func TestImportMovesTheBoxCopyAndMergesFlags(t *testing.T) {
	ctx := context.Background()
	s, acc, inbox, family, uid := importFixture(t)
	sub := s.Subscribe(acc.ID)
	defer sub.Close()
	logged := changeLogRows(t, s)
	it := ImportItem{Source: "old/Family", Key: "7", Identity: "id", SHA256: "x", Size: 30, Data: []byte("Subject: kept\r\n\r\nold side's bytes\r\n"),
		Move: true, Existing: MessageRef{MailboxID: inbox.ID, UID: uid}, Flags: FlagSeen | FlagDeleted, Keywords: []string{"$family", "$work"}, InternalDate: time.Now()}
	out, err := s.ImportMessages(ctx, acc.ID, family.ID, []ImportItem{it})
	if err != nil || out[0] != ImportMoved {
		t.Fatalf("outcome %v, %v; want moved", out, err)
	}
	if msgs, _ := s.Messages(ctx, inbox.ID, 1, 0); len(msgs) != 0 {
		t.Errorf("INBOX still holds %d messages", len(msgs))
	}
	msgs, _ := s.Messages(ctx, family.ID, 1, 0)
	if len(msgs) != 1 {
		t.Fatalf("Family holds %d messages, want the moved one", len(msgs))
	}
	m := msgs[0]
	if m.Flags&^FlagRecent != FlagSeen|FlagFlagged || !slices.Equal(m.Keywords, []string{"$Work", "$family"}) {
		t.Errorf("moved copy has %v %v; want \\Seen \\Flagged (never \\Deleted) and $Work $family", m.Flags.Names(), m.Keywords)
	}
	if b, _ := s.Body(ctx, m.BodyID); string(b) != "Subject: kept\r\n\r\nkept copy\r\n" {
		t.Errorf("the moved copy's bytes changed: %q", b)
	}
	inbox2, _ := s.MailboxByName(ctx, acc.ID, "INBOX")
	family2, _ := s.MailboxByName(ctx, acc.ID, "Family")
	if inbox2.ModSeq <= inbox.ModSeq || family2.ModSeq <= family.ModSeq || m.ModSeq != family2.ModSeq {
		t.Errorf("MODSEQs: INBOX %d→%d, Family %d→%d, message %d", inbox.ModSeq, inbox2.ModSeq, family.ModSeq, family2.ModSeq, m.ModSeq)
	}
	var kinds []EventKind
	for _, e := range sub.Events() {
		kinds = append(kinds, e.Kind)
	}
	if !slices.Equal(kinds, []EventKind{EventNewMessage, EventExpunge}) {
		t.Errorf("events %v; want a new message in Family, an expunge in INBOX", kinds)
	}
	if n := changeLogRows(t, s); n != logged+1 {
		t.Errorf("change_log rows %d → %d; want one more", logged, n)
	}
	var claims []ImportClaim
	if err := s.EachImportClaim(ctx, acc.ID, func(c ImportClaim) { claims = append(claims, c) }); err != nil {
		t.Fatal(err)
	}
	want := ImportClaim{MailboxID: family.ID, Identity: "id", Box: MessageRef{MailboxID: family.ID, UID: m.UID}}
	if len(claims) != 1 || claims[0] != want {
		t.Errorf("claims %+v; want %+v", claims, want)
	}
	// A second run of the same key changes nothing.
	if out, err := s.ImportMessages(ctx, acc.ID, family.ID, []ImportItem{it}); err != nil || out[0] != ImportKnown {
		t.Errorf("re-run: %v, %v", out, err)
	}
}

// A copy the user removed before the commit is no longer there to move:
// the old side's bytes are stored instead, so nothing is lost.
func TestImportCopiesWhenTheCopyToMoveIsGone(t *testing.T) {
	ctx := context.Background()
	s, acc, inbox, family, uid := importFixture(t)
	if _, err := s.UpdateFlags(ctx, acc.ID, inbox.ID, []uint32{uid}, FlagsAdd, FlagDeleted, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expunge(ctx, acc.ID, inbox.ID, nil); err != nil {
		t.Fatal(err)
	}
	data := []byte("Subject: kept\r\n\r\nold side's bytes\r\n")
	out, err := s.ImportMessages(ctx, acc.ID, family.ID, []ImportItem{{Source: "old/Family", Key: "7", Identity: "id", Size: int64(len(data)), Data: data,
		Move: true, Existing: MessageRef{MailboxID: inbox.ID, UID: uid}, Flags: FlagSeen, InternalDate: time.Now()}})
	if err != nil || out[0] != ImportCopied {
		t.Fatalf("outcome %v, %v; want copied", out, err)
	}
	msgs, _ := s.Messages(ctx, family.ID, 1, 0)
	if len(msgs) != 1 {
		t.Fatalf("Family holds %d messages", len(msgs))
	}
	if b, _ := s.Body(ctx, msgs[0].BodyID); string(b) != string(data) || msgs[0].Flags != FlagSeen {
		t.Errorf("copy %q %v", b, msgs[0].Flags.Names())
	}
}

// A message found already present gets the old side's flags and
// keywords added (a union: the box's own stay), through a MODSEQ step;
// when nothing is new, nothing changes.
func TestImportMergesFlagsOntoAPresentCopy(t *testing.T) {
	ctx := context.Background()
	s, acc, inbox, _, uid := importFixture(t)
	present := func(key string, f Flags, kw ...string) {
		t.Helper()
		out, err := s.ImportMessages(ctx, acc.ID, inbox.ID, []ImportItem{{Source: "old/INBOX", Key: key, Identity: "id", Present: true,
			Existing: MessageRef{MailboxID: inbox.ID, UID: uid}, Flags: f, Keywords: kw}})
		if err != nil || out[0] != ImportPresent {
			t.Fatalf("outcome %v, %v", out, err)
		}
	}
	present("1", FlagSeen|FlagAnswered, "$work", "$Label1")
	msgs, _ := s.Messages(ctx, inbox.ID, 1, 0)
	m := msgs[0]
	if m.Flags&^FlagRecent != FlagSeen|FlagAnswered|FlagFlagged || !slices.Equal(m.Keywords, []string{"$Work", "$Label1"}) {
		t.Errorf("merged %v %v; want \\Seen \\Answered \\Flagged, $Work $Label1", m.Flags.Names(), m.Keywords)
	}
	mb, _ := s.MailboxByName(ctx, acc.ID, "INBOX")
	if mb.ModSeq != inbox.ModSeq+1 || m.ModSeq != mb.ModSeq {
		t.Errorf("MODSEQ %d → %d (message %d); want one step", inbox.ModSeq, mb.ModSeq, m.ModSeq)
	}
	present("2", FlagSeen)
	if mb2, _ := s.MailboxByName(ctx, acc.ID, "INBOX"); mb2.ModSeq != mb.ModSeq {
		t.Errorf("a merge that adds nothing raised MODSEQ %d → %d", mb.ModSeq, mb2.ModSeq)
	}
}

// Queue ids are never reused, also after the row with the highest id
// is gone; a database made before migration 15 keeps its rows, their
// ids and their bodies.
func TestQueueIDsAreNeverReused(t *testing.T) {
	skipOnPG(t, "replays SQLite migration 15 on the SQLite file; PostgreSQL's identity columns never reuse ids")
	ctx := context.Background()
	dir := t.TempDir()
	s, err := testOpen(ctx, dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	d := Delivery{Data: []byte("Subject: out\r\n\r\nx\r\n"), Sender: "me@example.test", Remote: []string{"a@one.example", "b@two.example"}}
	ids, err := s.DeliverQueued(ctx, d)
	if err != nil || len(ids) != 2 || ids[0] == ids[1] {
		t.Fatalf("ids %v, %v; want two", ids, err)
	}
	if err := s.QueueRemove(ctx, ids[1], nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Back to version 14, with the table as it was then: a plain rowid.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(undoSchema17 + `ALTER TABLE queue RENAME TO queue_v15; DROP TRIGGER queue_ref_ins; DROP TRIGGER queue_ref_del; DROP INDEX queue_next;
		CREATE TABLE queue (id INTEGER PRIMARY KEY, sender TEXT NOT NULL, recipients TEXT NOT NULL, body_id INTEGER NOT NULL REFERENCES bodies(id),
			created INTEGER NOT NULL, next_attempt INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '',
			domain TEXT NOT NULL DEFAULT '', warned INTEGER NOT NULL DEFAULT 0);
		INSERT INTO queue SELECT id, sender, recipients, body_id, created, next_attempt, attempts, last_error, domain, warned FROM queue_v15; DROP TABLE queue_v15;
		CREATE TRIGGER queue_ref_ins AFTER INSERT ON queue BEGIN UPDATE bodies SET refs = refs + 1 WHERE id = NEW.body_id; END;
		CREATE TRIGGER queue_ref_del AFTER DELETE ON queue BEGIN UPDATE bodies SET refs = refs - 1 WHERE id = OLD.body_id; DELETE FROM bodies WHERE id = OLD.body_id AND refs <= 0; END;
		CREATE INDEX queue_next ON queue(next_attempt);
		ALTER TABLE import_messages DROP COLUMN box_mailbox; ALTER TABLE import_messages DROP COLUMN box_uid;
		DROP TABLE spam_tokens; DROP TABLE spam_models; DROP TABLE spam_trained; DROP TABLE spam_train_queue; PRAGMA user_version = 14`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err = testOpen(ctx, dir, testOptions); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q, err := s.Queue(ctx)
	if err != nil || len(q) != 1 || q[0].ID != ids[0] || q[0].Domain != "one.example" {
		t.Fatalf("queue after migration 15: %+v, %v", q, err)
	}
	if b, err := s.Body(ctx, q[0].BodyID); err != nil || string(b) != string(d.Data) {
		t.Fatalf("the queued body after migration 15: %q, %v", b, err)
	}
	seen := map[int64]bool{ids[0]: true}
	for range 3 {
		if err := s.QueueRemove(ctx, q[0].ID, nil); err != nil {
			t.Fatal(err)
		}
		next, err := s.DeliverQueued(ctx, Delivery{Data: d.Data, Sender: d.Sender, Remote: []string{"c@three.example"}})
		if err != nil || len(next) != 1 {
			t.Fatalf("ids %v, %v", next, err)
		}
		if seen[next[0]] || next[0] <= ids[0] {
			t.Fatalf("queue id %d again (had %v)", next[0], seen)
		}
		seen[next[0]] = true
		if q, err = s.Queue(ctx); err != nil || len(q) != 1 || q[0].ID != next[0] {
			t.Fatalf("queue %+v, %v", q, err)
		}
	}
	var bodies int
	s.rdb.QueryRow("SELECT count(*) FROM bodies").Scan(&bodies)
	if bodies != 1 {
		t.Errorf("%d bodies; want the one queued message's", bodies)
	}
}
