package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"os"
	"regexp"
	"strconv"

	"boxmail/internal/config"
	"boxmail/internal/delivery"
	"boxmail/internal/dnsrecords"
	"boxmail/internal/guard"
	"boxmail/internal/resolver"
	"boxmail/internal/store"
	"boxmail/internal/web"
)

// configPort reads a port setting by its key from the config's own
// rendering, so the web pages show POP3 and ManageSieve as soon as the
// config has them, without naming fields that may not exist yet.
func configPort(cfg config.Config, key string) (port int, known bool) {
	m := regexp.MustCompile(`(?m)^` + key + ` = (\d+)$`).FindSubmatch(cfg.Format())
	if m == nil {
		return 0, false
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n, true
}

// newWebServer builds the HTTPS server (and its plain-HTTP companion)
// from the config, the store and the running queue.
func newWebServer(dir string, cfg config.Config, st *store.Store, d *delivery.Deliverer, q *delivery.Queue, res resolver.Resolver, grd *guard.Guard, log *slog.Logger) *web.Server {
	svc := web.Services{IMAPS: cfg.IMAPSPort, IMAP: cfg.IMAPPort, Submission: cfg.SubmissionPort, Submissions: cfg.SubmissionsPort}
	svc.POP3S, svc.POP3Built = configPort(cfg, "pop3s_port")
	svc.POP3, _ = configPort(cfg, "pop3_port")
	svc.ManageSieve, svc.ManageSieveBuilt = configPort(cfg, "managesieve_port")
	var leaf *x509.Certificate
	if data, err := os.ReadFile(config.Path(dir, cfg.TLSCert)); err == nil {
		if b, _ := pem.Decode(data); b != nil {
			leaf, _ = x509.ParseCertificate(b.Bytes)
		}
	}
	cr := checkCert(dir, cfg)
	trusted := leaf != nil && len(cr) > 0 && cr[0].Level == dnsrecords.OK
	records := func(ctx context.Context) (*dnsrecords.Set, dnsrecords.Input, error) {
		in, err := recordInput(ctx, dir, st, cfg)
		if err != nil {
			return nil, in, err
		}
		in.POP3S = svc.POP3S
		set, err := dnsrecords.Build(in)
		return set, in, err
	}
	return web.New(web.Options{
		Store: st, Deliverer: d, Queue: q, Logger: log, Hostname: cfg.Hostname, Services: svc, HTTPSPort: cfg.HTTPSPort, Guard: grd,
		Records: func(ctx context.Context) (*dnsrecords.Set, error) {
			set, _, err := records(ctx)
			return set, err
		},
		Status: func(ctx context.Context) ([]dnsrecords.Result, error) {
			set, in, err := records(ctx)
			if err != nil {
				return nil, err
			}
			out := dnsrecords.Check(ctx, res, set, in, dnsrecords.CheckOptions{Host: true, DNSBL: cfg.DNSBL})
			return append(out, checkCert(dir, cfg)...), nil
		},
		NewDomainKeys: newDomainKeys,
		// The certificate is loaded once at start, like the TLS config.
		Certificate: func() (*x509.Certificate, bool) { return leaf, trusted },
	})
}
