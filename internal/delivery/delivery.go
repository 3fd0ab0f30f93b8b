// Package delivery is boxmail's single write path for mail: it routes a
// message's recipients (local accounts, aliases with recursive expansion,
// catch-alls, sub-addresses, the automatic role addresses), and commits
// the message to the local mailboxes and the outbound queue in one
// durable store transaction.
//
// Delivery is a transaction: Begin, AddRecipient for each RCPT (each
// resolved and checked at once so SMTP can refuse it there), then Commit
// with the body, or Abort. Nothing is visible before Commit, and Commit
// returns only once everything is fsynced.
//
// It also drains the outbound queue (Queue: retries, bounces, delay
// warnings, queue.go) and signs with DKIM, and runs each account's Sieve
// script at delivery (sieve.go). It does not speak SMTP (see smtpd),
// verify SPF/DKIM/DMARC (smtpd with mailauth), or change accounts,
// aliases or scripts (see admin).
package delivery

import (
	"boxmail/internal/reports"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"boxmail/internal/metrics"
	"boxmail/internal/store"
)

// RoleLocals are the local parts every hosted domain answers to, routed to
// the domain's first admin unless an explicit alias says otherwise.
var RoleLocals = []string{"postmaster", "abuse", "hostmaster", "admin", "administrator"}

// MaxAliasDepth bounds alias expansion.
const MaxAliasDepth = 10

// Errors AddRecipient returns; smtpd maps them to reply codes.
var (
	// ErrUnknownRecipient: a local domain has no such address (550 5.1.1).
	ErrUnknownRecipient = errors.New("no such user here")
	// ErrRelayDenied: a remote recipient without the right to relay (554 5.7.1).
	ErrRelayDenied = errors.New("relaying denied")
	// ErrBadAddress: syntactically invalid address (501 5.1.3).
	ErrBadAddress = errors.New("bad address syntax")
)

// Options configure a Deliverer. Everything is set here, at
// construction: a Deliverer has no setters.
type Options struct {
	Store  *store.Store
	Logger *slog.Logger
	// Hostname names the box: the outbound queue's EHLO, the bounces it
	// writes (From: MAILER-DAEMON@Hostname) and the Message-IDs of
	// vacation replies.
	Hostname string
	// SignBounces DKIM-signs the bounces the box writes (the queue's and
	// RemoveQueued's) with the key of the hosted domain that Hostname
	// belongs to (DKIMSign). Sieve's redirects and vacation replies are
	// always signed.
	SignBounces bool
	// Sieve, if set, makes Commit run each local account's active Sieve
	// script (sieve.go); nil: no filtering.
	Sieve *SieveOptions
	// Spam, if set, scores local deliveries and trains from the moves
	// into and out of Junk (spam.go); the trainer runs with the Queue.
	Spam *SpamOptions
	// Queue, if set, builds the outbound queue runner with these options:
	// Queue returns it (Start it), and Commit kicks it when mail is queued.
	// nil: mail is queued for another process's runner (the CLI).
	Queue *QueueOptions
	// Metrics counts spam verdicts and outbound results; nil: none.
	Metrics *metrics.Metrics
}

// Deliverer routes and commits messages. Its fields are set once, by New.
type Deliverer struct {
	st          *store.Store
	log         *slog.Logger
	hostname    string
	signBounces bool
	queue       *Queue        // the queue runner, kicked when mail is queued; nil: none
	sieve       *SieveOptions // nil: no filtering (sieve.go)
	spam        *spamFilter   // nil: no spam filter (spam.go)
	signers     signerCache
	metrics     *metrics.Metrics // nil: none
}

// New returns a Deliverer and, when o.Queue is set, its queue runner.
func New(o Options) *Deliverer {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Deliverer{st: o.Store, log: o.Logger, hostname: o.Hostname, signBounces: o.SignBounces, metrics: o.Metrics}
	if o.Sieve != nil {
		so := *o.Sieve
		if so.Now == nil {
			so.Now = time.Now
		}
		d.sieve = &so
	}
	if o.Spam != nil {
		d.spam = newSpamFilter(o.Store, o.Logger.With("part", "spam"), o.Hostname, *o.Spam)
	}
	if o.Queue != nil {
		d.queue = newQueue(d, *o.Queue)
	}
	return d
}

// Queue returns the outbound queue runner that New built (Options.Queue),
// or nil.
func (d *Deliverer) Queue() *Queue { return d.queue }

// Route is where one recipient's copy goes.
type Route struct {
	Accounts []int64  // local accounts (INBOX)
	Remote   []string // external addresses
}

// IsLocal reports whether domain is hosted here.
func (d *Deliverer) IsLocal(ctx context.Context, domain string) (bool, error) {
	return d.st.IsLocalDomain(ctx, domain)
}

// HostedDomains returns the names of the domains hosted here.
func (d *Deliverer) HostedDomains(ctx context.Context) ([]string, error) {
	doms, err := d.st.Domains(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(doms))
	for i, dom := range doms {
		out[i] = dom.Name
	}
	return out, nil
}

// Resolve routes one recipient. For a local domain it expands aliases
// recursively; an address that leads nowhere is ErrUnknownRecipient. For
// any other domain the route is the address itself, remote.
func (d *Deliverer) Resolve(ctx context.Context, rcpt string) (Route, error) {
	r, _, err := d.resolve(ctx, rcpt, recipientAccounts{})
	return r, err
}

// recipientAccounts holds what routing read of each local account it
// reached (disabled flag, quota use, active Sieve script), so that the
// quota check at RCPT and Sieve and the trace fields at DATA do not ask
// the store again in the same transaction.
type recipientAccounts map[int64]*store.RecipientAccount

// resolve is Resolve that also tells whether rcpt's domain is hosted
// here (AddRecipient's relay check needs it) and records in accs the
// local accounts it reached. Each address routed costs one store
// statement (LookupRecipient): the domain, aliases, accounts, quota and
// script together.
func (d *Deliverer) resolve(ctx context.Context, rcpt string, accs recipientAccounts) (Route, bool, error) {
	if strings.EqualFold(rcpt, "postmaster") { // RFC 5321 4.5.1: must be accepted without domain
		doms, err := d.st.Domains(ctx)
		if err != nil {
			return Route{}, false, err
		}
		if len(doms) == 0 {
			return Route{}, false, ErrUnknownRecipient
		}
		rcpt = "postmaster@" + doms[0].Name
	}
	a, err := ParseAddress(rcpt)
	if err != nil {
		return Route{}, false, fmt.Errorf("%w: %w", ErrBadAddress, err)
	}
	local, o, err := d.lookup(ctx, a)
	if err != nil {
		return Route{}, false, err
	}
	if !local {
		return Route{Remote: []string{a.String()}}, false, nil
	}
	if r, ok, err := d.resolveSRS(a); ok { // a bounce to a forwarded copy
		return r, true, err
	}
	var r Route
	seen := map[string]bool{a.String(): true}
	if err := d.route(ctx, a, o, 0, seen, &r, accs); err != nil {
		return Route{}, true, err
	}
	if len(r.Accounts) == 0 && len(r.Remote) == 0 {
		return Route{}, true, ErrUnknownRecipient
	}
	return r, true, nil
}

// expand routes a into r, a an alias's target (hosted here or not).
func (d *Deliverer) expand(ctx context.Context, a Address, depth int, seen map[string]bool, r *Route, accs recipientAccounts) error {
	if !d.visit(a, depth, seen) {
		return nil
	}
	local, o, err := d.lookup(ctx, a)
	if err != nil {
		return err
	}
	if !local {
		r.Remote = appendNew(r.Remote, a.String())
		return nil
	}
	return d.route(ctx, a, o, depth, seen, r, accs)
}

// visit marks a seen and reports whether routing goes on to it: not when
// it was seen (a loop, or a duplicate already delivered along another
// path) or when the expansion is too deep.
func (d *Deliverer) visit(a Address, depth int, seen map[string]bool) bool {
	key := a.String()
	if seen[key] {
		return false
	}
	seen[key] = true
	if depth > MaxAliasDepth {
		d.log.Warn("alias expansion too deep", "address", key)
		return false
	}
	return true
}

// route routes a, an address of a hosted domain that leads to o, into r.
func (d *Deliverer) route(ctx context.Context, a Address, o owner, depth int, seen map[string]bool, r *Route, accs recipientAccounts) error {
	switch {
	case o.alias != nil:
		return d.expandTargets(ctx, *o.alias, depth, seen, r, accs)
	case o.account != nil:
		if o.account.Disabled {
			return nil // kept with its mail, but closed: as if unknown
		}
		r.Accounts = appendNew(r.Accounts, o.account.ID)
		accs[o.account.ID] = o.account
	case o.role != nil:
		r.Accounts = appendNew(r.Accounts, o.role.ID)
		accs[o.role.ID] = o.role
	case o.catchAll != nil:
		if dom, ok := DomainAliasTarget(*o.catchAll); ok {
			return d.expandDomainAlias(ctx, a, dom, depth, seen, r, accs)
		}
		return d.expandTargets(ctx, *o.catchAll, depth, seen, r, accs)
	}
	return nil
}

// expandDomainAlias routes a (at a domain alias's source) to the same
// local part at dom. A dom no longer hosted takes nothing: a domain
// alias never turns into relaying a whole domain's mail out.
func (d *Deliverer) expandDomainAlias(ctx context.Context, a Address, dom string, depth int, seen map[string]bool, r *Route, accs recipientAccounts) error {
	to := Address{Local: a.Local, Domain: dom}
	local, o, err := d.lookup(ctx, to)
	if err != nil {
		return err
	} else if !local {
		d.log.Warn("domain alias leads to a domain no longer hosted", "alias", "@"+a.Domain, "target", "@"+dom)
		return nil
	}
	if !d.visit(to, depth+1, seen) {
		return nil
	}
	return d.route(ctx, to, o, depth+1, seen, r, accs)
}

// DomainAliasTarget reports whether al is a domain alias ("@old" whose
// one target is "@new": x@old goes to x@new when no account or explicit
// alias takes x@old) and returns the target domain.
func DomainAliasTarget(al store.Alias) (string, bool) {
	if !strings.HasPrefix(al.Address, "@") || len(al.Targets) != 1 || !strings.HasPrefix(al.Targets[0], "@") {
		return "", false
	}
	return al.Targets[0][1:], true
}

// owner is what an address of a hosted domain leads to at the first step
// of routing: at most one field is set, none when nothing takes it.
type owner struct {
	alias    *store.Alias            // an explicit alias: the address, else its +tag base
	account  *store.RecipientAccount // an account: the address, else its +tag base
	role     *store.RecipientAccount // a role address (RoleLocals): the domain's first admin
	catchAll *store.Alias            // the domain's catch-all alias
}

// lookup reports whether a's domain is hosted here and, if it is, who
// takes mail for a: the exact address (an alias, then an account), then
// the same without its +tag, then the role addresses, then the
// catch-all. Routing (expand) and the right to send (MayUseSender) both
// follow it, so they cannot disagree. The store reads all but the role
// address's admin in one statement (LookupRecipient).
func (d *Deliverer) lookup(ctx context.Context, a Address) (bool, owner, error) {
	l, err := d.st.LookupRecipient(ctx, a.String(), a.Base().String())
	if err != nil || !l.Hosted {
		return false, owner{}, err
	}
	switch {
	case l.Alias != nil:
		return true, owner{alias: l.Alias}, nil
	case l.Account != nil:
		return true, owner{account: l.Account}, nil
	case l.BaseAlias != nil:
		return true, owner{alias: l.BaseAlias}, nil
	case l.BaseAccount != nil:
		return true, owner{account: l.BaseAccount}, nil
	}
	if slices.Contains(RoleLocals, a.Base().Local) {
		acc, err := d.st.FirstAdmin(ctx, a.Domain)
		if err == nil {
			ra, err := d.st.RecipientAccountByID(ctx, acc.ID)
			if err != nil {
				return true, owner{}, err
			}
			return true, owner{role: &ra}, nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return true, owner{}, err
		}
	}
	return true, owner{catchAll: l.CatchAll}, nil
}

func (d *Deliverer) expandTargets(ctx context.Context, al store.Alias, depth int, seen map[string]bool, r *Route, accs recipientAccounts) error {
	for _, t := range al.Targets {
		ta, err := ParseAddress(t)
		if err != nil {
			d.log.Warn("alias has a bad target", "alias", al.Address, "target", t)
			continue
		}
		if err := d.expand(ctx, ta, depth+1, seen, r, accs); err != nil {
			return err
		}
	}
	return nil
}

func appendNew[T comparable](l []T, v T) []T {
	for _, x := range l {
		if x == v {
			return l
		}
	}
	return append(l, v)
}

// MayUseSender reports whether the account may use addr as envelope
// sender or From: its own address, with or without a +tag, or an alias
// whose permit list names it. It decides by where mail to addr would go
// (owner, as Resolve routes): an address that is itself another account
// or alias is never covered by a +tag base ("me+boss" as an account of
// its own is not "me"'s), and a catch-all's permit list covers only the
// addresses that would reach the catch-all, not the domain's accounts,
// explicit aliases, role addresses (postmaster@, abuse@...), the box's
// SRS addresses or MAILER-DAEMON.
//
// Through a domain alias ("@old" -> "@new") x@old is covered for whoever
// may send as x@new (as mox does): the same person's old address, so
// replies to mail sent to it can come from it.
func (d *Deliverer) MayUseSender(ctx context.Context, account, addr string) (bool, error) {
	a, err := ParseAddress(addr)
	if err != nil {
		return false, nil
	}
	return d.mayUseSender(ctx, strings.ToLower(account), a, 0)
}

func (d *Deliverer) mayUseSender(ctx context.Context, account string, a Address, hops int) (bool, error) {
	if a.String() == account {
		return true, nil
	}
	local, o, err := d.lookup(ctx, a)
	if err != nil || !local {
		return false, err
	}
	if _, ok, _ := d.resolveSRS(a); ok {
		return false, nil // routed back to whoever the SRS address encodes
	}
	switch {
	case o.alias != nil:
		return slices.Contains(o.alias.Permit, account), nil
	case o.account != nil:
		return o.account.Email == account, nil
	case o.catchAll != nil:
		if slices.Contains(systemLocals, a.Base().Local) {
			return false, nil // the box's own voice, whatever the catch-all says
		}
		if slices.Contains(o.catchAll.Permit, account) {
			return true, nil
		}
		if dom, ok := DomainAliasTarget(*o.catchAll); ok && hops < 1 {
			return d.mayUseSender(ctx, account, Address{Local: a.Local, Domain: dom}, hops+1)
		}
	}
	return false, nil
}

// systemLocals are the local parts the box itself sends as (bounces come
// from MAILER-DAEMON, dsn.go); a catch-all's permit list never covers
// them, an explicit alias may.
var systemLocals = []string{"mailer-daemon"}

// Txn is one message being delivered.
type Txn struct {
	d        *Deliverer
	sender   string
	accounts []int64
	remote   []string
	mailbox  string     // for local copies; "" is INBOX (see SetMailbox)
	size     int64      // declared message size, for quota checks (quota.go)
	client   netip.Addr // the sending client, for the spam filter (spam.go)
	reports  bool       // a recipient is a postmaster, where reports go (reports.go)
	reqTLS   bool       // REQUIRETLS (RFC 8689; tlspolicy.go)
	authed   bool       // an authenticated user's submission (AddRecipient's allowRemote)
	done     bool

	// dmarc is counted for the aggregate reports (dmarcreport.go).
	dmarc *store.DMARCEvaluation

	// accs is what AddRecipient read of the local accounts (resolve):
	// the quota check, Sieve and the trace fields use it.
	accs recipientAccounts
}

// RequireTLS marks the message REQUIRETLS (RFC 8689): its queued copies
// travel only over validated TLS, or bounce.
func (t *Txn) RequireTLS() { t.reqTLS = true }

// Begin starts a delivery from the envelope sender ("" for bounces).
func (d *Deliverer) Begin(sender string) *Txn {
	return &Txn{d: d, sender: sender, accs: recipientAccounts{}}
}

// AddRoute adds an already resolved recipient route.
func (t *Txn) AddRoute(r Route) {
	for _, a := range r.Accounts {
		t.accounts = appendNew(t.accounts, a)
	}
	for _, x := range r.Remote {
		t.remote = appendNew(t.remote, x)
	}
}

// AddRecipient resolves rcpt and adds it. Remote recipients are allowed
// only when allowRemote (an authenticated submission).
func (t *Txn) AddRecipient(ctx context.Context, rcpt string, allowRemote bool) (Route, error) {
	accs := recipientAccounts{}
	r, local, err := t.d.resolve(ctx, rcpt, accs)
	if err != nil {
		return r, err
	}
	t.authed = t.authed || allowRemote
	if !allowRemote && !local {
		// A local alias may forward outside; an unauthenticated client may
		// not address an outside domain directly.
		return r, ErrRelayDenied
	}
	if err := t.checkQuota(r, accs); err != nil {
		return r, err
	}
	t.AddRoute(r)
	for id, a := range accs {
		t.accs[id] = a
	}
	t.reports = t.reports || isReportAddress(rcpt)
	return r, nil
}

// Recipients reports how many local mailboxes and remote addresses the
// message goes to so far.
func (t *Txn) Recipients() (local, remote int) { return len(t.accounts), len(t.remote) }

// Commit stores data for every recipient and returns once it is durable.
func (t *Txn) Commit(ctx context.Context, data []byte) error {
	if t.done {
		return errors.New("delivery already finished")
	}
	t.done = true
	del := store.Delivery{Data: data, Received: time.Now(), Sender: t.sender, Remote: t.remote, RequireTLS: t.reqTLS, DMARC: t.dmarc}
	for _, a := range t.accounts {
		del.Local = append(del.Local, store.LocalTarget{AccountID: a, Mailbox: t.mailbox})
	}
	verdict, err := t.d.scoreSpam(ctx, t, &del) // spam.go: before Sieve, which sees the verdict
	if err != nil {
		return err
	}
	if t.d.runSieve(ctx, t.sender, &del, t.accs) {
		// Counted for the DMARC report all the same (dmarcreport.go).
		t.d.recordDMARCAlone(ctx, t.dmarc)
		return nil // every copy discarded by a filter
	}
	t.d.fileSpam(ctx, verdict, &del)
	if err := t.d.addTrace(ctx, t.sender, &del, t.accs); err != nil {
		return err
	}
	ids, err := t.d.st.DeliverQueued(ctx, del)
	if err != nil {
		return err
	}
	if t.authed && !t.reqTLS && len(ids) > 0 && tlsRequiredNo(data) {
		// RFC 8689 5; REQUIRETLS wins over the header (4.2.1). Before the
		// queue is kicked; a crash in between leaves the policy applied.
		if err := t.d.st.MarkTLSOptional(ctx, ids); err != nil {
			t.d.log.Error("marking a TLS-Required: No message", "queue_ids", ids, "err", err)
		}
	}
	if len(ids) > 0 {
		// The queue's lines for these entries carry the same queue_id.
		t.d.log.Info("delivered", "from", t.sender, "local", len(t.accounts), "queued", queued(del), "queue_ids", ids, "size", len(data))
	} else {
		t.d.log.Info("delivered", "from", t.sender, "local", len(t.accounts), "queued", queued(del), "size", len(data))
	}
	if len(del.Remote)+len(del.Copies) > 0 && t.d.queue != nil {
		t.d.queue.Kick()
	}
	if t.reports && len(t.accounts) > 0 && reports.IsReport(data) {
		t.d.keepReports(ctx, data) // reports.go
	}
	return nil
}

// queued counts the queue entries a delivery asks for by recipient: the
// remote recipients and those of its copies (Sieve redirects and replies,
// the queued recipients addTrace moved), so the log says what was queued.
func queued(del store.Delivery) int {
	n := len(del.Remote)
	for _, c := range del.Copies {
		n += len(c.Recipients)
	}
	return n
}

// Abort drops the transaction. Nothing was stored.
func (t *Txn) Abort() { t.done = true }
