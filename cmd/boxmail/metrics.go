package main

// The Prometheus metrics of 'boxmail serve' and 'boxmail quickstart':
// built when metrics_listen is set, fed by every server (through their
// Options) and served at /metrics on a listener of their own.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"syscall"
	"time"

	"boxmail/internal/backup"
	"boxmail/internal/certs"
	"boxmail/internal/config"
	"boxmail/internal/metrics"
	"boxmail/internal/store"
)

// quickstartMetricsAddr is where a new demo box serves its metrics.
const quickstartMetricsAddr = "127.0.0.1:9154"

// newMetrics builds the metrics when the config serves them; nil (count
// nothing) when metrics_listen is empty.
func newMetrics(cfg config.Config, log *slog.Logger) *metrics.Metrics {
	if cfg.MetricsListen == "" {
		return nil
	}
	return metrics.New(log)
}

// commitObserver is the store's OnCommit for m (nil: none).
func commitObserver(m *metrics.Metrics) func(int, time.Duration) {
	if m == nil {
		return nil
	}
	return m.StoreCommit
}

// readMetrics gives m the gauges read at scrape time: the queue, the
// last backup and the certificate's expiry.
func readMetrics(m *metrics.Metrics, dir string, st *store.Store, cm *certs.Manager) {
	m.Read(metrics.Sources{
		Queue: st.QueueStats,
		LastBackup: func() (time.Time, error) {
			s, err := backup.ReadStatus(context.Background(), st, dir)
			return s.LastOK, err
		},
		CertificateExpiry: func() (time.Time, bool) {
			leaf, _ := cm.Leaf()
			if leaf == nil {
				return time.Time{}, false
			}
			return leaf.NotAfter, true
		},
	})
}

// listenMetrics opens the metrics listener (when m is on) and adds it to
// the servers serve runs; on failure it closes the others' listeners.
func listenMetrics(cfg config.Config, m *metrics.Metrics, rs []running, addrs map[string]string) ([]running, error) {
	if m == nil {
		return rs, nil
	}
	ln, err := net.Listen("tcp", cfg.MetricsListen)
	if err != nil {
		for _, r := range rs {
			_ = r.ln.Close() // never served: nothing to flush
		}
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("metrics: %s is already in use by another program (another boxmail?): choose another with --metrics-port or metrics_listen in boxmail.conf (empty: off)", cfg.MetricsListen)
		}
		return nil, fmt.Errorf("metrics: %w", err)
	}
	addrs["metrics"] = "http://" + ln.Addr().String() + "/metrics"
	return append(rs, running{listener{name: "metrics", srv: m}, ln}), nil
}

// registerMetricsPort adds --metrics-port to serve's and quickstart's
// flags: the port of metrics_listen (0: off).
func (p portFlags) registerMetricsPort(fs *flag.FlagSet) {
	fs.Func("metrics-port", "Prometheus /metrics port (`N`, on the metrics_listen address, loopback by default; 0 turns it off; default: as in boxmail.conf)", func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 65535 {
			return fmt.Errorf("a port is a number from 0 to 65535, not %q", v)
		}
		p["metrics"] = n
		return nil
	})
}

// applyMetricsPort sets metrics_listen from --metrics-port: its address
// (loopback when unset) with the flag's port.
func (p portFlags) applyMetricsPort(c *config.Config) {
	n, ok := p["metrics"]
	if !ok {
		return
	}
	if n == 0 {
		c.MetricsListen = ""
		return
	}
	host := "127.0.0.1"
	if h, _, err := net.SplitHostPort(c.MetricsListen); err == nil {
		host = h
	}
	c.MetricsListen = net.JoinHostPort(host, strconv.Itoa(n))
}

// The metrics listener is one more server of serve's.
var _ server = (*metrics.Metrics)(nil)
