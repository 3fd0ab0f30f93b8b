package delivery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/netip"
	"net/textproto"
	"sync"
	"time"

	"boxmail/internal/mailmsg"
	"boxmail/internal/spam"
	"boxmail/internal/store"
)

// The spam filter at local delivery (internal/spam holds its logic).
//
// Commit scores a message before Sieve runs: the verdict's fields
// (X-Spam-Status, X-Spam-Score, X-Spam-Reasons) go into the trace prefix
// of the local copies (store.Delivery.Trace, no copy of the message), and
// a Sieve script sees them. Copies that Sieve keeps in INBOX (or that go
// to INBOX without a script) go to the account's Junk mailbox when the
// verdict is junk; a score at or above the reject threshold refuses the
// message (ErrSpamRejected, 550 5.7.1 from smtpd). Submitted mail and
// mail without local copies are not scored.
//
// As with Delivered-To (trace.go), the body is stored once for all local
// copies, so one verdict covers them: a message for a single account is
// judged by that account's model and history, one for several accounts
// by the household model only.
//
// Training: the store queues a training when a message is moved into or
// out of Junk, or gets $Junk/$NotJunk, or is appended to Sent
// (store/spam.go); the trainer (started and stopped with the Queue) takes
// the queue in batches, turns the bodies into deltas and writes them in
// one store transaction per batch, then applies them to the models in
// memory.

// SpamOptions turn on the spam filter.
type SpamOptions struct {
	// NoScoring leaves mail unscored; the trainer still learns from the
	// moves (and empties the store's training queue, which holds bodies).
	NoScoring  bool
	Thresholds spam.Thresholds
	// MaxTokens caps each model (default spam.DefaultMaxTokens: 8 MiB);
	// the rarest tokens are dropped past it.
	MaxTokens int
	// MaxMemory caps the models held in memory over all accounts
	// (default 64 MiB); the least recently used are dropped.
	MaxMemory int64
	// RspamdURL is an rspamd controller whose verdict joins ours and to
	// which training is forwarded (spamrspamd.go); "": none.
	RspamdURL string
}

// ErrSpamRejected is returned by Commit for a message whose score reached
// the reject threshold; nothing was stored.
var ErrSpamRejected = errors.New("message refused as spam")

// spamFilter holds the models in memory and trains them.
type spamFilter struct {
	st   *store.Store
	log  *slog.Logger
	host string
	o    SpamOptions

	mu     sync.Mutex
	models map[int64]*cachedModel
	tokens int // over all cached models, in spam.BytesPerToken (Model.Cost)

	rspamd *rspamdClient // nil: none (spamrspamd.go)

	trainMu sync.Mutex // one training at a time (trainer, CLI)
	stop    chan struct{}
	done    chan struct{}
	kick    chan struct{}
}

// cachedModel is a model in memory; mu guards m's contents (scoring reads,
// training writes).
type cachedModel struct {
	mu      sync.RWMutex
	m       *spam.Model
	gen     int64
	checked time.Time // when gen was last compared with the store's
	used    time.Time
}

// modelCheck is how often a cached model's generation is compared with
// the store's, to see training done by another process.
const modelCheck = 10 * time.Second

func newSpamFilter(st *store.Store, log *slog.Logger, host string, o SpamOptions) *spamFilter {
	if o.MaxTokens <= 0 {
		o.MaxTokens = spam.DefaultMaxTokens
	}
	if o.MaxMemory <= 0 {
		o.MaxMemory = 64 << 20
	}
	if o.Thresholds.Junk == 0 {
		o.Thresholds.Junk = spam.DefaultJunk
	}
	f := &spamFilter{st: st, log: log, host: host, o: o, models: map[int64]*cachedModel{}, kick: make(chan struct{}, 1)}
	if o.RspamdURL != "" {
		f.rspamd = newRspamdClient(o.RspamdURL, log)
	}
	return f
}

// model returns a model from memory, loading it when missing or changed
// in the store.
func (f *spamFilter) model(ctx context.Context, id int64) (*cachedModel, error) {
	now := time.Now()
	f.mu.Lock()
	cm := f.models[id]
	if cm != nil {
		cm.used = now
		if now.Sub(cm.checked) < modelCheck {
			f.mu.Unlock()
			return cm, nil
		}
	}
	f.mu.Unlock()
	info, err := f.st.SpamModelInfo(ctx, id)
	if err != nil {
		return nil, err
	}
	if cm != nil && cm.gen == info.Gen {
		f.mu.Lock()
		cm.checked = now
		f.mu.Unlock()
		return cm, nil
	}
	m := spam.NewModel()
	m.Spam, m.Ham = uint32(info.Spam), uint32(info.Ham)
	if err := f.st.SpamTokens(ctx, id, func(tok uint64, s, h uint32) { m.Tokens[tok] = spam.Counts{Spam: s, Ham: h} }); err != nil {
		return nil, err
	}
	if err := f.st.SpamWeights(ctx, id, m.SetWeight); err != nil {
		return nil, err
	}
	m.PruneTo(f.o.MaxTokens)
	ncm := &cachedModel{m: m, gen: info.Gen, checked: now, used: now}
	f.mu.Lock()
	defer f.mu.Unlock()
	if old := f.models[id]; old != nil {
		f.tokens -= old.m.Cost()
	}
	f.models[id] = ncm
	f.tokens += m.Cost()
	f.evict(id)
	return ncm, nil
}

// evict drops the least recently used models (never keep, never the
// household model) while the cache is over its memory cap. f.mu is held.
func (f *spamFilter) evict(keep int64) {
	limit := int(f.o.MaxMemory / spam.BytesPerToken)
	for f.tokens > limit {
		var oldest int64 = -1
		var at time.Time
		for id, cm := range f.models {
			if id != keep && id != store.HouseholdModel && (oldest < 0 || cm.used.Before(at)) {
				oldest, at = id, cm.used
			}
		}
		if oldest < 0 {
			return
		}
		f.tokens -= f.models[oldest].m.Cost()
		delete(f.models, oldest)
	}
}

// score judges data for accountID (store.HouseholdModel: the household
// model alone).
func (f *spamFilter) score(ctx context.Context, feat *spam.Features, accountID int64) (spam.Result, error) {
	hh, err := f.model(ctx, store.HouseholdModel)
	if err != nil {
		return spam.Result{}, err
	}
	var acct *cachedModel
	if accountID != store.HouseholdModel {
		if acct, err = f.model(ctx, accountID); err != nil {
			return spam.Result{}, err
		}
		acct.mu.RLock()
		defer acct.mu.RUnlock()
	}
	hh.mu.RLock()
	defer hh.mu.RUnlock()
	var am *spam.Model
	if acct != nil {
		am = acct.m
	}
	return spam.Score(feat, am, hh.m, f.o.Thresholds), nil
}

// SetClient tells the delivery which client sent the message (its
// network is part of the sender's reputation).
func (t *Txn) SetClient(ip netip.Addr) { t.client = ip }

// scoreSpam scores del for its local copies and puts the verdict's fields
// in del.Trace. It returns the verdict (Inbox when not scored) or
// ErrSpamRejected.
func (d *Deliverer) scoreSpam(ctx context.Context, t *Txn, del *store.Delivery) (spam.Verdict, error) {
	f := d.spam
	if f == nil || f.o.NoScoring || len(del.Local) == 0 {
		return spam.Inbox, nil
	}
	feat := spam.Parse(del.Data, f.host)
	if feat.Auth.Submitted {
		return spam.Inbox, nil
	}
	feat.Net = spam.Network(t.client)
	acct := del.Local[0].AccountID
	for _, l := range del.Local[1:] {
		if l.AccountID != acct {
			acct = store.HouseholdModel
		}
	}
	res, err := f.score(ctx, feat, acct)
	if err != nil {
		d.log.Warn("spam filter unavailable, delivering unscored", "err", err)
		return spam.Inbox, nil
	}
	d.log.Info("spam verdict", "verdict", res.Verdict, "score", res.Score, "from", t.sender)
	if f.rspamd != nil {
		res = f.joinRspamd(ctx, res, del.Data, rspamdEnvelope{IP: t.client, From: t.sender})
	}
	if res.Verdict != spam.Inbox {
		d.st.Record(store.EventSpam) // the health history (store/history.go)
	}
	d.metrics.SpamVerdict(string(res.Verdict))
	if res.Verdict == spam.Reject {
		return res.Verdict, fmt.Errorf("%w (score %.2f)", ErrSpamRejected, res.Score)
	}
	del.Trace = []byte(res.Header(f.host, f.o.Thresholds))
	return res.Verdict, nil
}

// joinRspamd adds rspamd's verdict to ours; when rspamd does not answer,
// ours stands alone.
func (f *spamFilter) joinRspamd(ctx context.Context, res spam.Result, data []byte, env rspamdEnvelope) spam.Result {
	v, err := f.rspamd.check(ctx, data, env)
	if err != nil {
		if !errors.Is(err, errRspamdTooBig) {
			f.log.Warn("rspamd did not answer; the box's own verdict stands", "err", err)
		}
		return res
	}
	if r, ok := rspamdReason(v); ok {
		return res.Join(r, f.o.Thresholds)
	}
	return res
}

// fileSpam sends the copies still bound for INBOX to their account's
// Junk mailbox (special use \Junk; "Junk", created when missing).
func (d *Deliverer) fileSpam(ctx context.Context, v spam.Verdict, del *store.Delivery) {
	if v != spam.Junk {
		return
	}
	junk := map[int64]string{}
	for i, l := range del.Local {
		if l.Mailbox != "" {
			continue
		}
		name, ok := junk[l.AccountID]
		if !ok {
			name = d.junkMailbox(ctx, l.AccountID)
			junk[l.AccountID] = name
		}
		del.Local[i].Mailbox, del.Local[i].Create = name, true
	}
}

// junkMailbox returns the name of an account's Junk mailbox, creating
// "Junk" with special use \Junk when it has none.
func (d *Deliverer) junkMailbox(ctx context.Context, accountID int64) string {
	mbs, err := d.st.Mailboxes(ctx, accountID)
	if err != nil {
		d.log.Warn("listing mailboxes for Junk", "account", accountID, "err", err)
		return "Junk"
	}
	for _, m := range mbs {
		if m.SpecialUse == `\Junk` {
			return m.Name
		}
	}
	if err := d.st.CreateMailbox(ctx, accountID, "Junk", `\Junk`); err != nil && !errors.Is(err, store.ErrExists) {
		d.log.Warn("creating Junk", "account", accountID, "err", err)
	}
	return "Junk"
}

// addSpamFields makes the spam fields of trace (scoreSpam's) the values
// a Sieve script sees, replacing any the message brought.
func addSpamFields(h mail.Header, trace []byte) {
	for fl := range mailmsg.Fields(trace) {
		if fl.Name == nil {
			continue
		}
		k := textproto.CanonicalMIMEHeaderKey(string(fl.Name))
		h[k] = []string{string(bytes.TrimSpace(mailmsg.Unfold(fl.Value)))}
	}
}

// CheckSpam scores a message for an account (0: the household model) as
// delivery would, without storing anything (boxmail spam check).
func (d *Deliverer) CheckSpam(ctx context.Context, data []byte, accountID int64) (spam.Result, error) {
	f := d.spamFilter()
	return f.score(ctx, spam.Parse(data, f.host), accountID)
}

// spamFilter returns the deliverer's filter, or one with the defaults
// (the CLI's deliverer has no Options.Spam).
func (d *Deliverer) spamFilter() *spamFilter {
	if d.spam != nil {
		return d.spam
	}
	return newSpamFilter(d.st, d.log, d.hostname, SpamOptions{})
}

// messageKey identifies a message's bytes in spam_trained.
func messageKey(data []byte) []byte {
	h := sha256.Sum256(data)
	return h[:16]
}
