package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// The spam filter's state (migration 16). The filter itself is
// internal/spam; this file only keeps its numbers:
//
//   - spam_tokens: per model (an account, or 0 for the household model
//     that serves accounts with too little training) the trained spam and
//     ham counts of each token hash.
//   - spam_weights (migration 24): per model the linear model's weight
//     and confidence per weight index (internal/spam/linear.go), changed
//     by adding the trainer's deltas as spam_tokens' counts are.
//   - spam_models: per model the trained messages each way and a
//     generation, bumped by every change, by which caches see another
//     process's training.
//   - spam_trained: what each account trained, by message key, so the
//     same message is not counted twice and a message moved back out of
//     Junk is untrained as spam before it is trained as ham.
//   - spam_train_queue: training asked for by the moves into and out of
//     Junk (Copy, the $Junk/$NotJunk keywords) and by messages appended
//     to Sent. Each row holds a reference on its body, so emptying Junk
//     right after a move does not lose it; the trainer (delivery) takes
//     rows in batches and deletes them with the counts it writes.

// Training classes.
const (
	SpamClassHam  = 0
	SpamClassSpam = 1
	SpamClassSent = 2 // a message the user sent: its recipients are wanted
)

// HouseholdModel is the account id of the household model.
const HouseholdModel = 0

// SpamModelInfo is a model's trained messages and generation.
type SpamModelInfo struct {
	Spam, Ham int64
	Gen       int64
	Tokens    int64 // only from SpamStats
}

// SpamModelInfo returns a model's counts (zero for a model never trained).
func (s *Store) SpamModelInfo(ctx context.Context, accountID int64) (SpamModelInfo, error) {
	var m SpamModelInfo
	err := s.rdb.QueryRowContext(ctx, "SELECT spam, ham, gen FROM spam_models WHERE account_id = ?", accountID).Scan(&m.Spam, &m.Ham, &m.Gen)
	if errors.Is(err, sql.ErrNoRows) {
		return SpamModelInfo{}, nil
	}
	return m, err
}

// SpamStats returns a model's counts and how many tokens it holds.
func (s *Store) SpamStats(ctx context.Context, accountID int64) (SpamModelInfo, error) {
	m, err := s.SpamModelInfo(ctx, accountID)
	if err != nil {
		return m, err
	}
	err = s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM spam_tokens WHERE account_id = ?", accountID).Scan(&m.Tokens)
	return m, err
}

// SpamTokens calls fn with every token of a model, in token order.
func (s *Store) SpamTokens(ctx context.Context, accountID int64, fn func(token uint64, spam, ham uint32)) error {
	rows, err := s.rdb.QueryContext(ctx, "SELECT token, spam, ham FROM spam_tokens WHERE account_id = ?", accountID)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var tok int64
		var sp, hm uint32
		if err := rows.Scan(&tok, &sp, &hm); err != nil {
			return err
		}
		fn(uint64(tok), sp, hm)
	}
	return rows.Err()
}

// SpamWeights calls fn with every weight row of a model's linear model.
func (s *Store) SpamWeights(ctx context.Context, accountID int64, fn func(idx uint32, w, c float32)) error {
	rows, err := s.rdb.QueryContext(ctx, "SELECT idx, w, c FROM spam_weights WHERE account_id = ?", accountID)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var idx int64
		var w, c float64
		if err := rows.Scan(&idx, &w, &c); err != nil {
			return err
		}
		if idx >= 0 && idx <= math.MaxUint32 {
			fn(uint32(idx), float32(w), float32(c))
		}
	}
	return rows.Err()
}

// SpamTrainItem is one training the queue asks for.
type SpamTrainItem struct {
	ID, AccountID, BodyID int64
	Class                 int
}

// SpamTrainQueue returns up to limit queued trainings, oldest first.
func (s *Store) SpamTrainQueue(ctx context.Context, limit int) ([]SpamTrainItem, error) {
	return queryAll(ctx, s.rdb, func(r *sql.Rows) (SpamTrainItem, error) {
		var it SpamTrainItem
		err := r.Scan(&it.ID, &it.AccountID, &it.BodyID, &it.Class)
		return it, err
	}, "SELECT id, account_id, body_id, class FROM spam_train_queue ORDER BY id LIMIT ?", limit)
}

// SpamTrained returns the class an account trained a message key as.
func (s *Store) SpamTrained(ctx context.Context, accountID int64, key []byte) (class int, ok bool, err error) {
	err = s.rdb.QueryRowContext(ctx, "SELECT class FROM spam_trained WHERE account_id = ? AND msg_key = ?", accountID, key).Scan(&class)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return class, err == nil, err
}

// SpamDelta is a change of one model.
type SpamDelta struct {
	AccountID int64 // HouseholdModel for the household
	Spam, Ham int   // trained messages added (negative: removed)
	Tokens    []SpamTokenDelta
	Weights   []SpamWeightDelta
}

// SpamWeightDelta is the change of one weight of a linear model and of
// its confidence.
type SpamWeightDelta struct {
	Index uint32
	W, C  float32
}

// SpamTokenDelta is the change of one token's counts.
type SpamTokenDelta struct {
	Token     uint64
	Spam, Ham int
}

// SpamTrainedKey records that an account trained a message as class.
type SpamTrainedKey struct {
	AccountID int64
	Key       []byte
	Class     int
}

// SpamTraining is one batch of training, written in one transaction: the
// models' changes, the messages now trained, and the queue rows done.
type SpamTraining struct {
	Deltas  []SpamDelta
	Trained []SpamTrainedKey
	Done    []int64 // spam_train_queue ids
}

// TrainSpam writes a batch of training through the writer.
func (s *Store) TrainSpam(ctx context.Context, tr SpamTraining) error {
	day := now() / 86400
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		for _, d := range tr.Deltas {
			if err := applySpamDelta(ctx, tx, d, day); err != nil {
				return err
			}
		}
		for _, k := range tr.Trained {
			if _, err := tx.exec(ctx, "INSERT INTO spam_trained(account_id, msg_key, class, at) VALUES(?, ?, ?, ?) ON CONFLICT(account_id, msg_key) DO UPDATE SET class = excluded.class, at = excluded.at",
				k.AccountID, k.Key, k.Class, now()); err != nil {
				return err
			}
		}
		for _, id := range tr.Done {
			if _, err := tx.exec(ctx, "DELETE FROM spam_train_queue WHERE id = ?", id); err != nil {
				return err
			}
		}
		return nil
	})
}

func applySpamDelta(ctx context.Context, tx *Tx, d SpamDelta, day int64) error {
	if _, err := tx.exec(ctx, "INSERT INTO spam_models(account_id, spam, ham, gen) VALUES(?1, max(?2, 0), max(?3, 0), 1) ON CONFLICT(account_id) DO UPDATE SET spam = max(spam_models.spam + ?2, 0), ham = max(spam_models.ham + ?3, 0), gen = spam_models.gen + 1",
		d.AccountID, d.Spam, d.Ham); err != nil {
		return fmt.Errorf("spam model %d: %w", d.AccountID, err)
	}
	for _, t := range d.Tokens {
		if _, err := tx.exec(ctx, "INSERT INTO spam_tokens(account_id, token, spam, ham, seen) VALUES(?1, ?2, max(?3, 0), max(?4, 0), ?5) ON CONFLICT(account_id, token) DO UPDATE SET spam = max(spam_tokens.spam + ?3, 0), ham = max(spam_tokens.ham + ?4, 0), seen = ?5",
			d.AccountID, int64(t.Token), t.Spam, t.Ham, day); err != nil {
			return fmt.Errorf("spam tokens %d: %w", d.AccountID, err)
		}
		if t.Spam < 0 || t.Ham < 0 {
			if _, err := tx.exec(ctx, "DELETE FROM spam_tokens WHERE account_id = ? AND token = ? AND spam = 0 AND ham = 0", d.AccountID, int64(t.Token)); err != nil {
				return err
			}
		}
	}
	for _, w := range d.Weights {
		if _, err := tx.exec(ctx, "INSERT INTO spam_weights(account_id, idx, w, c) VALUES(?1, ?2, ?3, max(?4, 0)) ON CONFLICT(account_id, idx) DO UPDATE SET w = spam_weights.w + ?3, c = max(spam_weights.c + ?4, 0)",
			d.AccountID, int64(w.Index), float64(w.W), float64(w.C)); err != nil {
			return fmt.Errorf("spam weights %d: %w", d.AccountID, err)
		}
	}
	return nil
}

// PruneSpamTokens keeps at most maxTokens tokens in a model, dropping the
// rarest (then the longest unseen) first, and returns how many it dropped.
func (s *Store) PruneSpamTokens(ctx context.Context, accountID int64, maxTokens int64) (int64, error) {
	var n int64
	if err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM spam_tokens WHERE account_id = ?", accountID).Scan(&n); err != nil {
		return 0, err
	}
	excess := n - maxTokens
	if excess <= 0 {
		return 0, nil
	}
	err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.exec(ctx, `DELETE FROM spam_tokens WHERE account_id = ?1 AND token IN (
			SELECT token FROM spam_tokens WHERE account_id = ?1 ORDER BY spam + ham, seen LIMIT ?2)`, accountID, excess)
		if err != nil {
			return err
		}
		_, err = tx.exec(ctx, "UPDATE spam_models SET gen = gen + 1 WHERE account_id = ?", accountID)
		return err
	})
	return excess, err
}

// spamRole is what a mailbox is to the spam filter.
type spamRole int

const (
	roleOther spamRole = iota
	roleJunk
	roleTrash
	roleSent
	roleDrafts
)

// mailboxSpamRole reads a mailbox's role: by its special use, else by
// the common names.
func mailboxSpamRole(ctx context.Context, tx *Tx, mailboxID int64) (spamRole, error) {
	var name, use string
	if err := tx.queryRow(ctx, "SELECT name, special_use FROM mailboxes WHERE id = ?", mailboxID).Scan(&name, &use); err != nil {
		return roleOther, err
	}
	return spamRoleOf(name, use), nil
}

func spamRoleOf(name, use string) spamRole {
	switch strings.ToLower(use) {
	case `\junk`:
		return roleJunk
	case `\trash`:
		return roleTrash
	case `\sent`:
		return roleSent
	case `\drafts`:
		return roleDrafts
	}
	switch strings.ToLower(name) {
	case "junk", "spam":
		return roleJunk
	case "trash":
		return roleTrash
	case "sent":
		return roleSent
	case "drafts":
		return roleDrafts
	}
	return roleOther
}

// moveTraining is the training a copy or move from src to dst asks for:
// into Junk is spam, out of Junk to anything but Trash is ham; -1: none.
func moveTraining(ctx context.Context, tx *Tx, src, dst int64) (int, error) {
	if src == dst {
		return -1, nil
	}
	sr, err := mailboxSpamRole(ctx, tx, src)
	if err != nil {
		return -1, err
	}
	dr, err := mailboxSpamRole(ctx, tx, dst)
	if err != nil {
		return -1, err
	}
	switch {
	case dr == roleJunk && sr != roleJunk:
		return SpamClassSpam, nil
	case sr == roleJunk && dr != roleJunk && dr != roleTrash:
		return SpamClassHam, nil
	}
	return -1, nil
}

// keywordTraining is the training a keyword change asks for: $Junk set
// is spam, $NotJunk set is ham (RFC 5788); -1: none.
func keywordTraining(oldKw, newKw []string) int {
	has := func(kw []string, k string) bool {
		for _, x := range kw {
			if strings.EqualFold(x, k) {
				return true
			}
		}
		return false
	}
	switch {
	case has(newKw, "$Junk") && !has(oldKw, "$Junk"):
		return SpamClassSpam
	case has(newKw, "$NotJunk") && !has(oldKw, "$NotJunk"):
		return SpamClassHam
	}
	return -1
}

// flagTraining is the training a flag or keyword change in a mailbox of
// the given role asks for: keywordTraining, else (read set) \Seen newly
// set in a mailbox of wanted mail (not Junk, Trash, Sent or Drafts),
// which is ham when few messages were marked read together (mail read
// and kept is wanted; a message read and then moved to Junk is untrained
// as ham when it is trained as spam); -1: none.
func flagTraining(role spamRole, oldF, newF Flags, oldKw, newKw []string) (class int, read bool) {
	if c := keywordTraining(oldKw, newKw); c >= 0 {
		return c, false
	}
	if newF&FlagSeen != 0 && oldF&FlagSeen == 0 && role == roleOther {
		return SpamClassHam, true
	}
	return -1, false
}

// SpamQueued returns how many trainings wait in the queue.
func (s *Store) SpamQueued(ctx context.Context) (int64, error) {
	var n int64
	err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM spam_train_queue").Scan(&n)
	return n, err
}

// queueSpamTraining asks the trainer to train a message body for an
// account; class -1 does nothing.
func queueSpamTraining(ctx context.Context, tx *Tx, accountID, bodyID int64, class int) error {
	if class < 0 {
		return nil
	}
	_, err := tx.exec(ctx, "INSERT INTO spam_train_queue(account_id, body_id, class, created) VALUES(?, ?, ?, ?)", accountID, bodyID, class, now())
	return err
}

// QueueSpamTraining asks the trainer to train a message of a mailbox as
// class (the CLI, and web pages that release a message from Junk).
func (s *Store) QueueSpamTraining(ctx context.Context, accountID, mailboxID int64, uid uint32, class int) error {
	return s.write(ctx, func(ctx context.Context, tx *Tx) error {
		var bid int64
		err := tx.queryRow(ctx, "SELECT m.body_id FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id WHERE m.mailbox_id = ? AND m.uid = ? AND b.account_id = ?",
			mailboxID, uid, accountID).Scan(&bid)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		return queueSpamTraining(ctx, tx, accountID, bid, class)
	})
}

// ImportTraining is what an import asks the trainer to learn from one old
// folder: the messages it copied from source (import_messages) since a
// time, as class; with SeenOnly, only those flagged \Seen (mail read and
// kept is wanted). Newest first, at most Limit (0: all).
type ImportTraining struct {
	AccountID int64
	Source    string
	Since     int64 // unix seconds: the import run's start
	Class     int
	SeenOnly  bool
	Limit     int
}

// QueueImportTraining queues an import's training in one statement (the
// import's own batches do no per-message training work) and returns how
// many messages it queued.
func (s *Store) QueueImportTraining(ctx context.Context, it ImportTraining) (int64, error) {
	q := `INSERT INTO spam_train_queue(account_id, body_id, class, created)
		SELECT ?1, m.body_id, ?2, ?3 FROM import_messages i
		JOIN messages m ON m.mailbox_id = i.mailbox_id AND m.uid = i.uid
		JOIN mailboxes b ON b.id = m.mailbox_id AND b.account_id = ?1
		WHERE i.account_id = ?1 AND i.source = ?4 AND i.created >= ?5 AND i.uid > 0 AND (?6 = 0 OR m.flags & ?7 != 0)
		ORDER BY m.idate DESC LIMIT ?8`
	limit := int64(it.Limit)
	if limit <= 0 {
		limit = -1
	}
	var n int64
	err := s.write(ctx, func(ctx context.Context, tx *Tx) error {
		res, err := tx.exec(ctx, q, it.AccountID, it.Class, now(), it.Source, it.Since, it.SeenOnly, int64(FlagSeen), limit)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// IsJunk reports whether a mailbox is where junk goes (special use
// \Junk, else named Junk or Spam).
func (m Mailbox) IsJunk() bool { return spamRoleOf(m.Name, m.SpecialUse) == roleJunk }

// JunkMessage is a message the filter put in an account's Junk: where it
// is, its internal date and its header section.
type JunkMessage struct {
	MailboxID int64
	UID       uint32
	Date      time.Time
	Header    []byte
}

// caughtWhere selects the messages of an account's Junk mailboxes
// delivered since ?2 with the filter's verdict (delivery puts
// X-Spam-Status: Yes in the header and removes a sender's own).
const caughtWhere = `FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id JOIN headers h ON h.body_id = m.body_id
	WHERE b.account_id = ?1 AND (b.special_use = '\Junk' OR (b.special_use = '' AND lower(b.name) IN ('junk', 'spam')))
	AND m.idate >= ?2 AND instr(h.data, 'X-Spam-Status: Yes') > 0`

// CaughtSince returns how many messages the filter put in the account's
// Junk since a time, and the newest limit of them.
func (s *Store) CaughtSince(ctx context.Context, accountID int64, since time.Time, limit int) (int, []JunkMessage, error) {
	var n int
	if err := s.rdb.QueryRowContext(ctx, "SELECT count(*) "+caughtWhere, accountID, since.Unix()).Scan(&n); err != nil {
		return 0, nil, err
	}
	list, err := queryAll(ctx, s.rdb, func(r *sql.Rows) (JunkMessage, error) {
		var jm JunkMessage
		var d int64
		err := r.Scan(&jm.MailboxID, &jm.UID, &d, &jm.Header)
		jm.Date = time.Unix(d, 0)
		return jm, err
	}, "SELECT m.mailbox_id, m.uid, m.idate, substr(h.data, 1, 16384) "+caughtWhere+" ORDER BY m.idate DESC, m.id DESC LIMIT ?3", accountID, since.Unix(), limit)
	return n, list, err
}
