package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"boxmail/internal/metrics"
	"boxmail/internal/resolver"
	"boxmail/internal/store"
)

// QueueOptions configure the outbound queue runner (Options.Queue); the
// box's name and the signing of bounces are the Deliverer's (Options).
type QueueOptions struct {
	Resolver resolver.Resolver
	// Transports maps a recipient domain to "host:port" to use instead of
	// its MX records ("*" for every domain: a smarthost).
	Transports map[string]string
	// Smarthost, if set, relays every message (overrides Transports["*"]).
	Smarthost *Smarthost
	// Retry is the schedule of waits after each failed attempt; the last
	// one repeats (default 1m, 5m, 15m, 30m, 1h, 2h).
	Retry []time.Duration
	// Lifetime is how long a message is retried before it bounces
	// (default 5 days); DelayWarning when the sender is told it is late
	// (default 4h; negative: never).
	Lifetime, DelayWarning time.Duration
	// MaxConnections overall (default 20) and per domain (default 2).
	MaxConnections, MaxPerDomain int
	// Timeouts: connect (default 30s), each command (default 5m).
	DialTimeout, CommandTimeout time.Duration
	// Port of remote MX hosts (default 25).
	Port int
	// BindIPv4 and BindIPv6 are the source addresses of connections to
	// IPv4 and IPv6 targets; a zero Addr leaves the choice to the system.
	BindIPv4, BindIPv6 netip.Addr
	// AllowLoopback lets MX hosts and MTA-STS policy hosts found in DNS be
	// on loopback, and MTASTSPort is the port policies are fetched from
	// (default 443): test hooks (cmd/boxmail/outboundtest.go), zero in
	// production. The TLS policy of each destination (DANE, MTA-STS,
	// opportunistic) is tlspolicy.go's.
	AllowLoopback bool
	MTASTSPort    int
	// Owner names this process when it claims queue entries and
	// singleton leases (default store.NewOwnerID()); Lease is how long a
	// claim lasts unless renewed (default 5m): after a node dies, its
	// entries wait that long before another node delivers them.
	Owner string
	Lease time.Duration
	// Node, when set (serve: store.NodeID of its data dir, with Owner
	// from store.NewOwnerIDOf(Node)), lets a node starting again on a
	// shared store free the claims its crashed predecessor left.
	Node   string
	Logger *slog.Logger
	// now is replaceable in tests.
	now func() time.Time
	// allowPrivate lets tests deliver to loopback MX hosts found in DNS
	// (publicNextHop); in production only transports reach them.
	allowPrivate bool
}

// Smarthost is a relay that takes all outbound mail, typically with AUTH,
// for VPS providers that block port 25.
type Smarthost struct {
	Addr     string // host:port
	TLS      string // "starttls" (default), "implicit" or "none"
	Username string
	Password string
	// InsecureSkipVerify accepts any certificate (tests, self-signed relays).
	InsecureSkipVerify bool
}

// DefaultRetry is the default retry schedule.
var DefaultRetry = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour}

// DefaultLease is how long a queue claim or a singleton lease lasts
// unless renewed.
const DefaultLease = 5 * time.Minute

// Queue drains the outbound queue: a loop that claims due entries
// (store.QueueClaim: on a shared database, each entry goes to one node)
// and delivers them, one goroutine per destination domain.
type Queue struct {
	d    *Deliverer
	o    QueueOptions
	log  *slog.Logger
	kick chan struct{}
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	busy map[int64]bool // entries being worked on
	// finished entries stay busy until the next scan of the queue starts:
	// a scan that began before their outcome was committed could still
	// return them, and they would be delivered twice.
	finished []int64
	conns    int
	domain   map[string]int // connections per domain
	wg       sync.WaitGroup
	ctx      context.Context
	cancel   context.CancelFunc
	stsOnce  sync.Once
	sts      *http.Client // MTA-STS policy fetches (mtasts.go)
	// reportedThrough is the last day whose TLS reports were sent
	// (tlsrpt.go); only the loop goroutine uses it.
	reportedThrough string
}

// newQueue returns d's queue runner (New builds it from Options.Queue).
func newQueue(d *Deliverer, o QueueOptions) *Queue {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if len(o.Retry) == 0 {
		o.Retry = DefaultRetry
	}
	if o.Lifetime == 0 {
		o.Lifetime = 5 * 24 * time.Hour
	}
	if o.DelayWarning == 0 {
		o.DelayWarning = 4 * time.Hour
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = 20
	}
	if o.MaxPerDomain <= 0 {
		o.MaxPerDomain = 2
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = 30 * time.Second
	}
	if o.CommandTimeout == 0 {
		o.CommandTimeout = 5 * time.Minute
	}
	if o.Port == 0 {
		o.Port = 25
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.Owner == "" {
		o.Owner = store.NewOwnerID()
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Queue{d: d, o: o, log: o.Logger, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		busy: map[int64]bool{}, domain: map[string]int{}, ctx: ctx, cancel: cancel}
}

// Owner is the name under which this process claims queue entries and
// singleton leases (QueueOptions.Owner).
func (q *Queue) Owner() string { return q.o.Owner }

// Lease is the length of a claim or singleton lease (QueueOptions.Lease).
func (q *Queue) Lease() time.Duration { return q.o.Lease }

// Kick makes the runner look at the queue now (a new message was queued,
// or an admin asked for a retry).
func (q *Queue) Kick() {
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// Start runs the queue loop in the background, and the spam trainer
// (spamtrain.go) when the deliverer has a spam filter.
func (q *Queue) Start() {
	if q.d.spam != nil {
		q.d.spam.startTrainer()
	}
	if !q.d.st.Shared() {
		// The only node: claims left by a crash are its own.
		if err := q.d.st.QueueReleaseAll(q.ctx); err != nil {
			q.log.Error("releasing old queue claims", "err", err)
		}
	} else if q.o.Node != "" {
		// This node's earlier process is dead: its claims are free.
		if err := q.d.st.QueueReleaseNode(q.ctx, q.o.Node, q.o.Owner); err != nil {
			q.log.Error("releasing this node's old queue claims", "err", err)
		}
	}
	go q.loop()
}

// Shutdown stops picking entries and waits for deliveries in progress
// until ctx ends, then aborts them (they stay queued and are retried at
// the next start).
func (q *Queue) Shutdown(ctx context.Context) error {
	if q.d.spam != nil {
		q.d.spam.stopTrainer()
	}
	close(q.stop)
	<-q.done
	waited := make(chan struct{})
	go func() { q.wg.Wait(); close(waited) }()
	select {
	case <-waited:
		return nil
	case <-ctx.Done():
		q.cancel()
		<-waited
		return ctx.Err()
	}
}

// pollInterval bounds how long the loop sleeps, so retries requested by
// another process (boxmail queue retry) are seen quickly.
const pollInterval = time.Second

func (q *Queue) loop() {
	defer close(q.done)
	for {
		q.singletons()
		q.runDue()
		wait := pollInterval
		if next, ok, err := q.d.st.NextQueueAttempt(q.ctx); err == nil && ok {
			if w := time.Until(next); w < wait {
				wait = max(w, 10*time.Millisecond)
			}
		}
		if next, ok, err := q.d.st.NextHeldRelease(q.ctx); err == nil && ok {
			if w := time.Until(next); w < wait {
				wait = max(w, 10*time.Millisecond)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-q.stop:
			t.Stop()
			return
		case <-q.kick:
		case <-t.C:
		}
		t.Stop()
	}
}

// singletons runs the loop's jobs that must run on one node only, each
// under its lease (store.RunSingleton), and only when it has work: undo
// send's held submissions (hold.go) and the daily TLS-RPT and DMARC
// reports (tlsrpt.go).
func (q *Queue) singletons() {
	now := q.o.now()
	if next, ok, err := q.d.st.NextHeldRelease(q.ctx); err == nil && ok && !next.After(now) {
		q.singleton("held-release", func(ctx context.Context) { q.d.ReleaseHeld(ctx, now) })
	}
	if q.reportsDue() && !q.singleton("daily-reports", q.sendDailyReports) {
		// Another node holds the job: it sends (and consumes) the day's
		// rows; this one asks again tomorrow.
		q.reportedThrough = now.UTC().Add(-24 * time.Hour).Format(time.DateOnly)
	}
}

// singleton runs fn under the lease name and reports whether it ran.
func (q *Queue) singleton(name string, fn func(ctx context.Context)) bool {
	ran, err := q.d.st.RunSingleton(q.ctx, name, q.o.Owner, q.o.Lease, fn)
	if err != nil && q.ctx.Err() == nil {
		q.log.Error("singleton job", "job", name, "err", err)
	}
	return ran
}

// runDue claims due entries and starts a worker for each domain with
// some, within the connection limits; the domains without a free
// connection are left to later (or to another node).
func (q *Queue) runDue() {
	q.mu.Lock()
	for _, id := range q.finished {
		delete(q.busy, id)
	}
	q.finished = q.finished[:0]
	var full []string
	for dom, n := range q.domain {
		if n >= q.o.MaxPerDomain {
			full = append(full, dom)
		}
	}
	saturated := q.conns >= q.o.MaxConnections
	q.mu.Unlock()
	if saturated {
		return
	}
	now := q.o.now()
	if ok, err := q.d.st.QueueClaimable(q.ctx, now, full...); err != nil || !ok {
		if err != nil {
			q.log.Error("reading the queue", "err", err)
		}
		return
	}
	due, err := q.d.st.QueueClaim(q.ctx, q.o.Owner, now, q.o.Lease, 1000, full...)
	if err != nil {
		q.log.Error("claiming queue entries", "err", err)
		return
	}
	byDomain := map[string][]store.QueueItem{}
	var order []string
	q.mu.Lock()
	defer q.releaseUnstarted(due)
	for _, it := range due {
		if q.busy[it.ID] {
			continue // its lease ended while it was being delivered here; the worker still holds it
		}
		if _, ok := byDomain[it.Domain]; !ok {
			order = append(order, it.Domain)
		}
		byDomain[it.Domain] = append(byDomain[it.Domain], it)
	}
	for _, dom := range order {
		items := byDomain[dom]
		// Split a domain's entries over up to MaxPerDomain connections.
		for k := 0; len(items) > 0 && q.domain[dom] < q.o.MaxPerDomain && q.conns < q.o.MaxConnections; k++ {
			n := (len(items) + q.o.MaxPerDomain - q.domain[dom] - 1) / (q.o.MaxPerDomain - q.domain[dom])
			batch := items[:n]
			items = items[n:]
			for _, it := range batch {
				q.busy[it.ID] = true
			}
			q.conns++
			q.domain[dom]++
			q.wg.Add(1)
			go q.work(dom, batch)
		}
	}
	q.mu.Unlock()
}

// releaseUnstarted gives up the claims of the entries runDue claimed but
// started no worker for (the connection limit was reached).
func (q *Queue) releaseUnstarted(claimed []store.QueueItem) {
	var ids []int64
	q.mu.Lock()
	for _, it := range claimed {
		if !q.busy[it.ID] {
			ids = append(ids, it.ID)
		}
	}
	q.mu.Unlock()
	if len(ids) > 0 {
		if err := q.d.st.QueueRelease(q.ctx, q.o.Owner, ids); err != nil {
			q.log.Error("releasing queue claims", "err", err)
		}
	}
}

func (q *Queue) work(domain string, items []store.QueueItem) {
	defer func() {
		q.mu.Lock()
		for _, it := range items {
			q.finished = append(q.finished, it.ID)
		}
		q.conns--
		q.domain[domain]--
		q.mu.Unlock()
		q.wg.Done()
		q.Kick() // entries may be waiting for this connection slot
	}()
	// The claims are renewed while the work lasts; a lost one stops it.
	ctx, cancel := context.WithCancel(q.ctx)
	defer cancel()
	claims := &workClaims{open: map[int64]bool{}}
	for _, it := range items {
		claims.open[it.ID] = true
	}
	go q.renewClaims(ctx, cancel, claims)
	// Each entry's outcome is recorded as soon as it is known, so a crash
	// can repeat at most the deliveries of the moment.
	q.deliverDomain(ctx, domain, items, func(it store.QueueItem, res itemResult) {
		claims.close(it.ID)
		err := q.record(it, res)
		switch {
		case errors.Is(err, store.ErrLeaseLost):
			// Another node claimed the entry after our lease ended: the
			// entry is its now, and so is the result.
			q.log.Warn("queue entry's lease lost; result dropped", "queue_id", it.ID)
		case err != nil:
			q.log.Error("recording a delivery attempt", "queue_id", it.ID, "err", err)
		}
	})
	if ids := claims.left(); len(ids) > 0 {
		// Not attempted (the work was stopped, or the box is shutting
		// down): free for the next try, here or on another node.
		rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer rcancel()
		if err := q.d.st.QueueRelease(rctx, q.o.Owner, ids); err != nil {
			q.log.Error("releasing queue claims", "err", err)
		}
	}
}

// workClaims are the entries a worker holds and has not finished.
type workClaims struct {
	mu   sync.Mutex
	open map[int64]bool
}

func (c *workClaims) close(id int64) {
	c.mu.Lock()
	delete(c.open, id)
	c.mu.Unlock()
}

func (c *workClaims) left() []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]int64, 0, len(c.open))
	for id := range c.open {
		ids = append(ids, id)
	}
	return ids
}

// renewClaims extends a worker's claims every third of the lease until
// ctx ends. When one is lost (another node took it) or the lease would
// end before the next renewal, it stops the work (cancel): an entry is
// never knowingly delivered by two nodes.
func (q *Queue) renewClaims(ctx context.Context, cancel context.CancelFunc, c *workClaims) {
	t := time.NewTicker(q.o.Lease / 3)
	defer t.Stop()
	ends := time.Now().Add(q.o.Lease)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			ids := c.left()
			if len(ids) == 0 {
				return
			}
			lost, err := q.d.st.QueueExtend(ctx, q.o.Owner, ids, now.Add(q.o.Lease))
			switch {
			case err == nil && len(lost) == 0:
				ends = now.Add(q.o.Lease)
				continue
			case err == nil:
				q.log.Warn("queue entries' lease lost; stopping their delivery", "queue_ids", lost)
			case now.Add(q.o.Lease / 3).Before(ends):
				q.log.Warn("renewing queue claims", "err", err)
				continue
			default:
				q.log.Error("renewing queue claims failed; stopping the delivery", "err", err)
			}
			cancel()
			return
		}
	}
}

// rcptResult is what happened to one recipient.
type rcptResult struct {
	ok        bool
	permanent bool
	msg       string // the remote's reply or our reason
}

// itemResult maps recipients to their results.
type itemResult map[string]rcptResult

// record stores the outcome of an attempt and any bounce.
func (q *Queue) record(it store.QueueItem, res itemResult) error {
	now := q.o.now()
	var done, failed, delayed []string
	var failMsgs, lastErr []string
	expired := now.Sub(it.Created) >= q.o.Lifetime
	for _, r := range it.Recipients {
		rr, ok := res[r]
		if !ok {
			rr = rcptResult{msg: "not attempted"}
		}
		switch {
		case rr.ok:
			done = append(done, r)
			q.d.st.Record(store.EventSent) // the health history (store/history.go)
			q.log.Info("delivered", "queue_id", it.ID, "rcpt", r, "reply", rr.msg)
			q.d.metrics.Outbound(metrics.Delivered, r)
		case rr.permanent || expired:
			done = append(done, r)
			failed = append(failed, r)
			msg := rr.msg
			if !rr.permanent {
				msg = fmt.Sprintf("gave up after %s: %s", q.o.Lifetime.Round(time.Hour), rr.msg)
			}
			failMsgs = append(failMsgs, msg)
			q.log.Warn("delivery failed permanently", "queue_id", it.ID, "rcpt", r, "reply", msg)
			q.d.metrics.Outbound(metrics.Bounced, r)
		default:
			delayed = append(delayed, r)
			lastErr = append(lastErr, rr.msg)
			q.d.metrics.Outbound(metrics.Deferred, r)
		}
	}
	out := store.QueueOutcome{Done: done}
	if len(delayed) > 0 {
		wait := q.o.Retry[min(it.Attempts, len(q.o.Retry)-1)]
		out.NextAttempt = now.Add(wait)
		out.LastError = strings.Join(uniq(lastErr), "; ")
		q.log.Info("delivery deferred", "queue_id", it.ID, "rcpts", len(delayed), "retry_in", wait, "reply", out.LastError)
	}
	var bounce *bounceInfo
	if len(failed) > 0 {
		bounce = &bounceInfo{kind: bounceFailed, rcpts: failed, msgs: failMsgs}
	} else if len(delayed) > 0 && !it.Warned && q.o.DelayWarning > 0 && now.Sub(it.Created) >= q.o.DelayWarning {
		bounce = &bounceInfo{kind: bounceDelayed, rcpts: delayed, msgs: lastErr, retryUntil: it.Created.Add(q.o.Lifetime)}
		out.Warned = true
	}
	if bounce != nil && it.Sender != "" { // never bounce a bounce
		del, err := q.makeBounce(it, bounce)
		if err != nil {
			q.log.Error("making a bounce", "queue_id", it.ID, "err", err)
		} else {
			out.Bounce = del
		}
	}
	out.Owner = q.o.Owner
	return q.d.st.QueueResult(context.Background(), it.ID, out)
}

func uniq(l []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range l {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// Remove deletes a queue entry; unless silent, its sender gets a bounce.
func (q *Queue) Remove(ctx context.Context, id int64, silent bool) error {
	return removeQueued(ctx, q.d, q.o, id, silent)
}

func removeQueued(ctx context.Context, d *Deliverer, o QueueOptions, id int64, silent bool) error {
	it, err := d.st.QueueItemByID(ctx, id)
	if err != nil {
		return err
	}
	var bounce *store.Delivery
	if !silent && it.Sender != "" {
		q := &Queue{d: d, o: o, log: d.log}
		msgs := make([]string, len(it.Recipients))
		for i := range msgs {
			msgs[i] = "removed from the queue by the administrator; last error: " + it.LastError
		}
		bounce, err = q.makeBounce(it, &bounceInfo{kind: bounceFailed, rcpts: it.Recipients, msgs: msgs})
		if err != nil {
			return err
		}
	}
	return d.st.QueueRemove(ctx, id, bounce)
}

// RemoveQueued is the admin's "queue remove" when the server may not be
// running: it bounces (unless silent; from Options.Hostname, signed when
// Options.SignBounces) and deletes the entry.
func (d *Deliverer) RemoveQueued(ctx context.Context, id int64, silent bool) error {
	return removeQueued(ctx, d, QueueOptions{now: time.Now}, id, silent)
}

var errNoRoute = errors.New("no route")

// reportsDue says whether sendDailyReports has a day to report (the
// same test it makes), so the lease is asked for once a day only.
func (q *Queue) reportsDue() bool {
	yesterday := q.o.now().UTC().Add(-24 * time.Hour).Format(time.DateOnly)
	return q.reportedThrough != yesterday && q.o.Resolver != nil
}
