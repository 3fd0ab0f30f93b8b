package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
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
	Data    []byte
	// Body, when set instead of Data, is the message already streamed into
	// the store (NewBodyWriter). Once ImportMessages succeeds, the body is
	// stored or discarded; after an error it is still the caller's, to
	// try again or Discard.
	Body         *SpooledBody
	Flags        Flags
	Keywords     []string
	InternalDate time.Time
}

// ImportOutcome is what ImportMessages did with one item.
type ImportOutcome int

// Outcomes of ImportMessages.
const (
	ImportCopied  ImportOutcome = iota // stored as a new message
	ImportKnown                        // Source+Key was recorded by an earlier run
	ImportPresent                      // recorded as already in the box
)

// ImportMessages stores a batch of items into one mailbox in a single
// transaction (one fsync for the batch) and records their identities. An
// item whose Source+Key is already recorded is left alone (ImportKnown).
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
		case it.Present:
			if it.Body != nil {
				bodies[i] = it.Body.b
			}
		case it.Body != nil:
			bodies[i] = it.Body.b
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
			out[i] = ImportPresent
			if !it.Present {
				bid, err := insertBody(ctx, tx, bodies[i])
				if err != nil {
					return err
				}
				uid, err = addMessage(ctx, tx, accountID, mailboxID, bid, bodies[i].size, it.Flags&^FlagRecent, it.Keywords, it.InternalDate)
				if err != nil {
					return err
				}
				out[i] = ImportCopied
				copied = append(copied, i)
			}
			if _, err := tx.exec(ctx, `INSERT INTO import_messages(account_id, source, key, identity, sha256, size, mailbox_id, uid, created)
				VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)`, accountID, it.Source, it.Key, it.Identity, it.SHA256, it.Size, mailboxID, uid, ts); err != nil {
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

// EachImportedIdentity calls fn with the identity recorded for each
// message imported into a mailbox and the UID it became (0 when it was
// already present). fn must not use the store: a query is open.
func (s *Store) EachImportedIdentity(ctx context.Context, accountID, mailboxID int64, fn func(identity string, uid uint32)) error {
	rows, err := s.rdb.QueryContext(ctx, "SELECT identity, uid FROM import_messages WHERE account_id = ? AND mailbox_id = ?", accountID, mailboxID)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var uid uint32
		if err := rows.Scan(&id, &uid); err != nil {
			return err
		}
		fn(id, uid)
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

// StartImportRun records the start of an import run.
func (s *Store) StartImportRun(ctx context.Context, accountID int64, source string) (int64, error) {
	var id int64
	err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		res, err := tx.exec(ctx, "INSERT INTO import_runs(account_id, source, started) VALUES(?, ?, ?)", accountID, source, now())
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
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
