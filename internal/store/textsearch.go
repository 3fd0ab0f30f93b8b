package store

// The body text index (migration 21): the decoded text parts of each body kept
// inline in the database, in an FTS5 table with the trigram tokenizer
// (case-insensitive), contentless, so that it costs the index and not a
// second copy of the text. A search picks its candidates with the
// trigrams of the text looked for (BodyTextCandidates) and the caller
// still matches each candidate exactly: the index only narrows. Bodies
// kept in files (large ones, mostly attachments) are not indexed and are
// always candidates. Rows come and go with their bodies: insertBody adds
// one, a trigger on bodies removes it.

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"golang.org/x/text/encoding/htmlindex"
)

const (
	maxIndexedText  = 256 << 10 // decoded text of a body indexed
	maxIndexedParts = 100
	maxQueryGrams   = 24 // trigrams of a query used to narrow
)

// bodyTextSchema is the migration's SQL.
const bodyTextSchema = `
CREATE VIRTUAL TABLE IF NOT EXISTS body_text USING fts5(text, content='', contentless_delete=1, tokenize='trigram', detail='none');
CREATE INDEX IF NOT EXISTS bodies_in_files ON bodies(id) WHERE file IS NOT NULL;
CREATE TRIGGER IF NOT EXISTS bodies_text_del AFTER DELETE ON bodies BEGIN
	DELETE FROM body_text WHERE rowid = OLD.id;
END;
`

// bodyText is the text of a message that the index holds: its text
// parts decoded (transfer encoding, charset), HTML without tags, capped.
func bodyText(data []byte) string {
	e, err := message.Read(bytes.NewReader(data))
	if e == nil {
		return ""
	}
	_ = err // an unknown charset or encoding: e is still usable
	var sb strings.Builder
	parts := 0
	// Errors (an unknown encoding, a broken part) end the walk or skip a
	// part: the text read so far is indexed.
	_ = e.Walk(func(_ []int, p *message.Entity, err error) error {
		parts++
		if err != nil || parts > maxIndexedParts || sb.Len() >= maxIndexedText {
			return nil
		}
		if p.MultipartReader() != nil {
			return nil
		}
		t, params, _ := p.Header.ContentType()
		if t != "" && !strings.HasPrefix(t, "text/") {
			return nil
		}
		b, _ := io.ReadAll(io.LimitReader(p.Body, maxIndexedText))
		s := decodeCharset(b, params["charset"])
		if t == "text/html" {
			s = StripTags(s)
		}
		sb.WriteString(s)
		sb.WriteByte('\n')
		return nil
	})
	s := sb.String()
	if len(s) > maxIndexedText {
		s = s[:maxIndexedText]
	}
	return strings.ToValidUTF8(s, "")
}

// decodeCharset converts b from charset to UTF-8 (go-message's global
// CharsetReader stays unset: see FoldHeaderValue).
func decodeCharset(b []byte, charset string) string {
	switch strings.ToLower(charset) {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return string(b)
	}
	enc, err := htmlindex.Get(charset)
	if err != nil {
		return string(b)
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return string(b)
	}
	return string(out)
}

// StripTags drops what is between < and >: HTML as text to search, not
// to show (the index here, and the webmail's check of its candidates).
func StripTags(h string) string {
	var b strings.Builder
	in := false
	for _, r := range h {
		switch {
		case r == '<':
			in = true
		case r == '>':
			in = false
			b.WriteByte(' ')
		case !in:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func insertBodyText(ctx context.Context, exec func(ctx context.Context, q string, args ...any) (sql.Result, error), bodyID int64, text string) error {
	if text == "" {
		return nil
	}
	_, err := exec(ctx, "INSERT INTO body_text(rowid, text) VALUES(?, ?)", bodyID, text)
	return err
}

// backfillBodyText indexes the inline bodies stored before the
// migration, inside its transaction (from scratch, so that a migration
// run again after a restore of an older schema does not add rows twice).
func backfillBodyText(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, "INSERT INTO body_text(body_text) VALUES('delete-all')"); err != nil {
		return err
	}
	return backfillRows(ctx, tx, "SELECT id, data FROM bodies WHERE id > ? AND file IS NULL ORDER BY id LIMIT 200",
		func(id int64, data []byte) error {
			return insertBodyText(ctx, tx.ExecContext, id, bodyText(data))
		})
}

// Migration 32 (issue 23): PostgreSQL's body_text gets a GIN trigram
// index (pg_trgm), which its ILIKE search uses, so a SEARCH BODY over a
// large mailbox reads the index instead of every body's text. pg_trgm
// is a contrib extension: when it is not installed or the store's role
// may not create it, the migration still succeeds without the index
// (CREATE EXTENSION fails in its own subtransaction), the search is the
// same ILIKE over the table, and Open warns (checkTextIndex). SQLite's
// FTS5 table has its trigrams already: its form is a no-op.
const (
	textIndexSchema   = `SELECT 1` // SQLite: nothing to do
	pgTextIndexSchema = `
DO $$
BEGIN
	CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN OTHERS THEN
	RAISE NOTICE 'pg_trgm cannot be created (%): body search runs without its index', SQLERRM;
END $$;
DO $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
		CREATE INDEX IF NOT EXISTS body_text_trgm ON body_text USING gin (text gin_trgm_ops);
	END IF;
END $$;
`
)

// pgTextIndex names the index migration 32 makes.
const pgTextIndex = "body_text_trgm"

// checkTextIndex warns, once at Open, when PostgreSQL's body text has no
// trigram index (migration 32 could not create pg_trgm): searches work,
// reading every body's text.
func (s *Store) checkTextIndex(ctx context.Context) {
	if !s.pg {
		return
	}
	var n int
	if err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM pg_indexes WHERE tablename = 'body_text' AND indexname = ?", pgTextIndex).Scan(&n); err != nil {
		s.log.Warn("checking the body text index", "err", err)
		return
	}
	if n == 0 {
		s.log.Warn("body search on PostgreSQL has no trigram index (the pg_trgm extension could not be created): it works, reading every body's text; to index it, as a superuser run CREATE EXTENSION pg_trgm; then CREATE INDEX " + pgTextIndex + " ON body_text USING gin (text gin_trgm_ops);")
	}
}

// pgBodyTextCandidates is BodyTextCandidates on PostgreSQL: a
// case-insensitive substring match, through the trigram index when
// there is one.
const pgBodyTextCandidates = `SELECT group_concat(m.uid, ',') FROM messages m
		WHERE m.mailbox_id = ? AND (m.body_id IN (SELECT rowid FROM body_text WHERE text ILIKE ?)
			OR m.body_id IN (SELECT id FROM bodies WHERE file IS NOT NULL))`

// trigramQuery is the FTS5 query of the trigrams of value (lower case),
// ANDed; "" when value has fewer than three characters.
func trigramQuery(value string) string {
	rs := []rune(strings.ToLower(value))
	var grams []string
	for i := 0; i+3 <= len(rs) && len(grams) < maxQueryGrams; i++ {
		g := string(rs[i : i+3])
		// FTS5 reads its query as a C string: a NUL would end it. Leaving
		// a trigram out only widens the candidates.
		if !utf8.ValidString(g) || strings.ContainsRune(g, 0) || slices.Contains(grams, g) {
			continue
		}
		grams = append(grams, g)
	}
	for i, g := range grams {
		grams[i] = `"` + strings.ReplaceAll(g, `"`, `""`) + `"`
	}
	return strings.Join(grams, " AND ")
}

// likePattern is an ILIKE pattern matching text that contains value.
func likePattern(value string) string {
	r := strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`, "\x00", "")
	return "%" + r.Replace(value) + "%"
}

// BodyTextCandidates returns, ascending, the UIDs of the messages of a
// mailbox whose body text may contain value (case-insensitively): those
// the index finds all trigrams of value in, and those whose body is not
// indexed (kept in a file). The caller still matches each candidate.
// ok is false when value is too short for the index (under three
// characters): then every message is a candidate.
func (s *Store) BodyTextCandidates(ctx context.Context, mailboxID int64, value string) (uids []uint32, ok bool, err error) {
	q := trigramQuery(value)
	if q == "" {
		return nil, false, nil
	}
	var list sql.NullString
	if s.pg {
		// PostgreSQL's body_text is a plain table (pgschema.go) with a
		// trigram index (migration 32): a case-insensitive substring
		// match, which the caller's exact match narrows no further than
		// the trigrams would.
		err = s.rdb.QueryRowContext(ctx, pgBodyTextCandidates, mailboxID, likePattern(value)).Scan(&list)
	} else {
		err = s.rdb.QueryRowContext(ctx, `SELECT group_concat(m.uid, ',') FROM messages m
		WHERE m.mailbox_id = ? AND (m.body_id IN (SELECT rowid FROM body_text WHERE body_text MATCH ?)
			OR m.body_id IN (SELECT id FROM bodies WHERE file IS NOT NULL))`,
			mailboxID, q).Scan(&list)
	}
	if err != nil {
		return nil, false, fmt.Errorf("body text candidates: %w", err)
	}
	for f := range strings.SplitSeq(list.String, ",") {
		if f == "" {
			continue
		}
		u, err := strconv.ParseUint(f, 10, 32)
		if err != nil {
			return nil, false, fmt.Errorf("candidates in mailbox %d: %w", mailboxID, err)
		}
		uids = append(uids, uint32(u))
	}
	slices.Sort(uids)
	return uids, true, nil
}
