package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// This file holds what the migration assistant (internal/migrate) needs:
// imports keep the original flags and internal date, bypass delivery (no
// Sieve, no \Recent), and record each message's source identity in the same
// transaction as the message, so an import killed at any moment and run
// again neither misses nor doubles a message.

// ImportItem is one message brought in from an old provider.
type ImportItem struct {
	Source   string // one old folder, e.g. "imap://host/login/INBOX;UIDVALIDITY=7"
	Key      string // the message within Source: UID, file name, UIDL
	Identity string // content identity (see migrate.Identity)
	SHA256   string // hash of Data, hex
	Size     int64  // len(Data), or the size of a message already present
	// Present says the box already holds this message (found by identity):
	// only the record is written, not the message.
	Present bool
	// Move says Existing, a copy that reached the box another way
	// (delivered, not imported), is moved into the import's mailbox
	// instead of storing Data or Body; when that copy is gone by the
	// time of the commit, the item is stored as a copy after all.
	Move bool
	// Existing is the box's own copy that a Present or Move item matched
	// (zero: none known). The item's flags and keywords are merged onto
	// it: a union of \Seen, \Answered, \Flagged, \Draft and keywords;
	// nothing the box has is removed.
	Existing MessageRef
	Data     []byte
	// Body, when set instead of Data, is the message already streamed into
	// the store (NewBodyWriter). Once ImportMessages succeeds, the body is
	// stored or discarded; after an error it is still the caller's, to
	// try again or Discard.
	Body         *SpooledBody
	Flags        Flags
	Keywords     []string
	InternalDate time.Time
}

// MessageRef names one message of the box.
type MessageRef struct {
	MailboxID int64
	UID       uint32
}

// ImportOutcome is what ImportMessages did with one item.
type ImportOutcome int

// Outcomes of ImportMessages.
const (
	ImportCopied  ImportOutcome = iota // stored as a new message
	ImportKnown                        // Source+Key was recorded by an earlier run
	ImportPresent                      // recorded as already in the box
	ImportMoved                        // already in the box elsewhere: that copy was moved here
)

// ImportMessages stores a batch of items into one mailbox in a single
// transaction (one fsync for the batch) and records their identities. An
// item whose Source+Key is already recorded is left alone (ImportKnown).
// A Present item merges its flags onto Existing; a Move item moves
// Existing into the mailbox (a new UID there, an expunge where it was,
// both MODSEQs raised, and the change published and logged like IMAP
// MOVE's).
func (s *Store) ImportMessages(ctx context.Context, accountID, mailboxID int64, items []ImportItem) (_ []ImportOutcome, err error) {
	out := make([]ImportOutcome, len(items))
	bodies := make([]body, len(items))
	used := make([]bool, len(items))
	defer func() {
		for i, b := range bodies {
			if !used[i] && (err == nil || items[i].Body == nil) {
				s.discardBody(b)
			}
		}
	}()
	for i, it := range items {
		switch {
		case it.Body != nil:
			bodies[i] = it.Body.b
		case it.Present:
		default:
			b, err := s.prepareBody(nil, it.Data)
			if err != nil {
				return nil, err
			}
			bodies[i] = b
		}
	}
	var copied []int
	err = s.write(ctx, func(ctx context.Context, tx *Tx) error {
		copied = copied[:0]
		var one int
		if err := tx.queryRow(ctx, "SELECT 1 FROM mailboxes WHERE id = ? AND account_id = ?", mailboxID, accountID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("mailbox %d: %w", mailboxID, ErrNotFound)
		} else if err != nil {
			return err
		}
		ts := now()
		for i, it := range items {
			err := tx.queryRow(ctx, "SELECT 1 FROM import_messages WHERE account_id = ? AND source = ? AND key = ?", accountID, it.Source, it.Key).Scan(&one)
			if err == nil {
				out[i] = ImportKnown
				continue
			} else if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			var uid uint32
			var box MessageRef
			out[i], uid, box, err = importOne(ctx, tx, accountID, mailboxID, it, bodies[i])
			if err != nil {
				return err
			}
			if out[i] == ImportCopied {
				copied = append(copied, i)
			}
			if _, err := tx.exec(ctx, `INSERT INTO import_messages(account_id, source, key, identity, sha256, size, mailbox_id, uid, created, box_mailbox, box_uid)
				VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, accountID, it.Source, it.Key, it.Identity, it.SHA256, it.Size, mailboxID, uid, ts, box.MailboxID, box.UID); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		for _, i := range copied {
			used[i] = true
		}
	}
	return out, err
}

// importOne stores one new item inside ImportMessages' transaction: it
// returns what it did, the UID of the copy it made (0: none) and the box's
// own copy the item stands for (zero: none).
func importOne(ctx context.Context, tx *Tx, accountID, mailboxID int64, it ImportItem, b body) (ImportOutcome, uint32, MessageRef, error) {
	switch {
	case it.Present:
		if it.Existing.UID == 0 {
			return ImportPresent, 0, MessageRef{}, nil
		}
		found, err := mergeFlags(ctx, tx, accountID, it.Existing, it.Flags, it.Keywords)
		if err != nil || !found {
			return ImportPresent, 0, MessageRef{}, err
		}
		return ImportPresent, 0, it.Existing, nil
	case it.Move:
		uid, err := moveIntoImport(ctx, tx, accountID, mailboxID, it)
		if err != nil {
			return 0, 0, MessageRef{}, err
		}
		if uid > 0 {
			return ImportMoved, 0, MessageRef{MailboxID: mailboxID, UID: uid}, nil
		}
	}
	bid, err := insertBody(ctx, tx, b)
	if err != nil {
		return 0, 0, MessageRef{}, err
	}
	uid, err := addMessage(ctx, tx, accountID, mailboxID, bid, b.size, it.Flags&^FlagRecent, it.Keywords, it.InternalDate)
	return ImportCopied, uid, MessageRef{}, err
}

// mergeableFlags are the flags an import adds to a copy the box has.
const mergeableFlags = FlagSeen | FlagAnswered | FlagFlagged | FlagDraft

// unionFlags returns the flags and keywords of a message with those of
// another copy added (mergeableFlags only), and whether anything changed.
func unionFlags(f Flags, kw []string, addF Flags, addKw []string) (Flags, []string, bool) {
	nf := f | addF&mergeableFlags
	changed := nf != f
	for _, k := range addKw {
		if !slices.ContainsFunc(kw, func(x string) bool { return strings.EqualFold(x, k) }) {
			kw = append(kw, k)
			changed = true
		}
	}
	return nf, kw, changed
}

// mergeFlags adds flags and keywords to a message of the account (see
// unionFlags), raising its mailbox's MODSEQ and publishing the change
// when something is new. found is false when the message is gone.
func mergeFlags(ctx context.Context, tx *Tx, accountID int64, ref MessageRef, f Flags, kw []string) (found bool, err error) {
	var old Flags
	var okw sql.NullString
	err = tx.queryRow(ctx, `SELECT m.flags, m.keywords FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
		WHERE m.mailbox_id = ? AND m.uid = ? AND b.account_id = ?`, ref.MailboxID, ref.UID, accountID).Scan(&old, &okw)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	nf, nkw, changed := unionFlags(old, splitKeywords(okw), f, kw)
	if !changed {
		return true, nil
	}
	var modseq int64
	if err := tx.queryRow(ctx, "UPDATE mailboxes SET modseq = modseq + 1 WHERE id = ? RETURNING modseq", ref.MailboxID).Scan(&modseq); err != nil {
		return true, err
	}
	if _, err := tx.exec(ctx, "UPDATE messages SET flags = ?, keywords = ?, modseq = ? WHERE mailbox_id = ? AND uid = ?",
		nf, joinKeywords(nkw), modseq, ref.MailboxID, ref.UID); err != nil {
		return true, err
	}
	tx.emit(Event{Kind: EventFlags, AccountID: accountID, MailboxID: ref.MailboxID, UID: ref.UID, ModSeq: modseq, Flags: nf, Keywords: nkw, Origin: originOf(ctx)})
	return true, nil
}

// moveIntoImport moves it.Existing into the import's mailbox with the
// item's flags merged onto its own, keeping its body and internal date,
// and returns its new UID; 0 when it is no longer there.
func moveIntoImport(ctx context.Context, tx *Tx, accountID, mailboxID int64, it ImportItem) (uint32, error) {
	src := it.Existing
	if src.MailboxID == mailboxID || src.UID == 0 {
		return 0, nil
	}
	var bid, size, d int64
	var f Flags
	var kw sql.NullString
	err := tx.queryRow(ctx, `SELECT m.body_id, m.size, m.idate, m.flags, m.keywords FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
		WHERE m.mailbox_id = ? AND m.uid = ? AND b.account_id = ?`, src.MailboxID, src.UID, accountID).Scan(&bid, &size, &d, &f, &kw)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	nf, nkw, _ := unionFlags(f, splitKeywords(kw), it.Flags, it.Keywords)
	// The new row first: the body's reference count never reaches zero.
	uid, err := addMessage(ctx, tx, accountID, mailboxID, bid, size, nf, nkw, time.Unix(d, 0))
	if err != nil {
		return 0, err
	}
	return uid, removeMessages(ctx, tx, accountID, src.MailboxID, []uint32{src.UID})
}

// EnsureMailbox returns an account's mailbox, creating it (and missing
// parents) when needed.
func (s *Store) EnsureMailbox(ctx context.Context, accountID int64, name, specialUse string) (Mailbox, error) {
	m, err := s.MailboxByName(ctx, accountID, name)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return m, err
	}
	if err := s.CreateMailbox(ctx, accountID, name, specialUse); err != nil && !errors.Is(err, ErrExists) {
		return m, err
	}
	return s.MailboxByName(ctx, accountID, name)
}

// ImportRecord is the stored identity of one imported message, with the
// message it became (BodyID 0 when it was already present or has since
// been deleted by the user).
type ImportRecord struct {
	Source, Key, Identity, SHA256 string
	Size                          int64
	MailboxID                     int64
	UID                           uint32
	BodyID                        int64 // of the message now at MailboxID/UID
	StoredSize                    int64 // its size
}

// ImportRecords returns the records of one source (all sources when
// source is "").
func (s *Store) ImportRecords(ctx context.Context, accountID int64, source string) ([]ImportRecord, error) {
	var out []ImportRecord
	err := s.EachImportRecord(ctx, accountID, source, func(r ImportRecord) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// importRecordPage is how many records EachImportRecord reads at a time.
const importRecordPage = 1000

// EachImportRecord calls fn with the records of one source (all when
// source is ""), in the order they were made, holding at most a page of
// them; no query is open while fn runs, so fn may use the store.
func (s *Store) EachImportRecord(ctx context.Context, accountID int64, source string, fn func(ImportRecord) error) error {
	q := `SELECT i.id, i.source, i.key, i.identity, i.sha256, i.size, i.mailbox_id, i.uid, COALESCE(m.body_id, 0), COALESCE(m.size, 0)
		FROM import_messages i LEFT JOIN messages m ON m.mailbox_id = i.mailbox_id AND m.uid = i.uid AND i.uid > 0
		WHERE i.account_id = ? AND i.id > ?`
	if source != "" {
		q += " AND i.source = ?"
	}
	q += " ORDER BY i.id LIMIT " + fmt.Sprint(importRecordPage)
	var after int64
	for {
		args := []any{accountID, after}
		if source != "" {
			args = append(args, source)
		}
		rows, err := s.rdb.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		page := make([]ImportRecord, 0, importRecordPage)
		for rows.Next() {
			var r ImportRecord
			if err := rows.Scan(&after, &r.Source, &r.Key, &r.Identity, &r.SHA256, &r.Size, &r.MailboxID, &r.UID, &r.BodyID, &r.StoredSize); err != nil {
				rows.Close()
				return err
			}
			page = append(page, r)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return err
		}
		for _, r := range page {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(page) < importRecordPage {
			return nil
		}
	}
}

// ImportedKeys returns the keys recorded for one source.
func (s *Store) ImportedKeys(ctx context.Context, accountID int64, source string) (map[string]bool, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT key FROM import_messages WHERE account_id = ? AND source = ?", accountID, source)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out[k] = true
	}
	return out, rows.Err()
}

// ImportClaim is what an import record says of the box: the identity it
// put into a mailbox, as the copy it made (UID) or as the box's own copy
// it matched (Box: already present, or moved there by the import).
type ImportClaim struct {
	MailboxID int64
	Identity  string
	UID       uint32     // the copy the import made, 0: none
	Box       MessageRef // the box's copy it matched, zero: none or not recorded (before migration 15)
}

// EachImportClaim calls fn with every import record of an account. fn
// must not use the store: a query is open.
func (s *Store) EachImportClaim(ctx context.Context, accountID int64, fn func(ImportClaim)) error {
	rows, err := s.rdb.QueryContext(ctx, "SELECT mailbox_id, identity, uid, box_mailbox, box_uid FROM import_messages WHERE account_id = ?", accountID)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var c ImportClaim
		if err := rows.Scan(&c.MailboxID, &c.Identity, &c.UID, &c.Box.MailboxID, &c.Box.UID); err != nil {
			return err
		}
		fn(c)
	}
	return rows.Err()
}

// ImportRun is one run of 'boxmail migrate import' for one account.
type ImportRun struct {
	ID                               int64
	AccountID                        int64
	Source                           string
	Started, Finished                time.Time // Finished zero: running or interrupted
	Verified                         bool
	Copied, Present, Skipped, Failed int
	Report                           string // JSON, per folder
}

// Sources of the runs of contacts and calendar imports ('migrate import
// --vcf, --ics, --carddav, --caldav'): the prefix, then the file or URL.
// Every other run imported mail.
const (
	ImportSourceContacts = "contacts:"
	ImportSourceCalendar = "calendar:"
)

// Mail says whether the run imported mail, not contacts or calendars.
func (r ImportRun) Mail() bool {
	return !strings.HasPrefix(r.Source, ImportSourceContacts) && !strings.HasPrefix(r.Source, ImportSourceCalendar)
}

// StartImportRun records the start of an import run.
func (s *Store) StartImportRun(ctx context.Context, accountID int64, source string) (int64, error) {
	var id int64
	err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		var err error
		id, err = tx.insertID(ctx, "INSERT INTO import_runs(account_id, source, started) VALUES(?, ?, ?)", accountID, source, now())
		return err
	})
	return id, err
}

// FinishImportRun records the outcome of a run.
func (s *Store) FinishImportRun(ctx context.Context, r ImportRun) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, `UPDATE import_runs SET finished = ?, verified = ?, copied = ?, present = ?, skipped = ?, failed = ?, report = ? WHERE id = ?`,
			now(), r.Verified, r.Copied, r.Present, r.Skipped, r.Failed, r.Report, r.ID)
		return err
	})
}

// ImportRuns lists an account's import runs, oldest first.
func (s *Store) ImportRuns(ctx context.Context, accountID int64) ([]ImportRun, error) {
	return queryAll(ctx, s.rdb, func(rows *sql.Rows) (ImportRun, error) {
		var r ImportRun
		var st, fin int64
		err := rows.Scan(&r.ID, &r.AccountID, &r.Source, &st, &fin, &r.Verified, &r.Copied, &r.Present, &r.Skipped, &r.Failed, &r.Report)
		r.Started = time.Unix(st, 0)
		if fin > 0 {
			r.Finished = time.Unix(fin, 0)
		}
		return r, err
	}, `SELECT id, account_id, source, started, finished, verified, copied, present, skipped, failed, report
		FROM import_runs WHERE account_id = ? ORDER BY id`, accountID)
}

// MigrationSteps returns when each switch-over step of a domain was first
// seen done (empty when no migration was recorded).
func (s *Store) MigrationSteps(ctx context.Context, domain string) (map[string]time.Time, error) {
	var js string
	err := s.rdb.QueryRowContext(ctx, "SELECT steps FROM migration_domains WHERE domain = ?", strings.ToLower(domain)).Scan(&js)
	if errors.Is(err, sql.ErrNoRows) {
		return map[string]time.Time{}, nil
	} else if err != nil {
		return nil, err
	}
	var raw map[string]int64
	if err := json.Unmarshal([]byte(js), &raw); err != nil {
		return nil, fmt.Errorf("migration record of %s: %w", domain, err)
	}
	out := make(map[string]time.Time, len(raw))
	for k, v := range raw {
		out[k] = time.Unix(v, 0)
	}
	return out, nil
}

// MarkMigrationSteps records the steps first seen done now; steps already
// recorded keep their first date.
func (s *Store) MarkMigrationSteps(ctx context.Context, domain string, steps []string) error {
	domain = strings.ToLower(domain)
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		var js string
		raw := map[string]int64{}
		err := tx.queryRow(ctx, "SELECT steps FROM migration_domains WHERE domain = ?", domain).Scan(&js)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if _, err := tx.exec(ctx, "INSERT INTO migration_domains(domain, started) VALUES(?, ?)", domain, now()); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			if err := json.Unmarshal([]byte(js), &raw); err != nil {
				return err
			}
		}
		for _, st := range steps {
			if _, ok := raw[st]; !ok {
				raw[st] = now()
			}
		}
		b, _ := json.Marshal(raw)
		_, err = tx.exec(ctx, "UPDATE migration_domains SET steps = ? WHERE domain = ?", string(b), domain)
		return err
	})
}
