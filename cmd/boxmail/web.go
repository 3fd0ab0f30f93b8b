package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"os"

	"boxmail/internal/config"
	"boxmail/internal/delivery"
	"boxmail/internal/dnsrecords"
	"boxmail/internal/guard"
	"boxmail/internal/resolver"
	"boxmail/internal/store"
	"boxmail/internal/web"
)

// newWebServer builds the HTTPS server (and its plain-HTTP companion)
// from the config, the store and the running queue.
func newWebServer(dir string, cfg config.Config, st *store.Store, d *delivery.Deliverer, q *delivery.Queue, res resolver.Resolver, grd *guard.Guard, log *slog.Logger) *web.Server {
	svc := web.Services{IMAPS: cfg.IMAPSPort, IMAP: cfg.IMAPPort, Submission: cfg.SubmissionPort, Submissions: cfg.SubmissionsPort}
	svc.POP3S, svc.POP3, svc.POP3Built = cfg.POP3SPort, cfg.POP3Port, true
	svc.ManageSieve, svc.ManageSieveBuilt = cfg.Sieve.ManageSievePort, true
	var leaf *x509.Certificate
	if data, err := os.ReadFile(config.Path(dir, cfg.TLSCert)); err == nil {
		if b, _ := pem.Decode(data); b != nil {
			leaf, _ = x509.ParseCertificate(b.Bytes)
		}
	}
	cr := checkCert(dir, cfg)
	trusted := leaf != nil && len(cr) > 0 && cr[0].Level == dnsrecords.OK
	records := func(ctx context.Context) (*dnsrecords.Set, dnsrecords.Input, error) {
		return buildRecords(ctx, dir, st, cfg)
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
