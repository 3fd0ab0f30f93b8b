// Package metrics holds the box's Prometheus metrics: the counters,
// gauges and histograms the servers update as they work, the gauges read
// from the store at scrape time (queue, backup, certificate), and the
// /metrics handler and listener that serve them in Prometheus's text
// format.
//
// It is for numbers a monitoring system scrapes. It is not a history
// (the dashboard's round-robin history lives elsewhere), not a health
// check, and never labels anything by user, address or client IP: every
// label has a small fixed set of values, so the scrape stays cheap.
//
// There is no global registry. cmd/boxmail builds one *Metrics and hands
// it to the servers through their Options; every method is safe on a nil
// *Metrics, which counts nothing, so tests that do not care pass nil.
//
// Names follow Prometheus's conventions: a boxmail_ prefix, base units
// (seconds, bytes), _total on counters.
package metrics

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Results of a received message (boxmail_messages_received_total).
const (
	Accepted = "accepted" // committed: the client got 250
	Rejected = "rejected" // refused for good (5xx)
	Deferred = "deferred" // refused for now (4xx)
)

// Results of an outbound delivery to one recipient
// (boxmail_outbound_deliveries_total).
const (
	Delivered = "delivered"
	Bounced   = "bounced"
	// Deferred, as above: the recipient stays queued.
)

// Protocols label sessions and logins.
var protocols = []string{"smtp", "submission", "imap", "pop3"}

// Metrics is the box's metrics registry. The zero value is not usable:
// build one with New. A nil *Metrics ignores every call.
type Metrics struct {
	reg        *prometheus.Registry
	received   *prometheus.CounterVec
	outbound   *prometheus.CounterVec
	spam       *prometheus.CounterVec
	logins     *prometheus.CounterVec
	blocks     prometheus.Counter
	sessions   *prometheus.GaugeVec
	idle       prometheus.Gauge
	dns        *prometheus.CounterVec
	batch      prometheus.Histogram
	commitTime prometheus.Histogram
	log        *slog.Logger
	srv        *http.Server
}

// New builds the registry with every metric at zero (each known label
// value too, so that rate() and increase() see a series from the start),
// and Go's runtime and process metrics.
func New(log *slog.Logger) *Metrics {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{reg: prometheus.NewRegistry(), log: log}
	m.received = m.counterVec("boxmail_messages_received_total", "Messages received over SMTP (inbound and submission), by result of the DATA command.", "result", Accepted, Rejected, Deferred)
	m.outbound = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "boxmail_outbound_deliveries_total",
		Help: "Outbound delivery attempts, per recipient, by result and by the recipient domain's class (the big providers by name, else other)."}, []string{"result", "class"})
	for _, r := range []string{Delivered, Deferred, Bounced} {
		for _, c := range domainClasses {
			m.outbound.WithLabelValues(r, c)
		}
	}
	m.reg.MustRegister(m.outbound)
	m.spam = m.counterVec("boxmail_spam_verdicts_total", "Spam filter verdicts on inbound mail.", "verdict", "inbox", "junk", "reject")
	m.dns = m.counterVec("boxmail_dns_queries_total", "Queries answered by the authoritative DNS server, by response code.", "rcode", "NOERROR", "NXDOMAIN", "REFUSED", "SERVFAIL", "FORMERR", "NOTIMP")
	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "boxmail_logins_total", Help: "Login attempts, by protocol and result (ok, failed)."}, []string{"protocol", "result"})
	m.sessions = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "boxmail_sessions_open", Help: "Client sessions open now, by protocol."}, []string{"protocol"})
	for _, p := range protocols {
		m.logins.WithLabelValues(p, "ok")
		m.logins.WithLabelValues(p, "failed")
		m.sessions.WithLabelValues(p)
	}
	m.blocks = prometheus.NewCounter(prometheus.CounterOpts{Name: "boxmail_guard_blocks_total", Help: "Client networks blocked by the login limiter after too many failed logins."})
	m.idle = prometheus.NewGauge(prometheus.GaugeOpts{Name: "boxmail_imap_idle_connections", Help: "IMAP connections in IDLE now."})
	m.batch = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "boxmail_store_commit_batch_size", Help: "Write functions per group commit of the store.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256}})
	m.commitTime = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "boxmail_store_commit_seconds", Help: "Time of a group commit's COMMIT, which fsyncs the write-ahead log.",
		Buckets: []float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1}})
	m.reg.MustRegister(m.logins, m.sessions, m.blocks, m.idle, m.batch, m.commitTime,
		collectors.NewGoCollector(), newProcessCollector())
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	m.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	return m
}

// counterVec registers a counter with one label and creates its series
// for each known value.
func (m *Metrics) counterVec(name, help, label string, values ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label})
	for _, v := range values {
		c.WithLabelValues(v)
	}
	m.reg.MustRegister(c)
	return c
}

// Sources are what the gauges read at scrape time; a nil one is not
// exported. Each must be cheap (an indexed query, a small file): a
// scrape should cost well under a millisecond.
type Sources struct {
	// Queue returns the outbound queue's entries and when the oldest was
	// queued (zero when empty).
	Queue func(ctx context.Context) (n int64, oldest time.Time, err error)
	// LastBackup returns when the last backup run stored its snapshot
	// (zero: never, or not set up).
	LastBackup func() (time.Time, error)
	// CertificateExpiry returns when the certificate served for the
	// box's hostname expires (ok false: none loaded).
	CertificateExpiry func() (t time.Time, ok bool)
}

// Read registers the gauges of s. Call it once, before Serve.
func (m *Metrics) Read(s Sources) {
	if m == nil {
		return
	}
	if s.Queue != nil {
		m.reg.MustRegister(&queueCollector{read: s.Queue, log: m.log})
	}
	if s.LastBackup != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "boxmail_backup_age_seconds",
			Help: "Seconds since the last backup that stored its snapshot; +Inf when there is none."}, func() float64 {
			t, err := s.LastBackup()
			if err != nil || t.IsZero() {
				return math.Inf(1)
			}
			return time.Since(t).Seconds()
		}))
	}
	if s.CertificateExpiry != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "boxmail_tls_certificate_expiry_seconds",
			Help: "Seconds until the certificate served for the hostname expires (divide by 86400 for days); negative once expired."}, func() float64 {
			t, ok := s.CertificateExpiry()
			if !ok {
				return math.NaN()
			}
			return time.Until(t).Seconds()
		}))
	}
}

// queueCollector reads the queue once per scrape for both its gauges.
type queueCollector struct {
	read func(ctx context.Context) (int64, time.Time, error)
	log  *slog.Logger
}

var (
	queueSizeDesc = prometheus.NewDesc("boxmail_queue_messages", "Entries in the outbound queue (one per message and recipient domain).", nil, nil)
	queueAgeDesc  = prometheus.NewDesc("boxmail_queue_oldest_age_seconds", "Age of the oldest entry in the outbound queue; 0 when it is empty.", nil, nil)
)

func (q *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueSizeDesc
	ch <- queueAgeDesc
}

func (q *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, oldest, err := q.read(ctx)
	if err != nil {
		q.log.Warn("metrics: reading the queue", "err", err)
		ch <- prometheus.NewInvalidMetric(queueSizeDesc, err)
		return
	}
	age := 0.0
	if !oldest.IsZero() {
		age = max(time.Since(oldest).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(queueSizeDesc, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(queueAgeDesc, prometheus.GaugeValue, age)
}

// Handler serves the metrics in Prometheus's text format, uncompressed
// (the listener is on loopback) and in one write with a Content-Length,
// so a scrape costs one write system call instead of one per 4 KiB.
func (m *Metrics) Handler() http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{DisableCompression: true, ErrorLog: slog.NewLogLogger(m.log.Handler(), slog.LevelWarn)})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := bufPool.Get().(*bufferedResponse)
		b.ResponseWriter, b.status = w, 0
		b.buf.Reset()
		h.ServeHTTP(b, r)
		w.Header().Set("Content-Length", strconv.Itoa(b.buf.Len()))
		if b.status != 0 {
			w.WriteHeader(b.status)
		}
		if _, err := w.Write(b.buf.Bytes()); err != nil {
			m.log.Debug("metrics: writing a scrape", "err", err)
		}
		b.ResponseWriter = nil
		bufPool.Put(b)
	})
}

// bufferedResponse holds a scrape's answer until it is complete.
type bufferedResponse struct {
	http.ResponseWriter
	buf    bytes.Buffer
	status int
}

func (b *bufferedResponse) WriteHeader(code int)        { b.status = code }
func (b *bufferedResponse) Write(p []byte) (int, error) { return b.buf.Write(p) }

var bufPool = sync.Pool{New: func() any { return new(bufferedResponse) }}

// Serve answers /metrics on ln until Shutdown (the box's server shape).
func (m *Metrics) Serve(ln net.Listener) error {
	err := m.srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops Serve.
func (m *Metrics) Shutdown(ctx context.Context) error {
	return m.srv.Shutdown(ctx)
}
